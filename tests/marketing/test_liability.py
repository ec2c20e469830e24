"""Points liability as of past days (docs/marketing.md) against a plain-Python FIFO over the same ledger.

A generated log of sales (some refunded later, partly or beyond their points), campaign bonuses, redemptions,
adjustments both ways, written expiry from the day's pass and members spent down to 0: the report's figures
(month summary + exact path for refunded members) must equal lot-by-lot FIFO computed here from the rules'
words, on several days. The month summary the trigger keeps must equal a rebuild from the ledger.
"""

from __future__ import annotations

import json
import random
from calendar import monthrange
from collections import defaultdict
from datetime import date, timedelta

import pytest

from pos_client.cli.main import main
from pos_client.services.marketing import expiry, liability
from pos_client.services.marketing.reports import run_report
from pos_client.store import ledger, point_months
from tests.marketing.helpers import new_member

# Month ends with the cutoff at a month end (no ledger row read), days early and late in a month (the part
# before or after the day read from the ledger), and a cutoff on the day before a month's last.
DAYS = ("2025-03-31", "2025-06-15", "2025-12-31", "2026-01-15", "2026-02-28", "2026-03-01", "2026-05-20",
        "2026-07-31", "2026-04-02", "2026-04-29", "2026-03-30", "2026-06-30")


def months_before(day: date, months: int = 12) -> date:
    """The cutoff `months` back, clamped to the month's last day (a lot dated on it is due by `day`)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def reference(rows: list[tuple[str, str, int, str | None, str]], day: date, months: int = 12) -> dict[str, int]:
    """Per member: the lots left after spending and written expiry took the oldest first, dated after the
    cutoff (a lot dated on or before it is due by `day`). A sale's earn, bonus and reversals are one lot."""
    cutoff = months_before(day, months).isoformat()
    lots: dict[str, dict[object, list]] = defaultdict(dict)  # member -> key -> [day, points]
    used: dict[str, int] = defaultdict(int)
    for member, kind, points, sale_id, created in rows:
        d = created[:10]
        if d > day.isoformat():
            continue
        if kind == "expire":
            used[member] -= points
        elif sale_id is not None and kind in ("earn", "bonus", "reverse"):
            lot = lots[member].setdefault(("sale", sale_id), [d, 0])
            lot[0] = min(lot[0], d)
            lot[1] += points
        else:
            lots[member][object()] = [d, points]
    out = {}
    for member, by_key in lots.items():
        spend = used[member] - sum(p for _, p in by_key.values() if p < 0)
        held = 0
        for d, p in sorted((lot for lot in by_key.values() if lot[1] > 0), key=lambda lot: lot[0]):
            take = min(p, spend)
            spend -= take
            if d > cutoff:
                held += p - take
        if held > 0:
            out[member] = held
    return out


def at(day: date, hour: int = 12) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+00:00"


def write_log(ctx, members: int, seed: int) -> list[str]:
    """A random two-year log; returns the member ids (some end at 0 points, some refunded)."""
    rng = random.Random(seed)
    ids = [new_member(ctx)[0] for _ in range(members)]
    start = date(2024, 9, 1)
    for i, m in enumerate(ids):
        balance = 0
        sales: list[tuple[str, int, date]] = []
        day = start + timedelta(days=rng.randrange(60))
        while day < date(2026, 7, 25):
            r = rng.randrange(20)
            if r < 11:
                sid = ledger.new_id()
                pts = rng.randint(1, 300)
                entries = [ledger.Entry(m, "earn", pts, sale_id=sid, created_at=at(day))]
                if r == 0:  # a tier bonus written with the sale
                    entries.append(ledger.Entry(m, "bonus", pts // 2, sale_id=sid, created_at=at(day)))
                ledger.append(ctx.conn, ctx.store_id, ctx.till_id, entries)
                balance += sum(e.points for e in entries)
                sales.append((sid, sum(e.points for e in entries), day))
            elif r < 13 and sales and i % 4 == 0:  # a refund's reversal, later (at times beyond the sale's points)
                sid, pts, _ = sales[rng.randrange(len(sales))]
                back = rng.randint(1, pts + 40) if rng.randrange(4) == 0 else rng.randint(1, pts)
                ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                    m, "reverse", -back, sale_id=sid, created_at=at(day, 15))])
                balance -= back
            elif r < 15 and balance > 0:
                spend = balance if rng.randrange(3) == 0 else rng.randint(1, balance)  # sometimes down to 0
                ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                    m, "redeem", -spend, created_at=at(day, 16))])
                balance -= spend
            elif r == 15:
                pts = rng.randint(-30, 80) or 1
                ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                    m, "adjust" if pts < 0 or rng.randrange(2) else "bonus", pts, created_at=at(day, 9))])
                balance += pts
            day += timedelta(days=rng.randint(1, 45 if i % 3 else 110))
    return ids


def ledger_rows(ctx) -> list[tuple[str, str, int, str | None, str]]:
    return [tuple(r) for r in ctx.conn.execute(
        "SELECT member_id, kind, points, sale_id, created_at FROM ledger ORDER BY rowid")]


@pytest.fixture
def logged(make_ctx):
    ctx = make_ctx()
    write_log(ctx, 60, seed=11)
    for day in ("2025-06-30", "2025-12-31", "2026-03-31"):  # the day's pass wrote some expiry, not all of it
        expiry.run_expiry(ctx, day)
    return ctx


def test_liability_on_past_days_is_the_fifo_of_the_rules(logged):
    rows = ledger_rows(logged)
    assert any(k == "expire" for _, k, *_ in rows) and any(k == "reverse" for _, k, *_ in rows)
    assert logged.conn.execute("SELECT COUNT(*) FROM point_irregular").fetchone()[0] > 0
    zero_today = {r[0] for r in logged.conn.execute("SELECT member_id FROM balances WHERE points = 0")}
    assert zero_today
    for day in DAYS:
        want = reference(rows, date.fromisoformat(day))
        assert liability.liability_as_of(logged, day) == want, day
        summary = run_report(logged, "points-liability", end=day)["summary"]
        assert (summary["members"], summary["points"]) == (len(want), sum(want.values())), day
    # a member at 0 today held points on a past day, and the expiry due then still came off
    assert any(m in reference(rows, date.fromisoformat(d)) for d in DAYS for m in zero_today)


def test_a_store_counts_its_own_members_only(logged):
    """The store filter on every path: whole months, part months, members whose lots need the ledger."""
    with logged.conn:
        logged.conn.execute("UPDATE members SET store_id = 'S9' WHERE rowid % 3 = 0")
    stores = dict(logged.conn.execute("SELECT member_id, store_id FROM members"))
    assert {stores[m] for (m,) in logged.conn.execute("SELECT member_id FROM point_irregular")} == {"S9", "S1"}
    rows = ledger_rows(logged)
    for day in ("2025-12-31", "2026-04-02", "2026-04-29", "2026-07-31"):
        want = reference(rows, date.fromisoformat(day))
        for store in ("S9", logged.store_id):
            mine = {m: p for m, p in want.items() if stores[m] == store}
            assert liability.liability_as_of(logged, day, store) == mine, (day, store)
            assert liability.totals(logged, day, store) == (len(mine), sum(mine.values())), (day, store)


def test_a_short_expiry_window_is_the_fifo_of_the_rules(make_ctx):
    """Three months: the window's whole months can be none at all, only the part months' ledger rows."""
    ctx = make_ctx({"expiry": {"months": 3}})
    write_log(ctx, 30, seed=7)
    expiry.run_expiry(ctx, "2025-12-31")
    rows = ledger_rows(ctx)
    for day in ("2025-11-30", "2026-01-02", "2026-02-14", "2026-02-27", "2026-03-31", "2026-05-16"):
        assert liability.liability_as_of(ctx, day) == reference(rows, date.fromisoformat(day), 3), day


@pytest.mark.parametrize(("day", "months", "upto", "lo", "parts"), [
    ("2026-10-31", 12, "2026-10", "2025-11", []),  # both ends at a month's end: no ledger row
    ("2024-02-29", 12, "2024-02", "2023-03", []),  # cutoff clamped to 28 Feb 2023, a month end
    ("2026-03-15", 12, "2026-02", "2025-03",
     [("2026-03-01", "2026-03-16", 1, 1), ("2025-03-01", "2025-03-16", 0, -1)]),
    ("2026-03-20", 12, "2026-03", "2025-04",
     [("2026-03-21", "2026-04-01", -1, -1), ("2025-03-21", "2025-04-01", 0, 1)]),
    ("2026-12-02", 1, "2026-11", "2026-11", [("2026-12-01", "2026-12-03", 1, 1), ("2026-11-01", "2026-11-03", 0, -1)]),
    ("2026-12-30", 1, "2026-12", "2026-12", [("2026-12-31", "2027-01-01", -1, -1)]),  # cutoff 30 Nov: a month end
])
def test_the_plan_reads_the_smaller_part_of_each_end_month(day, months, upto, lo, parts):
    p = liability.plan(date.fromisoformat(day), months)
    assert (p.upto, p.lo) == (upto, lo)
    assert [(a.isoformat(), b.isoformat(), n, g) for a, b, n, g in p.parts] == parts


def test_the_month_summary_is_what_a_rebuild_from_the_ledger_makes(logged):
    assert point_months.differences(logged.conn) == []
    before = logged.conn.execute("SELECT * FROM point_months ORDER BY member_id, month").fetchall()
    irregular = logged.conn.execute("SELECT * FROM point_irregular ORDER BY member_id").fetchall()
    with logged.conn:
        point_months.rebuild(logged.conn)
    assert logged.conn.execute("SELECT * FROM point_months ORDER BY member_id, month").fetchall() == before
    assert logged.conn.execute("SELECT * FROM point_irregular ORDER BY member_id").fetchall() == irregular


def test_a_member_at_zero_today_still_has_the_expiry_due_then_taken_off(ctx):
    m, _ = new_member(ctx)
    sid = ledger.new_id()
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(m, "earn", 100, sale_id=sid,
                                                                     created_at="2025-01-10T12:00:00+00:00")])
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(m, "earn", 30, sale_id=ledger.new_id(),
                                                                     created_at="2025-11-10T12:00:00+00:00")])
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(m, "redeem", -130,
                                                                     created_at="2026-03-02T12:00:00+00:00")])
    assert ledger.balance(ctx.conn, m) == 0
    assert liability.liability_as_of(ctx, "2026-01-09") == {m: 130}
    assert liability.liability_as_of(ctx, "2026-01-10") == {m: 30}  # the 100 were due, unwritten
    assert liability.liability_as_of(ctx, "2026-03-02") == {}


def test_a_refund_dated_after_the_day_does_not_count_and_one_before_it_does(ctx):
    m, _ = new_member(ctx)
    sid = ledger.new_id()
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(m, "earn", 100, sale_id=sid,
                                                                     created_at="2026-01-10T12:00:00+00:00")])
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(m, "reverse", -60, sale_id=sid,
                                                                     created_at="2026-02-03T12:00:00+00:00")])
    assert liability.liability_as_of(ctx, "2026-02-02") == {m: 100}
    assert liability.liability_as_of(ctx, "2026-02-03") == {m: 40}
    assert liability.liability_as_of(ctx, "2027-01-09") == {m: 40}
    assert liability.liability_as_of(ctx, "2027-01-10") == {}  # the sale's lot, dated on the sale's day


def test_doctor_full_finds_a_summary_that_differs_and_upkeep_makes_it_again(logged, tmp_path, capsys):
    home = tmp_path / "till"  # the `make_ctx` home `logged` was opened on
    with logged.conn:  # derived data, not the ledger: a damaged summary, as a bad restore could leave it
        logged.conn.execute("DELETE FROM point_months WHERE member_id = (SELECT MIN(member_id) FROM point_months)")

    def doctor() -> dict:
        assert main(["doctor", "--home", str(home), "--json", "--offline", "--full"]) in (0, 1)
        return {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}

    check = doctor()["points summary"]
    assert check["status"] == "warn" and "--rebuild-summary" in check["fix"]
    assert main(["upkeep", "--home", str(home), "--rebuild-summary"]) == 0
    capsys.readouterr()
    assert doctor()["points summary"]["status"] == "ok"
    assert point_months.differences(logged.conn) == []


def test_part_months_are_read_from_the_covering_index_alone(logged):
    """m0480: at chain scale each part-month row read from the table was a page read of its own."""
    params: dict[str, str | int | None] = {}
    sql = liability._parts(liability.plan(date(2026, 3, 15), 12).parts, params)
    steps = [r[3] for r in logged.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    reads = [s for s in steps if "ledger" in s]
    assert len(reads) == 2 and all("COVERING INDEX idx_ledger_created" in s for s in reads), steps

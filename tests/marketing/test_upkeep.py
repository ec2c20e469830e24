"""The day's upkeep: every missed day in order, once; downgrades only at a review period's end;
idempotent; `pos-client upkeep`; the app's scheduler; liability as of a day counts the expiry due."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic

import pytest

from pos_client.cli.main import main
from pos_client.services.marketing import liability, tiers, upkeep
from pos_client.services.marketing.reports import run_report
from pos_client.store import integrity, ledger
from pos_client.till import context_opener
from pos_client.till.periodic import Periodic
from pos_client.till.scheduler import UpkeepScheduler, due_through
from tests.marketing.helpers import new_member, sell


def _dump(ctx) -> dict[str, list[tuple]]:
    return {t: [tuple(r) for r in ctx.conn.execute(f"SELECT * FROM {t} ORDER BY rowid")]
            for t in ("ledger", "balances", "member_tiers", "member_stages", "upkeep_runs")}


@pytest.mark.parametrize(("period", "ends"), [
    ("quarter", {"2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31"}),
    ("month", {f"2025-{m:02d}-{d}" for m, d in [(1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30), (7, 31),
                                                  (8, 31), (9, 30), (10, 31), (11, 30), (12, 31)]}),
    ("half", {"2025-06-30", "2025-12-31"}),
    ("year", {"2025-12-31"}),
])
def test_review_days_are_the_last_days_of_each_calendar_period(period, ends):
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(365)]
    assert {d.isoformat() for d in days if tiers.is_review_day(d, period)} == ends


def test_downgrade_waits_for_the_quarter_end_and_running_twice_changes_nothing(ctx):
    mid, _ = new_member(ctx)
    sell(ctx, mid, 60000, "2025-01-10")  # 600.00: Silver on that sale
    sell(ctx, mid, 1000, "2025-11-20")
    assert tiers.tier_at(ctx, mid, "2025-01-10") == "Silver"
    # The 600.00 leaves the 12-month window on 2026-01-11; the quarter ends on 2026-03-31.
    ran = upkeep.catch_up(ctx, "2026-04-02")
    assert ran[0].day == "2025-01-10" and ran[-1].day == "2026-04-02"
    assert len(ran) == (date(2026, 4, 2) - date(2025, 1, 10)).days + 1
    rows = [tuple(r) for r in ctx.conn.execute(
        "SELECT prev_tier, tier, since, reason FROM member_tiers WHERE member_id = ? ORDER BY rowid", (mid,))]
    assert rows == [("Member", "Silver", "2025-01-10", "upgrade"), ("Silver", "Member", "2026-03-31", "downgrade")]
    assert tiers.tier_at(ctx, mid, "2026-03-30") == "Silver"
    assert [r.tier_changes for r in ran if r.day == "2026-03-31"] == [1]
    # 600 + 10 points earned (Silver bonus 25%: 150 on the first sale, 2 on the second); 750 expire on
    # 2026-01-10 (12 months after), 12 on 2026-11-20 (not yet).
    assert ledger.balance(ctx.conn, mid) == 12
    before = _dump(ctx)
    assert upkeep.catch_up(ctx, "2026-04-02") == []
    assert upkeep.run_day(ctx, "2026-03-31").source == "already done"
    assert _dump(ctx) == before


def test_a_till_off_for_a_week_catches_up_every_day_in_order(ctx):
    mid, _ = new_member(ctx)
    sell(ctx, mid, 5000, "2025-06-01")
    upkeep.catch_up(ctx, "2025-06-03")
    assert upkeep.last_run(ctx) == date(2025, 6, 3)
    assert upkeep.pending_days(ctx, "2025-06-10") == [date(2025, 6, d) for d in range(4, 11)]
    seen = []
    upkeep.catch_up(ctx, "2025-06-10", progress=lambda done, total, day: seen.append((done, total, day.day)))
    assert seen == [(i + 1, 7, d) for i, d in enumerate(range(4, 11))]
    runs = [r[0] for r in ctx.conn.execute("SELECT day FROM upkeep_runs ORDER BY rowid")]
    assert runs == sorted(runs) and len(runs) == 10
    st = upkeep.status(ctx)
    assert st["last_day"] == "2025-06-10" and st["review_period"] == "quarter" and len(st["runs"]) == 10


def test_lifecycle_stages_are_recorded_by_the_upkeep_on_the_day_they_change(ctx):
    mid, _ = new_member(ctx)
    sell(ctx, mid, 5000, "2025-01-01")
    upkeep.catch_up(ctx, "2025-08-01")
    rows = [tuple(r) for r in ctx.conn.execute(
        "SELECT stage, since FROM member_stages WHERE member_id = ? ORDER BY rowid", (mid,))]
    # new while D - d1 <= 30; one purchase: at risk once r > 45; lapsed once r > 180 (docs/marketing.md).
    assert rows == [("new", "2025-01-01"), ("active", "2025-02-01"), ("at_risk", "2025-02-16"),
                    ("lapsed", "2025-07-01")]


def test_liability_as_of_a_day_counts_the_expiry_due_by_then(make_ctx):
    ctx = make_ctx({"tiers": [{"name": "Member", "min_spend_cents": 0, "multiplier_pct": 100}]})
    a, _ = new_member(ctx)
    b, _ = new_member(ctx)
    sell(ctx, a, 10000, "2025-01-15")  # 100 points, expire 2026-01-15
    sell(ctx, a, 3000, "2025-09-01")  # 30 points
    sell(ctx, b, 2000, "2025-03-01")  # 20 points, expire 2026-03-01
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
        member_id=a, kind="redeem", points=-40, created_at="2025-10-01T10:00:00+00:00")])  # eats the oldest
    # No upkeep has run: the report still takes off what was due.
    assert liability.liability_as_of(ctx, "2026-01-14") == {a: 90, b: 20}
    assert liability.liability_as_of(ctx, "2026-01-15") == {a: 30, b: 20}
    assert liability.liability_as_of(ctx, "2026-03-01") == {a: 30}
    assert run_report(ctx, "points-liability", end="2026-01-15")["summary"]["points"] == 50
    upkeep.catch_up(ctx, "2026-03-01")  # once written, the same figures
    assert liability.liability_as_of(ctx, "2026-01-15") == {a: 30, b: 20}
    assert liability.liability_as_of(ctx, "2025-12-31") == {a: 90, b: 20}


def test_cli_upkeep_and_status(ctx, capsys):
    mid, _ = new_member(ctx)
    sell(ctx, mid, 5000, "2025-06-01")
    home = str(ctx.home)
    assert main(["upkeep", "--as-of", "2025-06-05", "--json", "--home", home]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [d["day"] for d in out["days"]] == [f"2025-06-0{i}" for i in range(1, 6)]
    assert main(["upkeep", "--as-of", "2025-06-05", "--home", home]) == 0
    assert "already done through 2025-06-05" in capsys.readouterr().out
    assert main(["upkeep", "--status", "--home", home]) == 0
    text = capsys.readouterr().out
    assert "last day done: 2025-06-05" in text and "2025-06-01" in text
    assert main(["upkeep", "--as-of", "06/05/2025", "--home", home]) == 2


def test_due_through_is_yesterday_until_closing_time():
    closing = time(21, 0)
    assert due_through(datetime(2026, 5, 4, 20, 59, tzinfo=UTC), closing) == date(2026, 5, 3)
    assert due_through(datetime(2026, 5, 4, 21, 0, tzinfo=UTC), closing) == date(2026, 5, 4)


def test_the_scheduler_thread_catches_up_and_runs_again_at_closing_time(ctx):
    mid, _ = new_member(ctx)
    sell(ctx, mid, 5000, "2025-06-01")
    now = [datetime(2025, 6, 8, 9, 0, tzinfo=UTC)]
    said: list[str] = []
    sched = UpkeepScheduler(context_opener(ctx), closing=time(21, 0), tick=0.05, status=said.append,
                            clock=lambda: now[0]).start()
    try:
        assert sched.idle.wait(20)
        assert upkeep.last_run(ctx) == date(2025, 6, 7)  # a new day: everything up to yesterday
        assert any(s.startswith("catching up") for s in said) and said[-1] == "done through 2025-06-07"
        sched.idle.clear()
        now[0] = datetime(2025, 6, 8, 21, 0, 1, tzinfo=UTC)  # closing time: today's upkeep
        assert sched.idle.wait(20)
        assert upkeep.last_run(ctx) == date(2025, 6, 8)
    finally:
        sched.stop()


def test_closing_the_app_interrupts_long_background_work_instead_of_waiting_for_it(ctx, tmp_path, caplog):
    """Periodic.stop: work still running after the grace (a full integrity check of a large database takes
    minutes) is interrupted on the thread's own connection; the thread ends at once and the till is not marked
    damaged (an interrupt is not damage), nor is a close logged as a failure with a traceback."""
    started = threading.Event()

    class Slow(Periodic):
        NAME = "slow-test"

        def run_once(self, ctx) -> None:
            started.set()
            ctx.conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000)"
                             " SELECT COUNT(*) FROM n").fetchone()

    said: list[str] = []
    worker = Slow(context_opener(ctx), tick=60, status=said.append).start()
    assert started.wait(10)
    t0 = monotonic()
    with caplog.at_level(logging.INFO, logger="pos_client.till.periodic"):
        worker.stop(timeout=10, grace=0.2)
    assert monotonic() - t0 < 3 and worker._thread is not None and not worker._thread.is_alive()
    assert worker.error is None and said == []
    records = [r for r in caplog.records if r.name == "pos_client.till.periodic"]
    assert [r.levelno for r in records] == [logging.INFO] and "stopped at close" in records[0].getMessage()
    assert integrity.stopped(Path(ctx.home) / "till.db") is None


def test_first_day_is_the_day_of_the_earliest_member_sale_or_entry(ctx):
    assert upkeep.first_day(ctx) is None or upkeep.first_day(ctx) <= date.today()
    mid, _ = new_member(ctx)
    ctx.conn.execute("UPDATE members SET created_at = '2025-07-04T23:59:59+00:00' WHERE member_id = ?", (mid,))
    sell(ctx, mid, 5000, "2025-08-01")
    assert upkeep.first_day(ctx) == date(2025, 7, 4)
    sell(ctx, mid, 5000, "2025-06-30")
    assert upkeep.first_day(ctx) == date(2025, 6, 30)
    assert upkeep.pending_days(ctx, "2025-07-01") == [date(2025, 6, 30), date(2025, 7, 1)]

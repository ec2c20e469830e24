"""`import sales` leaves the till as if the history had been lived.

Two real tills with the same program: one imports a generated history (CSV, cards enrolled on the way),
the other records the same sales at the till day by day (`commit_sale`, in file order) and runs the day's
upkeep at the end of every day. They must then hold the same ledger entry for entry, the same tier rows
and stage rows member by member, the same balances, and the same record of what each day's upkeep did.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from cardread import parse_card
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.importer import import_sales
from pos_client.services.marketing import upkeep
from pos_client.services.members import enroll
from pos_client.store import point_months
from pos_client.store.db import write_txn
from tests.marketing.helpers import PRODUCTS, card_data

START = date(2024, 11, 1)
END = date(2026, 3, 20)
PRODUCT = {p.sku: p for p in PRODUCTS}


def _history(seed: int, members: int) -> list[dict[str, str]]:
    """Sales rows (one line each, some sales of several lines) with varied habits: weekly, monthly, a
    big spender who reaches Gold then stops, members who lapse and come back, tobacco that never qualifies."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    n = 0
    for i in range(members):
        card = card_data()
        day = START + timedelta(days=rng.randrange(0, 120))
        habit = "stopper" if i < 2 else rng.choice(["weekly", "monthly", "burst", "lapser"])
        stop = day + timedelta(days=90) if habit == "stopper" else END
        while day <= stop:
            n += 1
            for _line in range(rng.choice([1, 1, 1, 2, 3])):
                sku = rng.choice(["", "", "COFFEE", "DOGFOOD", "CIGS"])
                cents = PRODUCT[sku].price_cents * rng.randint(1, 3) if sku else rng.randint(100, 90000)
                if habit == "stopper" or (habit == "burst" and rng.random() < 0.3):
                    cents = rng.randint(60000, 160000)
                rows.append({"sale_id": f"S{n:05d}", "card": card, "date": day.isoformat(), "sku": sku,
                             "amount": f"{cents // 100}.{cents % 100:02d}"})
            gap = {"stopper": 20, "weekly": rng.randint(3, 10), "monthly": rng.randint(20, 45),
                   "burst": rng.randint(1, 200), "lapser": rng.choice([5, 30, 200, 260])}[habit]
            day += timedelta(days=gap)
    rng.shuffle(rows)
    rows.sort(key=lambda r: r["date"])  # same day: the shuffled order is the file order
    return rows


def _write(path, rows):
    with open(path, "w", newline="") as fh:
        out = csv.DictWriter(fh, ["sale_id", "card", "date", "sku", "amount"])
        out.writeheader()
        out.writerows(rows)


def _live(ctx, rows, last_day, members=None, start=None):
    """Record the sales at the till, in file order, each day's upkeep after that day's sales (from `start`, the
    first sale's day by default); `members`: card -> member_id of members already on the till."""
    members = dict(members or {})
    by_sale: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_sale.setdefault(r["sale_id"], []).append(r)
    by_day: dict[str, list[str]] = {}
    for sid, lines in by_sale.items():
        by_day.setdefault(lines[0]["date"], []).append(sid)
    day = start or date.fromisoformat(rows[0]["date"])
    while day <= last_day:
        for sid in by_day.get(day.isoformat(), []):
            lines = by_sale[sid]
            card = lines[0]["card"]
            if card not in members:
                members[card] = enroll(ctx, card=parse_card(card, loyalty_prefixes=("29",))).member_id
            basket = Basket(member_id=members[card])
            for r in lines:
                cents = int(r["amount"].replace(".", ""))
                p = PRODUCT.get(r["sku"])
                basket.add(Line(p.name, p.category, 1, cents, p.sku, None) if p else
                           Line("Imported sale", "general", 1, cents, None, None))
            ts = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).isoformat(timespec="microseconds")
            commit_sale(ctx, basket, sale_id=sid, created_at=ts)
        upkeep.run_day(ctx, day, "import")
        day += timedelta(days=1)


def _card_of(ctx):
    return {r[0]: r[1] for r in ctx.conn.execute("SELECT member_id, card_number FROM cards")}


def _state(ctx):
    card = _card_of(ctx)
    entries = sorted(
        (card[r["member_id"]], r["kind"], r["points"], r["sale_id"] or "", r["created_at"],
         "" if r["kind"] == "earn" else r["reason"] or "", r["ref"] or "")
        for r in ctx.conn.execute("SELECT * FROM ledger"))
    per_member_order = {}
    for r in ctx.conn.execute("SELECT member_id, kind, points, created_at FROM ledger ORDER BY created_at, seq"):
        per_member_order.setdefault(card[r[0]], []).append((r[1], r[2], r[3]))
    tier_rows = {}
    for r in ctx.conn.execute(
            "SELECT member_id, tier, prev_tier, since, reason, sale_id FROM member_tiers ORDER BY rowid"):
        tier_rows.setdefault(card[r[0]], []).append(tuple(r)[1:])
    stage_rows = {}
    for r in ctx.conn.execute("SELECT member_id, stage, prev_stage, since FROM member_stages ORDER BY rowid"):
        stage_rows.setdefault(card[r[0]], []).append(tuple(r)[1:])
    balances = {card[r[0]]: r[1] for r in ctx.conn.execute("SELECT member_id, points FROM balances")}
    runs = [tuple(r) for r in ctx.conn.execute(
        "SELECT day, expired_members, expired_points, tier_changes, stage_changes FROM upkeep_runs ORDER BY day")]
    # The points summary: kept by the ledger's trigger when lived, made once after the import (bulk_load).
    months = sorted((card[r[0]], *tuple(r)[1:]) for r in ctx.conn.execute(
        "SELECT member_id, month, net, gain FROM point_months"))
    months += sorted(("irregular", card[r[0]]) for r in ctx.conn.execute("SELECT member_id FROM point_irregular"))
    assert point_months.differences(ctx.conn) == []
    return {"entries": entries, "order": per_member_order, "tiers": tier_rows, "stages": stage_rows,
            "balances": balances, "runs": runs, "months": months}


PROGRAMS = {
    "defaults": {},
    "inactivity-monthly-review": {"expiry": {"mode": "inactivity", "months": 6}, "tiers_review": {"period": "month"},
                                  "lifecycle": {"at_risk_factor": 3, "reactivated_days": 20}},
    "short-fifo-half-year": {"expiry": {"mode": "after_earning", "months": 3}, "tiers_review": {"period": "half"}},
}


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_imported_history_equals_the_same_history_lived(make_ctx, tmp_path, program):
    rows = _history(seed=len(program), members=30)
    path = tmp_path / "history.csv"
    _write(path, rows)
    imported = make_ctx(PROGRAMS[program] or None, name="imported")
    lived = make_ctx(PROGRAMS[program] or None, name="lived")

    result = import_sales(imported, path, enroll_unknown=True)
    assert result["errors"] == [] and result["imported"] == len({r["sale_id"] for r in rows})
    last = date.fromisoformat(rows[-1]["date"])
    days = (last - date.fromisoformat(rows[0]["date"])).days + 1
    assert result["upkeep_days"] == result["upkeep_days_recorded"] == days
    _live(lived, rows, last)

    a, b = _state(imported), _state(lived)
    assert len(a["entries"]) > len(rows) // 2
    kinds = {e[1] for e in a["entries"]}
    assert {"earn", "bonus", "expire"} <= kinds  # the history exercises tier bonuses and expiry
    assert any(r[3] == "downgrade" for rows_ in a["tiers"].values() for r in rows_)
    assert {s[0] for rows_ in a["stages"].values() for s in rows_} >= {"new", "active", "at_risk", "lapsed"}
    for key in ("entries", "order", "tiers", "stages", "balances", "runs", "months"):
        if key == "entries":
            print("DIFF-A", sorted(set(a[key]) - set(b[key]))[:5])
            print("DIFF-B", sorted(set(b[key]) - set(a[key]))[:5])
        assert a[key] == b[key], key
    # Nothing is left to do for those days, and running the upkeep again changes nothing.
    assert upkeep.pending_days(imported, last) == []
    assert upkeep.catch_up(imported, last) == []
    assert _state(imported) == a


def test_a_second_import_replays_from_where_the_first_left_off(make_ctx, tmp_path):
    rows = _history(seed=7, members=12)
    cut = len(rows) // 2
    while rows[cut]["date"] == rows[cut - 1]["date"] or rows[cut]["sale_id"] == rows[cut - 1]["sale_id"]:
        cut += 1
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    _write(first, rows[:cut])
    _write(second, rows[cut:])
    imported, lived = make_ctx(name="imported"), make_ctx(name="lived")
    import_sales(imported, first, enroll_unknown=True)
    import_sales(imported, second, enroll_unknown=True)
    _live(lived, rows, date.fromisoformat(rows[-1]["date"]))
    a, b = _state(imported), _state(lived)
    for key in ("entries", "order", "tiers", "stages", "balances", "runs", "months"):
        assert a[key] == b[key], key


def test_members_enrolled_long_before_their_history_replay_as_lived(make_ctx, tmp_path):
    """A store adopting the system with its members already on the till (the bench's fresh till): they joined
    months before their first purchase, so review days pass members who have bought nothing yet."""
    rows = _history(seed=11, members=16)
    path = tmp_path / "history.csv"
    _write(path, rows)
    program = PROGRAMS["inactivity-monthly-review"]
    imported, lived = make_ctx(program, name="imported"), make_ctx(program, name="lived")
    cards = sorted({r["card"] for r in rows})
    known = {}
    for ctx in (imported, lived):
        known[ctx.home] = {c: enroll(ctx, card=parse_card(c, loyalty_prefixes=("29",))).member_id for c in cards}
        with write_txn(ctx.conn):
            ctx.conn.execute("UPDATE members SET created_at = '2024-06-01T09:00:00.000000+00:00'")
    result = import_sales(imported, path)
    assert result["errors"] == [] and result["enrolled"] == 0 and result["tier_changes"] > 0
    last = date.fromisoformat(rows[-1]["date"])
    assert result["upkeep_days"] == (last - date(2024, 6, 1)).days + 1
    _live(lived, rows, last, members=known[lived.home], start=date(2024, 6, 1))
    a, b = _state(imported), _state(lived)
    for key in ("entries", "order", "tiers", "stages", "balances", "runs", "months"):
        assert a[key] == b[key], key

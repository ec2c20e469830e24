"""The day's expiry pass at scale: one writer per member (the home store's expiry till), short write
transactions a sale can slip between, and the incremental pass that looks only at the members whose points
may have come due, checked each day against a full recomputation (docs/marketing.md, "Points expiry")."""

from __future__ import annotations

import random
import threading
import time
from datetime import date, timedelta

from pos_client.services.checkout import refund
from pos_client.services.marketing import expiry, pacing, tiers, upkeep
from pos_client.store import ledger
from pos_client.store.db import write_txn
from pos_client.till import context_opener
from tests.marketing.helpers import new_member, sell

NO_TIERS = {"tiers": [{"name": "Member", "min_spend_cents": 0, "multiplier_pct": 100}]}
FIFO_12 = {**NO_TIERS, "expiry": {"mode": "after_earning", "months": 12}}


def _expired(ctx) -> dict[str, int]:
    return {r[0]: -r[1] for r in ctx.conn.execute(
        "SELECT member_id, SUM(points) FROM ledger WHERE kind = 'expire' GROUP BY member_id")}


def _home_elsewhere(ctx, member_id: str, store: str) -> None:
    ctx.conn.execute("UPDATE members SET store_id = ? WHERE member_id = ?", (store, member_id))
    ctx.conn.commit()


def test_only_the_home_stores_expiry_till_writes_a_members_expiry(make_ctx):
    t1 = make_ctx(FIFO_12, name="t1")
    ours, _ = new_member(t1)
    theirs, _ = new_member(t1)
    _home_elsewhere(t1, theirs, "S2")
    sell(t1, ours, 10000, "2025-01-15")
    sell(t1, theirs, 20000, "2025-01-15")
    # Both are due (reports and the receipt compute the due for anyone) but T1 of S1 writes only its own member's.
    assert expiry.due_by_member(t1, "2026-01-15") == {ours: 100, theirs: 200}
    assert expiry.run_expiry(t1, "2026-01-15") == [{"member_id": ours, "points": 100}]
    assert _expired(t1) == {ours: 100}
    # Another till of the same store writes nothing, unless the program names it the store's expiry till.
    t2 = make_ctx(FIFO_12, name="t2", till_id="T2")
    mid, _ = new_member(t2)
    sell(t2, mid, 5000, "2025-01-15")
    assert expiry.run_expiry(t2, "2026-01-15") == [] and _expired(t2) == {}
    t3 = make_ctx({**FIFO_12, "expiry": {"mode": "after_earning", "months": 12, "till": "T3"}}, name="t3",
                  till_id="T3")
    mid3, _ = new_member(t3)
    sell(t3, mid3, 5000, "2025-01-15")
    assert expiry.run_expiry(t3, "2026-01-15") == [{"member_id": mid3, "points": 50}]
    assert expiry.rule_key(t2) == "after_earning:12:-" and expiry.rule_key(t3) == "after_earning:12:S1/T3"


def test_the_pass_writes_in_short_transactions_a_sale_slips_between(ctx, monkeypatch):
    monkeypatch.setattr(expiry, "WRITE_CHUNK", 3)
    members = [new_member(ctx)[0] for _ in range(10)]
    asked: list[list[str] | None] = []
    real_due = expiry.due_by_member

    def due_by_member(*args, **kw):
        asked.append(kw.get("members"))
        return real_due(*args, **kw)

    monkeypatch.setattr(expiry, "due_by_member", due_by_member)
    for mid in members:
        sell(ctx, mid, 10000, "2025-03-01")  # 100 points each, due on 2026-03-01
    other = context_opener(ctx)()  # the checkout's connection
    last = sorted(members)[-1]
    begins: list[str] = []

    def on_statement(sql: str) -> None:
        if sql.startswith("BEGIN IMMEDIATE"):
            begins.append(sql)
            if len(begins) == 2:  # between the first chunk and the second, a redemption commits at once
                other.conn.execute("PRAGMA busy_timeout = 0")
                ledger.append(other.conn, other.store_id, other.till_id, [ledger.Entry(
                    member_id=last, kind="redeem", points=-40, created_at="2026-03-01T15:00:00+00:00")])

    ctx.conn.set_trace_callback(on_statement)
    try:
        written = expiry.run_expiry(ctx, "2026-03-01")
    finally:
        ctx.conn.set_trace_callback(None)
        other.close()
    assert len(begins) == 4  # 10 members, 3 per write transaction
    # The last chunk recomputed its due under the lock: the redemption came out of the old points first.
    assert {r["member_id"]: r["points"] for r in written} == {**{m: 100 for m in members}, last: 60}
    # the month summary's candidates read in one go, then under the lock only the member who moved
    assert asked == [sorted(members), [last]]
    assert all(ledger.balance(ctx.conn, m) == 0 == ledger.ledger_sum(ctx.conn, m) for m in members)


def test_each_days_incremental_pass_leaves_nothing_due_that_a_full_pass_would_find(make_ctx):
    """Sales, redemptions, refunds' reversals and entries pulled late from other tills (dated days back),
    over 80 days with 2-month expiry: after every day's pass a full recomputation finds nothing due."""
    ctx = make_ctx({**NO_TIERS, "expiry": {"mode": "after_earning", "months": 2}})
    rng = random.Random(7)
    members = [new_member(ctx)[0] for _ in range(25)]
    start = date(2025, 1, 1)
    for i in range(60):  # history before the first upkeep
        day = start + timedelta(days=i)
        for mid in rng.sample(members, 3):
            sell(ctx, mid, rng.randint(1, 80) * 100, day.isoformat())
    first = start + timedelta(days=60)
    incremental = 0
    for i in range(80):
        day = first + timedelta(days=i)
        for mid in rng.sample(members, 3):
            sell(ctx, mid, rng.randint(1, 80) * 100, day.isoformat())
        held = [m for m in members if ledger.balance(ctx.conn, m) > 20]
        if held and rng.random() < 0.5:  # a redemption at this till
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                member_id=rng.choice(held), kind="redeem", points=-20, created_at=f"{day}T18:00:00+00:00")])
        if rng.random() < 0.4:  # another till's sale, pulled late: dated up to 75 days back, so already old
            back = day - timedelta(days=rng.randint(1, 75))
            ledger.append(ctx.conn, ctx.store_id, "T9", [ledger.Entry(
                member_id=rng.choice(members), kind="earn", points=rng.randint(5, 50),
                created_at=f"{back}T11:00:00+00:00")])
        if upkeep.since(ctx, day, expiry.rule_key(ctx)) is not None:
            incremental += 1
        upkeep.run_day(ctx, day, "test")
        assert expiry.due_by_member(ctx, day) == {}, day
        assert all(ledger.balance(ctx.conn, m) == ledger.ledger_sum(ctx.conn, m) >= 0 for m in members)
    assert incremental == 79  # every day after the first (the full pass) started where the last one stopped
    assert sum(_expired(ctx).values()) > 0


def test_the_tier_review_leaves_a_member_a_sale_moved_while_it_ran(ctx):
    mid, _ = new_member(ctx)
    calm, _ = new_member(ctx)
    sell(ctx, mid, 60000, "2025-01-10")  # Silver on that sale; out of the 12-month window by 2026-03-31
    sell(ctx, calm, 60000, "2025-01-10")
    other = context_opener(ctx)()

    def on_statement(sql: str) -> None:
        if sql.startswith("BEGIN IMMEDIATE"):  # the review's first write: a sale upgrades `mid` just before
            ctx.conn.set_trace_callback(None)
            with write_txn(other.conn):
                tiers.record_change(other, mid, "Gold", "Silver", date(2026, 3, 31), "upgrade")

    ctx.conn.set_trace_callback(on_statement)
    try:
        changes = tiers.evaluate_tiers(ctx, "2026-03-31")
    finally:
        ctx.conn.set_trace_callback(None)
        other.close()
    assert [(c["member_id"], c["from"], c["to"]) for c in changes] == [(calm, "Silver", "Member")]
    assert tiers.current_tier(ctx, mid) == "Gold"  # the sale's upgrade stands: it is the newer fact


def test_a_full_pass_reads_the_month_summary_and_finds_what_a_ledger_scan_finds(make_ctx):
    """The full pass's candidates (`full_candidates`, from point_months) hold every member a scan of the whole
    ledger finds due, on any day: refunds' reversals (irregular lots), redemptions, other tills' entries pulled
    late, entries dated after the day asked, members of another store and members with nothing due."""
    ctx = make_ctx({**NO_TIERS, "expiry": {"mode": "after_earning", "months": 3}})
    rng = random.Random(11)
    members = [new_member(ctx)[0] for _ in range(30)]
    for mid in members[:4]:
        _home_elsewhere(ctx, mid, "S2")
    start = date(2025, 1, 1)
    for i in range(200):
        day = start + timedelta(days=i)
        mid = rng.choice(members)
        sale = sell(ctx, mid, rng.randint(1, 80) * 100, day.isoformat())
        if rng.random() < 0.1:
            refund(ctx, sale.sale_id)
        if rng.random() < 0.2:
            held = [m for m in members if ledger.balance(ctx.conn, m) > 10]
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                member_id=rng.choice(held), kind="redeem", points=-10, created_at=f"{day}T18:00:00+00:00")])
        if rng.random() < 0.2:
            back = day - timedelta(days=rng.randint(1, 120))
            ledger.append(ctx.conn, ctx.store_id, "T9", [ledger.Entry(
                member_id=rng.choice(members), kind="earn", points=rng.randint(5, 50),
                created_at=f"{back}T11:00:00+00:00")])
    for day in (date(2025, 3, 31), date(2025, 5, 15), date(2025, 7, 19), date(2026, 1, 1)):
        scanned = expiry.due_by_member(ctx, day, store_id=ctx.store_id)
        ids = expiry.full_candidates(ctx, day)
        assert set(scanned) <= set(ids), day
        assert expiry.due_by_member(ctx, day, members=ids) == scanned, day
        assert scanned, day
    scanned = expiry.due_by_member(ctx, date(2025, 7, 19), store_id=ctx.store_id)
    written = expiry.run_expiry(ctx, "2025-07-19")
    assert {r["member_id"]: r["points"] for r in written} == scanned
    assert expiry.due_by_member(ctx, date(2025, 7, 19), store_id=ctx.store_id) == {}


def test_the_pass_pauses_between_its_write_transactions_so_a_waiting_sale_gets_the_lock(ctx, monkeypatch):
    """SQLite's busy handler tries again at most every 100 ms: a pause longer than that between two of the
    pass's transactions lets a sale waiting on another connection in, however long the pass is."""
    monkeypatch.setattr(expiry, "WRITE_CHUNK", 2)
    members = [new_member(ctx)[0] for _ in range(12)]
    for mid in members:
        sell(ctx, mid, 10000, "2025-03-01")
    other = context_opener(ctx)()
    waits: list[float] = []
    expired_before: list[int] = []  # the pass's rows committed when the sale had committed
    started = threading.Event()

    def sale() -> None:
        started.wait(10)
        t0 = time.perf_counter()
        sell(other, members[0], 500, "2026-03-01")
        waits.append(time.perf_counter() - t0)
        expired_before.append(other.conn.execute("SELECT COUNT(*) FROM ledger WHERE kind = 'expire'").fetchone()[0])

    def on_statement(sql: str) -> None:
        if sql.startswith("BEGIN IMMEDIATE"):
            started.set()

    thread = threading.Thread(target=sale)
    thread.start()
    ctx.conn.set_trace_callback(on_statement)
    t0 = time.perf_counter()
    try:
        written = expiry.run_expiry(ctx, "2026-03-01")
    finally:
        ctx.conn.set_trace_callback(None)
        thread.join(30)
        other.close()
    took = time.perf_counter() - t0
    assert len(written) == 12 and len(waits) == 1
    assert took >= 5 * pacing.GAP_S  # six transactions, a pause between each two
    # the sale got in between two of the pass's transactions, not after the pass: read from the ledger, not from a
    # ratio of times (`waits[0] < took / 2` held only while the sale's thread was scheduled in the first gaps)
    assert expired_before[0] < len(written) and waits[0] < took

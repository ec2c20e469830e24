"""Durable sale commit: sale, lines, ledger entry and balance in one fsynced transaction, every hook on.

Measured: `pos_client.services.checkout.commit_sale` for a 3-line basket with a member and a card, on
a writable copy of the generated database (`bench.scratch`: the cached dataset is never written; WAL,
synchronous=FULL: what `connect` sets) opened by `open_till` with every hook of a sale: marketing's
observers (coupon use, tier upgrade and bonus, lifecycle stage) and the ledger's point_months trigger.
Baseline: a raw `sqlite3` INSERT + COMMIT of one row into a scratch database beside it (same filesystem,
same pragmas). The two alternate sale by sale (`bench.method.interleave`: A/B, then B/A), so both see the
same disk and the same background load;
the verdict is `bench.method.judge`'s (NOISY when the baseline's halves or the halves' verdicts differ).

Sales run back to back in bursts of BURST (a rush far beyond any till) with a short pause
between bursts (the next customer), excluded from the timings and applied to the baseline too.
Two regimes are measured: "after", the till as the app runs it, with `pos_client.store.checkpoint`'s
background checkpointer taking WAL checkpoints in the pauses (and starting the next WAL there, so no sale
pays the new WAL header's fsync: the reported figure); "before", SQLite's default where every ~70th sale
runs the checkpoint inside its own COMMIT.

The till is opened once for both regimes and the sales start after its opening check (`open_till` verifies a
large database in a background thread: quick_check and the whole hash chain, 75-105 s at full scale) has
finished, as `_series.opening_check_done` does for the reports: a till sells for hours after that minute, and
while the check runs it holds a read transaction (no checkpoint can finish: the WAL only grows) and the GIL
between its SQLite steps, in this process, so the sales would measure the check, not the sale.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.env import BenchEnv
from bench.figures._series import opening_check_done
from bench.method import Rounds, interleave, judge
from bench.scratch import writable_home
from bench.stats import Figure, Measure
from cardread import parse_card
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.members import member_for_card
from pos_client.store.checkpoint import start_checkpointer
from pos_client.store.context import TillContext
from pos_client.store.home import db_path
from pos_client.store.ledger import new_id
from pos_client.till import open_till

KEY = "sale_commit"
TITLE = "durable sale commit (sale, lines, ledger, balance)"
TARGET = "p99 <= 1.5x the baseline p99, every hook of the sale on"
MAX_RATIO = 1.5  # issue 15
BURST = 50
PAUSE_S = 0.3
WARM = 20


def baseline_connection(env: BenchEnv) -> sqlite3.Connection:
    path = env.scratch / "baseline-commit.db"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, sale_id TEXT NOT NULL, total_cents INTEGER NOT NULL)")
    return conn


def _series(env: BenchEnv, ctx: TillContext, db: Path, n: int, background_checkpoints: bool,
            salt: str) -> tuple[Rounds, dict[str, Any]]:
    ctx.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # both regimes start from an empty WAL
    rng = env.rng(salt)
    products = [tuple(r) for r in ctx.conn.execute(
        "SELECT name, category, price_cents, sku, ean FROM products ORDER BY sku LIMIT 200")]
    cards = env.sample_cards(n + WARM, salt)
    members = [member_for_card(ctx, parse_card(c)).member_id for c in cards]
    base = baseline_connection(env)
    cp = start_checkpointer(ctx.conn, db) if background_checkpoints else None
    clock = time.perf_counter_ns
    baskets: list[tuple[Basket, str]] = []
    for i in range(n + WARM):
        basket = Basket(member_id=members[i], card_number=cards[i], tender="card")
        for _ in range(3):
            name, cat, price, sku, ean = products[rng.randrange(len(products))]
            basket.add(Line(name, cat, rng.randint(1, 3), price, sku, ean))
        baskets.append((basket, new_id()))

    def ours(i: int) -> list[float]:
        basket, sid = baskets[i + WARM]
        t0 = clock()
        commit_sale(ctx, basket, sale_id=sid)
        return [(clock() - t0) / 1e6]

    def raw(i: int) -> list[float]:
        basket, sid = baskets[i + WARM]
        t0 = clock()
        base.execute("BEGIN IMMEDIATE")
        base.execute("INSERT INTO t (sale_id, total_cents) VALUES (?, ?)", (sid, basket.total_cents))
        base.execute("COMMIT")
        return [(clock() - t0) / 1e6]

    def pause(i: int) -> None:
        if i and i % BURST == 0:
            time.sleep(PAUSE_S)

    try:
        frames = _wal_frames(ctx.conn, db, lambda: [commit_sale(ctx, b, sale_id=s) for b, s in baskets[:WARM]])
        frames = 0 if cp is not None else frames  # the checkpointer may restart the WAL during the warm-up
        base_frames = _wal_frames(base, env.scratch / "baseline-commit.db", lambda: [raw(i) for i in range(WARM)])
        rounds = interleave(ours, raw, n, between=pause)
    finally:
        if cp is not None:
            cp.stop()
        base.close()
    info: dict[str, Any] = {}
    if frames:  # the pages one fsync covers: the sale's own tables and indexes against the raw row's
        info["WAL frames per commit, warm-up (sale / baseline)"] = f"{frames / WARM:.1f} / {base_frames / WARM:.1f}"
    info |= {"background_checkpoints": cp.checkpoints, "frames_checkpointed": cp.frames,
            "wal_restarts_by_the_checkpointer": cp.restarts} if cp else {}
    return rounds, info


def _wal_frames(conn: sqlite3.Connection, db: Path, sales: Callable[[], object]) -> int:
    """WAL frames the sales wrote (what each sale's fsync covers: the pages it dirtied), from the WAL's growth;
    0 when a checkpoint restarted the WAL meanwhile (the checkpointer's regime)."""
    wal = db.with_name(db.name + "-wal")
    frame = int(conn.execute("PRAGMA page_size").fetchone()[0]) + 24
    size = wal.stat().st_size if wal.exists() else 0
    sales()
    grown = (wal.stat().st_size if wal.exists() else 0) - size
    return grown // frame if grown > 0 else 0


def run(env: BenchEnv) -> Figure:
    n = env.samples(1_000, 200)
    home = writable_home(env)
    ctx = open_till(home)
    try:
        waited = opening_check_done()
        b_rounds, b_info = _series(env, ctx, db_path(home), n, False, f"{KEY}-before")
        rounds, info = _series(env, ctx, db_path(home), n, True, KEY)
    finally:
        ctx.close()
    v = judge(rounds, lambda m, b: m.tail_value <= MAX_RATIO * b.tail_value, unit="ms",
              measured="commit_sale, 3 lines + member + card, background checkpointer on",
              baseline="raw sqlite3 INSERT + COMMIT of one row (WAL, synchronous=FULL)")
    before = Measure.of("commit_sale with SQLite's default in-commit checkpoints", "ms", b_rounds.all_measured)
    before_base = Measure.of("baseline in the 'before' series", "ms", b_rounds.all_baseline)
    return Figure(KEY, TITLE, TARGET, v.status, measure=v.measure, baseline=v.baseline, judged=v.judged,
                  extra={"before (trunk default)": before.__dict__, "before: its baseline": before_base.__dict__,
                         "before: ratio median / tail": f"{before.median / before_base.median:.2f}x / "
                                                        f"{before.tail_value / before_base.tail_value:.2f}x",
                         "opening check waited (s)": round(waited, 1), **b_info, **info},
                  notes=[f"{n:,} sales per regime after {WARM} warm-up, each to a different random member, in "
                         f"bursts of {BURST} with {PAUSE_S} s pauses (not timed)",
                         "the sales go to the run's writable copy of the dataset (bench/scratch.py), never to the"
                         " cached database"])

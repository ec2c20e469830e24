"""Receipt to ESC/POS bytes: `pos_client.services.receipt.render_receipt(ctx, sale_id) -> bytes`.

Timed on sales recorded in the generated database; the bytes per receipt are reported. Baseline:
a raw `sqlite3` read of the same sale's rows (the sale, then its lines in order) on its own
connection: what any receipt must at least cost. The two alternate sale by sale (A/B, then B/A, so
neither always finds the rows the other just read in cache); the verdict is `bench.method.judge`'s.
"""

from __future__ import annotations

import sqlite3
import time

from bench.background import Watch, finish_opening_check
from bench.env import BenchEnv
from bench.method import interleave, judge
from bench.stats import Figure
from pos_client.services.receipt import render_receipt
from pos_client.till import open_till

KEY = "receipt"
TITLE = "receipt to ESC/POS bytes"
TARGET = "<= 10 ms (p99); bytes per receipt reported"
TARGET_MS = 10.0


def run(env: BenchEnv) -> Figure:
    n = env.samples(1_000, 400)
    ctx = open_till(env.home)
    raw = sqlite3.connect(f"file:{env.db}?mode=ro", uri=True)
    sizes: list[int] = []
    clock = time.perf_counter_ns
    try:
        top = ctx.conn.execute("SELECT MAX(rowid) FROM sales").fetchone()[0] or 0
        rng = env.rng(KEY)
        ids: list[str] = []
        while len(ids) < n and top:
            row = ctx.conn.execute("SELECT sale_id FROM sales WHERE rowid = ?", (rng.randint(1, top),)).fetchone()
            if row:
                ids.append(row[0])

        def ours(i: int) -> float:
            t0 = clock()
            data = render_receipt(ctx, ids[i])
            took = (clock() - t0) / 1e6
            sizes.append(len(data))
            return took

        def base(i: int) -> float:
            t0 = clock()
            raw.execute("SELECT * FROM sales WHERE sale_id = ?", (ids[i],)).fetchone()
            raw.execute("SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY line_no", (ids[i],)).fetchall()
            return (clock() - t0) / 1e6

        checked = finish_opening_check()  # untimed: the till as it prints all day, not while it opens
        with Watch(env.db) as watch:
            rounds = interleave(ours, base, len(ids))
    finally:
        raw.close()
        ctx.close()
    v = judge(rounds, lambda m, b: m.tail_value <= TARGET_MS, unit="ms", measured="render_receipt(ctx, sale_id)",
              baseline="raw sqlite3 read of the same sale row and its lines")
    return Figure(KEY, TITLE, TARGET, v.status, measure=v.measure, baseline=v.baseline, judged=v.judged,
                  notes=[f"{len(ids):,} receipts of random recorded sales",
                         checked,
                         watch.words()],
                  extra={"bytes_per_receipt_median": sorted(sizes)[len(sizes) // 2], "bytes_max": max(sizes)})

"""Receipt to ESC/POS bytes: `pos_client.services.receipt.render_receipt(ctx, sale_id) -> bytes`.

Timed on sales recorded in the generated database; the bytes per receipt are reported. No baseline.
"""

from __future__ import annotations

import time

from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict
from pos_client.services.receipt import render_receipt
from pos_client.till import open_till

KEY = "receipt"
TITLE = "receipt to ESC/POS bytes"
TARGET = "<= 10 ms (p99); bytes per receipt reported"
TARGET_MS = 10.0


def run(env: BenchEnv) -> Figure:
    ctx = open_till(env.home)
    try:
        top = ctx.conn.execute("SELECT MAX(rowid) FROM sales").fetchone()[0] or 0
        rng = env.rng(KEY)
        ids = [r[0] for r in (ctx.conn.execute("SELECT sale_id FROM sales WHERE rowid = ?",
                                               (rng.randint(1, top),)).fetchone() for _ in range(500)) if r]
        times: list[float] = []
        sizes: list[int] = []
        for sid in ids:
            t0 = time.perf_counter_ns()
            data = render_receipt(ctx, sid)
            times.append((time.perf_counter_ns() - t0) / 1e6)
            sizes.append(len(data))
    finally:
        ctx.close()
    m = Measure.of("render_receipt(ctx, sale_id)", "ms", times)
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 <= TARGET_MS), measure=m,
                  extra={"bytes_per_receipt_median": sorted(sizes)[len(sizes) // 2], "bytes_max": max(sizes)})

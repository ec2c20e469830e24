"""Receipt to ESC/POS bytes (slot: the receipt renderer is on the printer branch).

Contract assumed: `pos_client.services.receipt.render_receipt(ctx, sale_id) -> bytes`. When it imports,
it is timed on sales recorded in the generated database and the bytes per receipt are reported;
a different signature is reported as SKIPPED with the error, never papered over. No baseline.
"""

from __future__ import annotations

import time

from bench.env import BenchEnv
from bench.stats import Figure, Measure, try_import, verdict

KEY = "receipt"
TITLE = "receipt to ESC/POS bytes"
TARGET = "<= 10 ms (p99); bytes per receipt reported"
TARGET_MS = 10.0


def run(env: BenchEnv) -> Figure:
    render, reason = try_import("pos_client.services.receipt", "render_receipt")
    if reason:
        return Figure.skipped(KEY, TITLE, TARGET, reason)
    from pos_client.store.context import open_till

    ctx = open_till(env.home)
    try:
        top = ctx.conn.execute("SELECT MAX(rowid) FROM sales").fetchone()[0] or 0
        rng = env.rng(KEY)
        ids = [r[0] for r in (ctx.conn.execute("SELECT sale_id FROM sales WHERE rowid = ?",
                                               (rng.randint(1, top),)).fetchone() for _ in range(500)) if r]
        times, sizes = [], []
        for sid in ids:
            t0 = time.perf_counter_ns()
            try:
                data = render(ctx, sid)
            except TypeError as exc:
                return Figure.skipped(KEY, TITLE, TARGET, f"render_receipt(ctx, sale_id) does not fit: {exc}; "
                                      "adapt bench/figures/receipt.py")
            times.append((time.perf_counter_ns() - t0) / 1e6)
            sizes.append(len(data))
    finally:
        ctx.close()
    m = Measure.of("render_receipt(ctx, sale_id)", "ms", times)
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 <= TARGET_MS), measure=m,
                  extra={"bytes_per_receipt_median": sorted(sizes)[len(sizes) // 2], "bytes_max": max(sizes)})

"""Push of 100,000 waiting ledger entries to a head office on loopback (slot: sync is on the
sync branch).

Baseline, available now: raw httpx POSTs of the same bytes (the entries as JSON, in batches of
BATCH) to a loopback endpoint that discards them; entries/s. Target: the real push reaches
>= 50% of that rate. The figure needs `sync.push` and the head-office server; until they are in
this build it is SKIPPED and only the baseline is reported.
"""

from __future__ import annotations

import json
import sqlite3
import time

from bench.discard import discard_server
from bench.env import BenchEnv
from bench.stats import Figure, Measure, try_import

KEY = "push"
TITLE = "push of 100,000 waiting entries to a head office on loopback"
TARGET = ">= 50% of the baseline rate"
BATCH = 1_000
COLS = ("entry_id", "member_id", "store_id", "till_id", "seq", "kind", "points", "sale_id", "amount_cents",
        "created_at", "operator", "reason", "ref")


def batches(env: BenchEnv, total: int) -> tuple[list[bytes], int]:
    """The first `total` ledger entries as JSON request bodies of BATCH entries, and their count."""
    conn = sqlite3.connect(f"file:{env.db}?mode=ro", uri=True)
    rows = conn.execute(f"SELECT {', '.join(COLS)} FROM ledger LIMIT ?", (total,)).fetchall()
    conn.close()
    bodies = [json.dumps({"entries": [dict(zip(COLS, r, strict=True)) for r in rows[i:i + BATCH]]}).encode()
              for i in range(0, len(rows), BATCH)]
    return bodies, len(rows)


def run(env: BenchEnv) -> Figure:
    import httpx

    total = env.samples(100_000, 10_000)
    bodies, entries = batches(env, total)
    rates = []
    with discard_server() as url, httpx.Client(base_url=url) as client:
        for _ in range(env.samples(5, 3)):
            t0 = time.perf_counter()
            for body in bodies:
                client.post("/discard", content=body, headers={"content-type": "application/json"}).raise_for_status()
            rates.append(entries / (time.perf_counter() - t0))
    base = Measure.of_rates(f"raw httpx POSTs of {entries:,} entries as JSON, {BATCH:,} per request, "
                            "to a discard endpoint", "entries/s", rates)
    _, reason = try_import("sync.push")
    return Figure.skipped(KEY, TITLE, TARGET, reason or "not available in this build: sync.push imports but the "
                          "push adapter is not written yet (bench/figures/push.py)", baseline=base,
                          extra={"bytes_per_batch": len(bodies[0]), "total_bytes": sum(map(len, bodies))})

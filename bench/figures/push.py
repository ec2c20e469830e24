"""Push of 100,000 waiting ledger entries to a head office on loopback.

Baseline: raw httpx POSTs of the entries (ledger rows as JSON, in batches of
BATCH, the push's own batch size) to a loopback endpoint that discards them; entries/s.
Measured: the bench hook `bench.sync_measure.push_waiting`, a
registered till with that many waiting entries pushing them all to the real head office
(Starlette + uvicorn, SQLite store) on loopback, in a process of its own (`process=True`: in
production it is another machine; in the bench process it would share the till's GIL). Target:
>= 50% of the baseline rate, judged on the slow tails (throughput "p99": the rate 99% of runs beat).

Beside the figure, in the same run: one push to a head office in a thread of this process (the
arrangement before), and the head office's own parse + ingest rate without HTTP
(`bench.sync_measure.ingest_rate`), the ceiling any push acknowledged after a durable ingest can reach.
"""

from __future__ import annotations

import json
import sqlite3
import time

import httpx

from bench.discard import discard_server
from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict
from bench.sync_measure import ingest_rate, push_waiting

KEY = "push"
TITLE = "push of 100,000 waiting entries to a head office on loopback"
TARGET = ">= 50% of the baseline rate"
MIN_SHARE = 0.5
BATCH = 2_000  # = bench.sync_measure.push_waiting's entry_batch
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
    sizes = {"baseline bytes per request": len(bodies[0]), "baseline total bytes": sum(map(len, bodies))}
    ours, last = [], {}
    for r in range(env.samples(3, 2)):
        last = push_waiting(env.scratch / f"push-{r}", entries=entries, entry_batch=BATCH, process=True)
        if last.get("pushed") != entries:
            return Figure.skipped(KEY, TITLE, TARGET, f"push sent {last.get('pushed')} of {entries}: {last}",
                                  baseline=base, extra=sizes)
        ours.append(entries / last["seconds"])
    m = Measure.of_rates(f"bench.sync_measure.push_waiting: {entries:,} waiting entries to the head office "
                         "(its own process)", "entries/s", ours)
    in_thread = push_waiting(env.scratch / "push-thread", entries=entries, entry_batch=BATCH)
    ceiling = ingest_rate(f"sqlite:///{env.scratch / 'push-ceiling.db'}", entries=entries, batch=BATCH)
    notes = [f"head office in a thread of the bench process (shares its GIL): "
             f"{in_thread['entries_per_s']:,} entries/s",
             f"head office parse + durable ingest alone, no HTTP (ingest_rate, same batches): "
             f"{ceiling['entries_per_s']:,} entries/s = {ceiling['entries_per_s'] / base.p99:.1%} of the baseline; "
             f"the push reaches {m.median / ceiling['entries_per_s']:.0%} of it",
             f"target needs {MIN_SHARE * base.p99:,.0f} entries/s: "
             f"{MIN_SHARE * base.p99 / ceiling['entries_per_s']:.0f}x what the head office can ingest"]
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 >= MIN_SHARE * base.p99), measure=m, baseline=base,
                  notes=notes, extra={**sizes, "last_run": last})

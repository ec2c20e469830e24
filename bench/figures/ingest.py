"""Head-office ingest of pushed ledger entries into the SQLite store (the PostgreSQL store is
`ingest_pg`). Target >= 20,000 entries/s; the issue gives no baseline.

Uses the bench hook `bench.sync_measure.ingest_rate(db_url, entries)`: the real parse
(`PushBatch.parse`) and `store.ingest` path in batches, without HTTP. Throughput's "p99" is the
slow tail (the rate 99% of runs beat).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict
from bench.sync_measure import ingest_rate

KEY = "ingest_sqlite"
TITLE = "head-office ingest, SQLite store"
TARGET = ">= 20,000 entries/s"
TARGET_RATE = 20_000


def measure(env: BenchEnv, key: str, title: str, url_for_run: Callable[[int], str]) -> Figure:
    entries = env.samples(100_000, 10_000)
    rates: list[float] = []
    last: dict[str, Any] = {}
    for r in range(env.samples(3, 2)):
        last = ingest_rate(url_for_run(r), entries=entries)
        if last.get("accepted") != entries:
            return Figure.skipped(key, title, TARGET, f"ingest accepted {last.get('accepted')} of {entries}: {last}")
        rates.append(entries / last["seconds"])
    m = Measure.of_rates(f"bench.sync_measure.ingest_rate, {entries:,} entries per run", "entries/s", rates)
    return Figure(key, title, TARGET, verdict(m.p99 >= TARGET_RATE), measure=m, extra={"last_run": last})


def run(env: BenchEnv) -> Figure:
    return measure(env, KEY, TITLE, lambda r: f"sqlite:///{env.scratch / f'headoffice-{r}.db'}")

"""Head-office ingest of pushed ledger entries into the SQLite store (the PostgreSQL store is `ingest_pg`).

Target (issue 15): >= 100,000 entries/s, and >= half of a raw bulk write of the same rows into the same
indexed tables, measured in the same run. Measured: `bench.sync_measure.ingest_rate`, head office's own
decode (`PushBatch.decode` of the JSON body a till sends) and `store.ingest`, batches of BATCH hash-chained
entries of one till, no HTTP. Baseline: the same rows, already as tuples, written raw into a fresh store's
tables (ledger, balances) in the same batches and transactions: `executemany` on SQLite (same pragmas:
WAL, synchronous=FULL), COPY + one balances upsert on PostgreSQL. Rounds alternate baseline and
measure (A/B/A/B), each on a fresh database; median and slow tail (throughput "p99": the rate 99% of runs
beat) over ROUNDS rounds, the load average noted at start and end.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.env import BenchEnv
from bench.stats import Figure, Measure, median, verdict
from bench.sync_measure import T0, chained_entries, ingest_rate
from headoffice.store import open_store
from wire.protocol import LEDGER_COLUMNS

KEY = "ingest_sqlite"
TITLE = "head-office ingest, SQLite store"
TARGET = ">= 100,000 entries/s and >= 50% of a raw bulk write of the same rows"
TARGET_RATE = 100_000
MIN_SHARE = 0.5
ROUNDS = 5
BATCH = 2000
LEDGER_SQL_COLUMNS = ("server_seq", *LEDGER_COLUMNS, "received_at")
BALANCE_UPSERT = ("INSERT INTO balances (member_id, points, updated_at) VALUES (?, ?, ?) ON CONFLICT (member_id)"
                  " DO UPDATE SET points = balances.points + excluded.points, updated_at = excluded.updated_at")

RawBatch = tuple[list[tuple[Any, ...]], list[tuple[str, int, str]]]


def raw_batches(rows: list[dict[str, Any]]) -> list[RawBatch]:
    """The baseline's input: per batch, the ledger tuples head office stores and the balance rows they move."""
    out: list[RawBatch] = []
    for i in range(0, len(rows), BATCH):
        part = rows[i:i + BATCH]
        ledger = [(i + j + 1, *(r[c] for c in LEDGER_COLUMNS), T0) for j, r in enumerate(part)]
        sums: dict[str, int] = {}
        for r in part:
            sums[r["member_id"]] = sums.get(r["member_id"], 0) + r["points"]
        out.append((ledger, [(m, p, T0) for m, p in sums.items()]))
    return out


def raw_sqlite(url: str, batches: list[RawBatch]) -> float:
    """Seconds to executemany the batches into a fresh store's tables, one transaction per batch."""
    open_store(url).close()  # the schema and its indexes, as the store creates them
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"):
        conn.execute(pragma)
    insert = (f"INSERT INTO ledger ({', '.join(LEDGER_SQL_COLUMNS)})"
              f" VALUES ({', '.join('?' * len(LEDGER_SQL_COLUMNS))})")
    started = time.perf_counter()
    for ledger, balances in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, ledger)
        conn.executemany(BALANCE_UPSERT, balances)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (a shared machine's figures mean little without them)."""
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "unknown"


def measure(env: BenchEnv, key: str, title: str, fresh_url: Callable[[int], str],
            raw: Callable[[str, list[RawBatch]], float], raw_what: str) -> Figure:
    entries = env.samples(100_000, 10_000)
    rows = chained_entries(entries)
    batches = raw_batches(rows)
    load_before = loadavg()
    base: list[float] = []
    ours: list[float] = []
    last: dict[str, Any] = {}
    for r in range(ROUNDS):  # A/B/A/B: the baseline and the measure see the same machine, round by round
        base.append(entries / raw(fresh_url(2 * r), batches))
        last = ingest_rate(fresh_url(2 * r + 1), rows=rows, batch=BATCH)
        if last.get("accepted") != entries:
            return Figure.skipped(key, title, TARGET, f"ingest accepted {last.get('accepted')} of {entries}: {last}")
        ours.append(entries / last["seconds"])
    b = Measure.of_rates(f"{raw_what}, {entries:,} entries in batches of {BATCH:,}", "entries/s", base)
    m = Measure.of_rates(f"bench.sync_measure.ingest_rate (decode + store.ingest), {entries:,} hash-chained"
                         f" entries in batches of {BATCH:,}", "entries/s", ours)
    shares = [o / a for o, a in zip(ours, base, strict=True)]
    notes = [f"per round, ingest / raw: {', '.join(f'{s:.0%}' for s in shares)} (median {median(shares):.0%})",
             f"load average before {load_before}, after {loadavg()}"]
    ok = m.p99 >= TARGET_RATE and median(shares) >= MIN_SHARE
    return Figure(key, title, TARGET, verdict(ok), measure=m, baseline=b, notes=notes,
                  extra={"last_run": last, "rounds": ROUNDS, "shares": [round(s, 3) for s in shares]})


def run(env: BenchEnv) -> Figure:
    return measure(env, KEY, TITLE, lambda r: f"sqlite:///{env.scratch / f'headoffice-{r}.db'}", raw_sqlite,
                   "raw sqlite3 executemany into the store's ledger and balances (same pragmas)")

"""Head-office ingest into the PostgreSQL store, on a private PostgreSQL 15 cluster started for the
run (fsync and synchronous_commit on, a head office's server settings: `pgcluster.SERVER_SETTINGS`). Same
measure, rounds, method (`bench.method`, A/B then B/A) and target as `ingest` (SQLite); the baseline is a raw COPY of
the same ledger rows and one balances upsert per batch, each batch one transaction, into a fresh database of the same
cluster with the store's schema (dropped after each run)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from bench.env import BenchEnv
from bench.figures.ingest import LEDGER_SQL_COLUMNS, TARGET, RawBatch, measure
from bench.stats import Figure
from headoffice import pgcluster as pg
from headoffice.store import open_store

KEY = "ingest_postgres"
TITLE = "head-office ingest, PostgreSQL store"


def raw_postgres(url: str, batches: list[RawBatch]) -> float:
    """Seconds to COPY the ledger rows and upsert the balances (one statement) per batch, one transaction each."""
    open_store(url).close()
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        for ledger, balances in batches:
            with conn.transaction():
                with cur.copy(f"COPY ledger ({', '.join(LEDGER_SQL_COLUMNS)}) FROM STDIN") as copy:
                    for row in ledger:
                        copy.write_row(row)
                cur.execute("INSERT INTO balances (member_id, points, updated_at)"
                            " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[]) ON CONFLICT (member_id)"
                            " DO UPDATE SET points = balances.points + excluded.points,"
                            " updated_at = excluded.updated_at",
                            ([b[0] for b in balances], [b[1] for b in balances], [b[2] for b in balances]))
        return time.perf_counter() - started


def run(env: BenchEnv) -> Figure:
    reason = pg.available()
    if reason:
        return Figure.skipped(KEY, TITLE, TARGET, reason)
    with pg.private_cluster() as url:
        @contextmanager
        def fresh(r: int) -> Iterator[str]:
            """A fresh database of the cluster with nothing in it, dropped after the run."""
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE bench_{r}")
            try:
                yield url.rsplit("/", 1)[0] + f"/bench_{r}"
            finally:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE bench_{r} WITH (FORCE)")

        return measure(env, KEY, TITLE, fresh, raw_postgres,
                       "raw psycopg COPY into the store's ledger + one balances upsert per batch")

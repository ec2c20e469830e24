"""Head-office ingest into the PostgreSQL store, on a private PostgreSQL 15 cluster started for the
run (default durability). Same hook and target as `ingest` (SQLite)."""

from __future__ import annotations

from bench.env import BenchEnv
from bench.figures.ingest import TARGET, measure
from bench.stats import Figure
from headoffice import pgcluster as pg

KEY = "ingest_postgres"
TITLE = "head-office ingest, PostgreSQL store"


def run(env: BenchEnv) -> Figure:
    reason = pg.available()
    if reason:
        return Figure.skipped(KEY, TITLE, TARGET, reason)
    with pg.private_cluster() as url:
        return measure(env, KEY, TITLE, lambda _r: url)

"""The console figure's cached head-office store and snapshot at a tiny size: every row carried over and exactly
the indexes the real schema makes (the builds drop the secondary indexes for the bulk insert and put them back)."""

from __future__ import annotations

import sqlite3

from bench.env import BenchEnv
from bench.figures import console_data
from bench.figures.reports import chain_db
from bench.generate import SIZES, cached_home
from headoffice.store import open_store

TINY = SIZES["tiny"]


def _indexes(path) -> dict[str, str | None]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall())
    finally:
        conn.close()


def _count(path, table: str, where: str = "") -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table} {where}").fetchone()[0])
    finally:
        conn.close()


def test_the_head_office_store_and_snapshot_have_every_row_and_the_schemas_own_indexes(tmp_path):
    home, stats, _ = cached_home(TINY, 7, tmp_path / "data")
    env = BenchEnv(home=home, size=TINY, gen=stats, quick=True, seed=1, scratch=tmp_path)
    fresh = tmp_path / "fresh.db"
    open_store(f"sqlite:///{fresh}").close()

    ho = console_data.ho_db(env)
    assert _indexes(ho) == _indexes(fresh)
    for table in ("members", "cards", "ledger", "balances"):
        assert _count(ho, table) == _count(env.db, table) > 0
    assert _count(ho, "sales") == _count(chain_db(env), "sales") > 0
    assert console_data.ho_db(env) == ho  # cached: built once

    chain = chain_db(env)
    snap = console_data.snapshot(env, tmp_path / "snap.db")
    assert _indexes(snap) == {**_indexes(chain), "sqlite_autoindex_ho_snapshot_meta_1": None}
    assert _count(snap, "ledger") == _count(env.db, "ledger")
    assert _count(snap, "sync_outbox") == _count(chain, "sync_outbox")  # a snapshot queues nothing for sync

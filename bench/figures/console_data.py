"""The console figure's data, built once from the generated dataset and cached beside it: head office's store
(`ho_db`), the published marketing snapshot with the ledger (`snapshot`), and what a running chain's console
has beside members and ledger (`seed`).

Why the builds drop indexes: inserting ten million ledger rows into a table whose secondary indexes are live
updates each index at random places, row by row (70 minutes at full scale); building each index once after the
rows are in is a sort. The indexes dropped are read from `sqlite_master` first and recreated from that same SQL,
so the result has exactly the indexes the real schema code made (the UNIQUE constraints' own indexes stay).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from bench.env import BenchEnv
from bench.figures.reports import chain_db
from bench.generate import build_lock
from headoffice.console import figures
from headoffice.store import open_store
from pos_client.store import point_months

THROUGH = date(2026, 10, 31)  # the generated history's last day: the snapshot's
AUDIT_ROWS = 200_000  # a busy chain's years of console changes
REJECT_ROWS = 20_000  # quarantined records across the tills
CACHE_KIB = 1_000_000  # page cache for a build (1 GB): the UNIQUE indexes kept live fit in it


def ho_db(env: BenchEnv) -> Path:
    """Head office's store with the dataset's members, cards, ledger, balances and sales (cached)."""
    path = env.home / "headoffice.db"
    with build_lock(path):
        if not path.exists():
            _build_ho(env, path)
    return path


@contextmanager
def _indexes_dropped(conn: sqlite3.Connection, tables: Iterable[str]) -> Iterator[None]:
    """Drop the tables' secondary indexes for a bulk insert and recreate them, from their own SQL, after."""
    names = list(tables)
    marks = ",".join("?" * len(names))
    found = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                         f" AND tbl_name IN ({marks})", names).fetchall()
    for name, _sql in found:
        conn.execute(f'DROP INDEX "{name}"')
    yield
    for _name, sql in found:
        conn.execute(sql)


def _bulk(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    return conn


def _build_ho(env: BenchEnv, path: Path) -> None:
    tmp = env.home / "headoffice.db.building"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    open_store(f"sqlite:///{tmp}").close()  # the real schema
    conn = _bulk(tmp)
    conn.execute("ATTACH DATABASE ? AS src", (f"file:{env.db}?mode=ro",))
    conn.execute("ATTACH DATABASE ? AS chain", (f"file:{chain_db(env)}?mode=ro",))
    conn.execute("BEGIN")
    with _indexes_dropped(conn, ("members", "cards", "ledger", "balances", "sales")):
        conn.execute("INSERT INTO members (member_id, store_id, name, phone, email, status, merged_into, consent,"
                     " created_at, updated_at, received_at) SELECT member_id, COALESCE(store_id, 'S1'), name, phone,"
                     " email, status, merged_into, '{}', created_at, updated_at, created_at FROM src.members")
        conn.execute("INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at,"
                     " updated_at) SELECT card_number, member_id, source, status, replaced_by, created_at,"
                     " updated_at FROM src.cards")
        conn.execute("INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, sale_id,"
                     " amount_cents, created_at, operator, reason, ref, received_at) SELECT entry_id, member_id,"
                     " store_id, till_id, seq, kind, points, sale_id, amount_cents, created_at, operator, reason,"
                     " ref, created_at FROM src.ledger")
        conn.execute("INSERT INTO balances (member_id, points, updated_at) SELECT member_id, points, updated_at"
                     " FROM src.balances")
        conn.execute("INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned,"
                     " operator, created_at, received_at, lines) SELECT sale_id, store_id, till_id, member_id,"
                     " total_cents, tender, points_earned, operator, created_at, created_at, '[]' FROM chain.sales")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    conn.execute("DETACH DATABASE chain")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    tmp.replace(path)


def snapshot(env: BenchEnv, dest: Path) -> Path:
    """A published snapshot (as `headoffice.upkeep.refresh` leaves it) of the dataset, through THROUGH."""
    base = env.home / "chain-ledger.db"
    with build_lock(base):
        if not base.exists():
            _build_chain_ledger(env, base)
    shutil.copyfile(base, dest)
    figures.cache_path(dest).unlink(missing_ok=True)
    return dest


def _build_chain_ledger(env: BenchEnv, base: Path) -> None:
    tmp = env.home / "chain-ledger.db.building"
    shutil.copyfile(chain_db(env), tmp)
    conn = _bulk(tmp)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("ATTACH DATABASE ? AS src", (f"file:{env.db}?mode=ro",))
    conn.execute("BEGIN")
    conn.execute("UPDATE sync_apply SET applying = 1")
    with point_months.bulk_load(conn), _indexes_dropped(conn, ("ledger", "balances")):
        conn.execute("INSERT INTO ledger SELECT * FROM src.ledger")
        conn.execute("INSERT OR REPLACE INTO balances SELECT * FROM src.balances")
    conn.execute("UPDATE sync_apply SET applying = 0")
    conn.execute("CREATE TABLE IF NOT EXISTS ho_snapshot_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    config = {"store_id": "HO", "till_id": "HO", "program": {}, "reports": {"chain_wide": True}}
    conn.executemany("INSERT OR REPLACE INTO ho_snapshot_meta (key, value) VALUES (?,?)",
                     [("built_at", f"{THROUGH.isoformat()}T22:00:00+00:00"), ("config", json.dumps(config)),
                      ("through", THROUGH.isoformat())])
    conn.execute("INSERT INTO upkeep_runs (day, source, expired_members, expired_points, tier_changes,"
                 " stage_changes, started_at, finished_at) VALUES (?, 'bench', 0, 0, 0, 0, ?, ?)",
                 (THROUGH.isoformat(), f"{THROUGH}T22:00:00+00:00", f"{THROUGH}T22:00:00+00:00"))
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    tmp.replace(base)


def seed(path: Path) -> None:
    """What a running chain's console has beside members and ledger (once per cached store): the dataset's tills,
    registered, with what each last reported; quarantined records; an audit trail."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if conn.execute("SELECT 1 FROM meta WHERE key = 'bench.console_seeded'").fetchone():
            return
        tills = conn.execute("SELECT DISTINCT store_id, till_id FROM ledger").fetchall()
        at = f"{THROUGH.isoformat()}T21:00:00+00:00"
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO tills (store_id, till_id, role, token_hash, created_at, registered_at, high_seq)"
                         " VALUES (?, ?, 'till', ?, ?, ?, 0) ON CONFLICT DO NOTHING",
                         [(s, t, f"bench-{s}-{t}", at, at) for s, t in tills])
        conn.executemany("INSERT INTO till_reports (store_id, till_id, last_contact_at, last_push_at, last_pull_at,"
                         " pending, version, clock_skew_ms) VALUES (?, ?, ?, ?, ?, ?, '0.9.0', ?)"
                         " ON CONFLICT DO NOTHING", [(s, t, at, at, at, i % 7, (i % 11) * 40)
                                                     for i, (s, t) in enumerate(tills)])
        conn.executemany("INSERT INTO rejects (rkey, store_id, till_id, type, seq, reasons, raw, received_at)"
                         " VALUES (?, ?, ?, 'entries', ?, '[\"points: not a whole number\"]', '{}', ?)",
                         [(f"bench-{i}", *tills[i % len(tills)], i, at) for i in range(REJECT_ROWS)])
        conn.executemany("INSERT INTO audit (audit_id, at, user_id, user_name, store_id, action, target, reason,"
                         " detail) VALUES (?, ?, 'bench', 'olivia', ?, 'member.adjust', ?, 'goodwill', '{}')",
                         [(i, at, tills[i % len(tills)][0], f"M{i:07d}") for i in range(1, AUDIT_ROWS + 1)])
        conn.execute("INSERT INTO meta (key, value) VALUES ('audit_seq', ?) ON CONFLICT (key) DO UPDATE"
                     " SET value = excluded.value", (AUDIT_ROWS,))
        conn.execute("INSERT INTO meta (key, value) VALUES ('bench.console_seeded', 1)")
        conn.execute("COMMIT")
    finally:
        conn.close()

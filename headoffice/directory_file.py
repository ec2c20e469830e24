"""The member directory as one SQLite file in the till's own schema: what an empty till's first pull downloads.

Why: a till putting a million members and a million and a half cards in row by row (the JSON parts of
sync/snapshot.py) spends ~50 s in SQLite's inserts alone, whatever carries the rows. Here head office does that
work once per build: the till's schema comes from the till's own migrations (`pos_client.store.db.connect`, no
DDL written twice), the rows from one consistent read of head office (a SQLite head office ATTACHed read-only and
copied by SQL inside one transaction, as `snapshot_load` does; any other store through `Store.directory`), the
secondary indexes made after the load (one sort each), and the feed position of that read recorded inside the
file (`sync_state.snapshot_floor`) and in its `DirectoryInfo`. The till then copies the tables whole with
SQLite's transfer optimisation (sync/snapshot_file.py) and pulls the feed after the floor.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headoffice import snapshot_load
from headoffice.store.base import Store
from pos_client.store.db import connect, now_iso, schema_version, write_txn
from wire.snapshot import DIRECTORY_TABLES, DirectoryInfo

FLOOR_KEY = "snapshot_floor"  # where the file records its feed position (the till's sync_state table)
CACHE_KIB = -262_144  # 256 MB of page cache while building (the indexes are sorted once, after the load)
_BALANCES = ("INSERT INTO balances (member_id, points, updated_at) SELECT m.member_id, COALESCE(b.points, 0), ?"
             " FROM ho.members m LEFT JOIN ho.balances b ON b.member_id = m.member_id ORDER BY m.member_id")
_OPENING = "INSERT INTO opening_balances (member_id, points, floor) SELECT member_id, points, ? FROM balances" \
           " WHERE points <> 0 ORDER BY member_id"
# a member merged into one head office no longer lists (the parts' path does the same per part)
_PLACEHOLDERS = ("INSERT INTO members (member_id, store_id, status, created_at, updated_at)"
                 " SELECT merged_into, MIN(store_id), 'active', ?, ? FROM members WHERE merged_into IS NOT NULL"
                 " AND merged_into NOT IN (SELECT member_id FROM members) GROUP BY merged_into")


def build(store: Store, out_dir: Path) -> DirectoryInfo:
    """Build a directory file into `out_dir` (named by its sha256) and return what describes it."""
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = out_dir / f"building-{uuid.uuid4().hex}.db"
    started = time.perf_counter()
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # members' personal data: owner only
        conn = connect(tmp, backup_dir=out_dir / "backups")  # the till's schema, from its migrations
        try:
            floor, counts, schema = _fill(conn, store)
        finally:
            conn.close()
        size, digest = tmp.stat().st_size, file_sha256(tmp)
        name = f"directory-{digest[:16]}.db"
        os.replace(tmp, out_dir / name)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)
    return DirectoryInfo(ready=True, name=name, size=size, sha256=digest, floor=floor, schema=schema,
                         members=counts["members"], cards=counts["cards"],
                         built_at=datetime.now(UTC).isoformat(timespec="seconds"),
                         build_seconds=round(time.perf_counter() - started, 2))


def _fill(conn: sqlite3.Connection, store: Store) -> tuple[int, dict[str, int], str]:
    """The five tables, in one transaction: no journal (a failed build deletes the file), foreign keys off
    (merged members refer to each other), indexes after the load; the file ends in rollback-journal mode,
    one self-contained file."""
    schema = schema_version(conn) or ""
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF", f"cache_size={CACHE_KIB}"):
        conn.execute(f"PRAGMA {pragma}")
    ho_path = getattr(store, "path", None)  # a SqliteStore's file
    if ho_path is not None:
        snapshot_load.attach(conn, ho_path)
    ts = now_iso()
    try:
        with write_txn(conn):
            conn.execute("UPDATE sync_apply SET applying = 1")  # a directory queues nothing for a push
            indexes = _drop_indexes(conn)
            if ho_path is not None:  # one read of head office: the whole transaction reads one snapshot of it
                floor = int(conn.execute("SELECT value FROM ho.meta WHERE key = 'server_seq'").fetchone()[0])
                for sql in snapshot_load.DIRECTORY_LOAD:
                    conn.execute(sql)
                conn.execute(_BALANCES, (ts,))
            else:
                floor = store.directory(lambda table, rows: _put(conn, table, rows, ts))
            conn.execute(_PLACEHOLDERS, (ts, ts))
            conn.execute(_OPENING, (floor,))
            for sql in indexes:
                conn.execute(sql)
            conn.execute("UPDATE sync_apply SET applying = 0")
            conn.execute("INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                         " SET value = excluded.value", (FLOOR_KEY, str(floor)))
        counts = {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in ("members", "cards")}
    finally:
        if ho_path is not None:
            snapshot_load.detach(conn)
    conn.execute("PRAGMA journal_mode=DELETE")
    return floor, counts, schema


def _drop_indexes(conn: sqlite3.Connection) -> list[str]:
    """The directory tables' secondary indexes dropped (their SQL returned, to make again after the load)."""
    marks = ",".join("?" * len(DIRECTORY_TABLES))
    rows = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                        f" AND tbl_name IN ({marks})", DIRECTORY_TABLES).fetchall()
    for row in rows:
        conn.execute(f'DROP INDEX "{row[0]}"')
    return [str(row[1]) for row in rows]


def _put(conn: sqlite3.Connection, table: str, rows: list[tuple[Any, ...]], ts: str) -> None:
    """Rows `Store.directory` read (members with their consent text and balance, or cards), as the till
    stores them (the same columns as the parts' path, sync/snapshot.py)."""
    if table == "cards":
        conn.executemany("INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at,"
                         " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(c[0], c[1], c[2], c[3], c[4], c[5] or ts, c[6]) for c in rows])
        return
    conn.executemany("INSERT INTO members (member_id, store_id, name, phone, email, status, merged_into, created_at,"
                     " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [m[:7] + m[8:10] for m in rows])
    consents: dict[str, list[tuple[str, int]]] = {}  # a few distinct texts: each parsed once, not per member
    for m in rows:
        if m[7] not in consents:
            consents[m[7]] = [(ch, int(bool(g))) for ch, g in json.loads(m[7] or "{}").items()]
    conn.executemany("INSERT INTO member_consent (member_id, channel, granted, at) VALUES (?, ?, ?, ?)",
                     [(m[0], ch, g, m[9]) for m in rows for ch, g in consents[m[7]]])
    conn.executemany("INSERT INTO balances (member_id, points, updated_at) VALUES (?, ?, ?)",
                     [(m[0], int(m[10]), ts) for m in rows])


def file_sha256(path: Path, block: int = 1 << 20) -> str:
    """The file's sha256 in hex (read in 1 MB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()

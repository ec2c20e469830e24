"""An empty till's first pull as one file: download (resumable), check, copy whole (headoffice/directory_file.py).

Why: the parts (sync/snapshot.py) put a million members and a million and a half cards in row by row, ~50 s of
SQLite inserts on a till PC whatever carries them. Head office builds the same rows once into a file in the
till's own schema; the till downloads it beside its database (`<db>.directory`, HTTP Range from the bytes it
holds after a cut, the file's name and size kept in `sync_state` across restarts), checks its size and sha256,
ATTACHes it and copies each table with `INSERT INTO main.t SELECT * FROM dir.t`. On an empty table
with the same columns and indexes, no triggers and foreign keys off, SQLite's transfer optimisation copies the
records and index entries as they are, without decoding them (`transfers` checks that it applies: the statement
reads whole records, `RowData`, instead of columns). The copy, the triggers dropped and made again around it
and where the snapshot stands are one transaction; the feed then goes on from the file's floor.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import msgspec
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from pos_client.store import sync_state as state
from pos_client.store.context import TillContext
from pos_client.store.db import schema_version, write_txn
from sync.client import Gone, HeadOfficeClient, Offline, Refused
from sync.snapshot import AFTER, COUNT, DONE, FLOOR, INDEXES, TOTAL, WHAT, bulk
from wire.snapshot import DIRECTORY_TABLES, DirectoryInfo

HELD = "snapshot_file"  # sync_state: the DirectoryInfo (JSON) of the file being downloaded, for a resume
WAIT_S = 600.0  # how long a first pull waits for head office to build its first file before taking the parts
BYTES_WHAT = "member directory file (MB)"
COPY_WHAT = "member directory: tables copied"
Ticker = Callable[[int, int, str], None]  # (done, total, what is counted)


class Damaged(Offline):
    """The downloaded file is not the one head office described (size or sha256): fetched again."""


def usable(conn: sqlite3.Connection) -> bool:
    """A till whose directory tables and ledger are empty and that never began the parts takes the file."""
    if state.get(conn, AFTER) or state.get_int(conn, COUNT) or state.get(conn, INDEXES) is not None:
        return False
    return not any(conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in (*DIRECTORY_TABLES, "ledger"))


def pull_file(ctx: TillContext, client: HeadOfficeClient, *, tick: Ticker | None = None, attempts: int = 5,
              wait_s: float = WAIT_S) -> int | None:
    """The directory through a file; the members copied, or None when the file cannot serve this till (head
    office without the route, still building after `wait_s`, holding entries of this till, another schema):
    the parts then. A cut download is resumed up to `attempts` times here, else in the next round."""
    conn = ctx.conn
    path = part_path(conn)
    info = _fitting(conn, _held(conn) or _ready(client, wait_s))
    if info is None:
        forget(conn)
        return None
    fetch = retry(retry=retry_if_exception_type(Offline), stop=stop_after_attempt(attempts), reraise=True,
                  wait=wait_exponential(multiplier=0.5, max=8))(_download)
    try:
        fetch(conn, client, info, path, tick)
    except Gone:  # a newer file replaced the one this till had begun: start that one
        forget(conn)
        info = _fitting(conn, _ready(client, wait_s))
        if info is None:
            return None
        fetch(conn, client, info, path, tick)
    copied = copy_file(ctx, path, info, tick)
    forget(conn)
    return copied  # None: the till enrolled or sold meanwhile (its tables are not empty): the parts then


def forget(conn: sqlite3.Connection) -> None:
    """Delete a download (done or cut) and what said which file it was."""
    part_path(conn).unlink(missing_ok=True)
    conn.execute("DELETE FROM sync_state WHERE key = ?", (HELD,))


def _fitting(conn: sqlite3.Connection, info: DirectoryInfo | None) -> DirectoryInfo | None:
    """`info` if this till can take that file: no entries of this till at head office, the till's schema."""
    if info is None or info.own_entries or info.schema != (schema_version(conn) or ""):
        return None
    return info


def _ready(client: HeadOfficeClient, wait_s: float) -> DirectoryInfo | None:
    """The file head office serves, waiting while it builds its first one; None from a head office without
    directory files (an older one: 404) or when `wait_s` passed."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            info = client.directory()
        except Refused:
            return None
        if info.ready:
            return info
        if time.monotonic() + info.retry_after > deadline:
            return None
        time.sleep(max(0.05, info.retry_after))


def _download(conn: sqlite3.Connection, client: HeadOfficeClient, info: DirectoryInfo, path: Path,
              tick: Ticker | None) -> None:
    """Bring `path` to the whole file from the bytes it holds, then check it (a wrong file is deleted). The
    sha256 is taken as the bytes arrive (the bytes a cut left are read once, at the resume): reading a
    900 MB file again after the download cost a second and a half."""
    state.put(conn, **{HELD: msgspec.json.encode(info).decode()})
    mb = max(1, -(-info.size // 1_000_000))
    last = [-1]

    def shown(held: int) -> None:
        done = held // 1_000_000
        if tick is not None and done != last[0]:
            last[0] = done
            tick(min(done, mb), mb, BYTES_WHAT)

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # members' personal data: owner only
    with os.fdopen(fd, "r+b") as raw:
        out = _Hashed(raw)
        got = out.held
        if got < info.size:
            got = client.download(info.name, out, got, shown)
        digest = out.hexdigest()
    if got != info.size or digest != info.sha256:
        path.unlink(missing_ok=True)
        raise Damaged(f"directory file {info.name}: {got:,} bytes, not the {info.size:,} announced, or another"
                      " sha256: fetched again")


class _Hashed:
    """A file being downloaded, hashed as it is written: `seek` + `truncate` (where the download resumes, 0 for
    a whole new copy) then `write`s; the bytes already there are hashed once, when it is opened."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self.held = 0
        while chunk := raw.read(1 << 20):
            self._sha.update(chunk)
            self.held += len(chunk)

    def seek(self, offset: int) -> None:
        if offset != self.held:  # a 200 instead of a 206: the whole file again (or a shorter resume)
            self._raw.seek(0)
            self._sha, self.held = hashlib.sha256(), 0
            while self.held < offset and (chunk := self._raw.read(min(1 << 20, offset - self.held))):
                self._sha.update(chunk)
                self.held += len(chunk)
        self._raw.seek(offset)

    def truncate(self) -> None:
        self._raw.truncate()

    def write(self, data: bytes) -> None:
        self._raw.write(data)
        self._sha.update(data)
        self.held += len(data)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def copy_file(ctx: TillContext, path: Path, info: DirectoryInfo, tick: Ticker | None = None) -> int | None:
    """Copy the file's tables into the till's empty ones, in one transaction with where the snapshot stands
    (see the module); returns the members copied, None (nothing done) when the tables are no longer empty."""
    conn = ctx.conn
    # read-write on purpose: SQLite leaves a read-only database's CHECK constraints unparsed, and a source
    # without the destination's CHECKs does not qualify for the transfer (members, balances, cards have some)
    conn.execute("ATTACH DATABASE ? AS dir", (str(path.resolve()),))
    keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    try:
        recorded = conn.execute("SELECT value FROM dir.sync_state WHERE key = ?", (FLOOR,)).fetchone()
        if recorded is None or int(recorded[0]) != info.floor:
            raise Damaged(f"directory file {info.name} records no floor or another one than {info.floor}")
        conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before it
        with bulk(conn), write_txn(conn):
            if not usable(conn):
                return None
            triggers = _drop_triggers(conn)
            for i, table in enumerate(DIRECTORY_TABLES):
                conn.execute(f"INSERT INTO main.{table} SELECT * FROM dir.{table}")
                if tick is not None:
                    tick(i + 1, len(DIRECTORY_TABLES), COPY_WHAT)
            for sql in triggers:
                conn.execute(sql)
            members = int(conn.execute("SELECT COUNT(*) FROM members").fetchone()[0])
            state.put(conn, **{AFTER: "", FLOOR: info.floor, TOTAL: members, COUNT: members, DONE: 1})
    finally:
        conn.execute(f"PRAGMA foreign_keys = {int(keys)}")
        conn.execute("DETACH DATABASE dir")
    if tick is not None:
        tick(members, members, WHAT)
    return members


def transfers(conn: sqlite3.Connection, table: str) -> bool:
    """Whether `INSERT INTO main.t SELECT * FROM dir.t` would move whole records (SQLite's transfer
    optimisation: `RowData`) rather than decode and re-encode each row (`Column` + `MakeRecord`), as the
    connection stands now (foreign keys, triggers, `dir` attached)."""
    ops = {str(r[1]) for r in conn.execute(f"EXPLAIN INSERT INTO main.{table} SELECT * FROM dir.{table}")}
    return "RowData" in ops  # (the row-by-row path is still there after it: taken when the table is not empty)


def _drop_triggers(conn: sqlite3.Connection) -> list[str]:
    """Every trigger on the directory tables dropped (the transfer optimisation copies into a table with none);
    their SQL returned, to make them again in the same transaction."""
    marks = ",".join("?" * len(DIRECTORY_TABLES))
    rows = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({marks})",
                        DIRECTORY_TABLES).fetchall()
    for row in rows:
        conn.execute(f'DROP TRIGGER "{row[0]}"')
    return [str(row[1]) for row in rows]


def _held(conn: sqlite3.Connection) -> DirectoryInfo | None:
    """The file a cut download left (resumed before asking head office which file is current)."""
    held = state.get(conn, HELD)
    if not held:
        return None
    try:
        return msgspec.json.decode(held, type=DirectoryInfo)
    except msgspec.DecodeError:
        return None


def part_path(conn: sqlite3.Connection) -> Path:
    """Where the download goes: beside the till's database file."""
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return Path(f"{row[2]}.directory")
    raise RuntimeError("no main database")

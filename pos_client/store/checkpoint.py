"""WAL checkpoints off the sale path: a background thread with its own connection.

Why: SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL past
`wal_autocheckpoint` pages (default 1000). A sale touches ~14 pages (sales, lines, ledger and
their indexes, the balance), so every ~70th sale paid a whole checkpoint: copying the WAL into
the database file and fsyncing it (about 6 ms against 0.4 ms for the sale itself, measured by
`python -m bench`). The till process (the app) starts one `Checkpointer`: when the database
has been idle for a poll interval (no commit seen through `PRAGMA data_version`) it runs a
PASSIVE checkpoint on its own connection, so it neither blocks nor competes with a sale's
fsync; the till connection's automatic threshold is raised to a safety net that bounds the WAL
during a long rush or if the thread stops. Durability is unchanged: a commit is durable once its WAL frames are fsynced
(synchronous=FULL); a checkpoint only moves committed pages into the main file.

After a checkpoint that copied the whole WAL, the next write starts the WAL again from its beginning, and SQLite
fsyncs the new WAL header before that write's frames: a second fsync, which used to land on the first sale after
every pause (2% of the bench's sales, its p99). The checkpointer now starts the new WAL itself, in the same pause,
with a one-page write (`PRAGMA user_version` set to what it is), so every sale pays one fsync. It never
waits for the write lock (busy_timeout 0: a sale that holds it restarts the WAL itself, as before) and never
writes to a database marked damaged (`store.integrity`).

That write goes through the till's own connection when it has a `write_lock` (`store.db.connect`), taken without
waiting between two sales: a WAL header written by another connection makes SQLite drop the till connection's whole
page cache at its next read, so the first sale after every pause read ~70 pages again (+0.7 ms at 100k members, the
bench's p99: issue 15); the connection that restarted the WAL keeps its cache.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from pos_client.store.integrity import stop_file, stopped_at

log = logging.getLogger(__name__)

SAFETY_PAGES = 4_000  # ~16 MB of WAL (4 KB pages, ~280 sales) before a commit checkpoints by itself


class Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` whenever a poll `interval` passed without a commit."""

    def __init__(self, db_path: str | Path, interval: float = 0.1) -> None:
        self.db_path = str(db_path)
        self.interval = interval
        self.checkpoints = 0
        self.frames = 0
        self.restarts = 0
        self.restart_error: sqlite3.Error | None = None
        self.error: sqlite3.Error | None = None
        self.till: sqlite3.Connection | None = None  # the till's connection: the WAL restarts through it (`attach`)
        self._seen = 0  # the data_version the thread last saw (its own restart on the till's connection included)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, conn: sqlite3.Connection) -> None:
        """Keep the till connection's automatic checkpoint only as a safety net; restart the WAL through it."""
        conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
        self.till = conn

    def start(self) -> Checkpointer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def connection(self) -> sqlite3.Connection:
        """The checkpointer's own connection: it never waits for a lock (busy_timeout 0)."""
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=0")
        return conn

    def checkpoint_once(self, conn: sqlite3.Connection) -> int:
        """One passive checkpoint; returns the WAL frames it copied into the database. When it copied the
        whole WAL, the WAL is started again here (`restart_wal`) rather than by the next sale."""
        _busy, wal, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if done > 0:
            self.checkpoints += 1
            self.frames += done
            if done == wal and self.restart_error is None and self.restart_wal(conn):
                self.restarts += 1
        return int(done)

    def restart_wal(self, conn: sqlite3.Connection) -> bool:
        """Start the WAL again with a one-page write (its header fsync lands here, not on a sale), on the till's
        connection when attached to one with a `write_lock`, else on `conn` (this thread's own); False when a sale
        holds the write lock or the database is marked damaged. An error other than busy (a read-only file) turns
        restarts off, and is kept in `restart_error`; checkpoints go on."""
        if stopped_at(str(stop_file(Path(self.db_path)))) is not None:
            return False
        lock = getattr(self.till, "write_lock", None)
        if self.till is None or lock is None:
            return self._restart(conn)
        if not lock.acquire(blocking=False):  # a sale is being written on it: never wait for it
            return False
        try:
            if self.till.in_transaction:
                return False
            wait = int(self.till.execute("PRAGMA busy_timeout").fetchone()[0])
            self.till.execute("PRAGMA busy_timeout=0")  # another connection's writer: skip, do not wait
            try:
                done = self._restart(self.till)
            finally:
                self.till.execute(f"PRAGMA busy_timeout={wait}")
            self._seen = int(conn.execute("PRAGMA data_version").fetchone()[0])  # this write is not a sale's
            return done
        finally:
            lock.release()

    def _restart(self, conn: sqlite3.Connection) -> bool:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return False
            self.restart_error = exc
            return False
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version = {version}")  # the same value: only page 1 is written
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.restart_error = exc
            log.warning("WAL restart by the checkpointer for %s failed: %s (sales restart it, as before)",
                        self.db_path, exc)
            return False
        return True

    def _run(self) -> None:
        conn = self.connection()
        try:
            self._seen = int(conn.execute("PRAGMA data_version").fetchone()[0])
            dirty = True
            while not self._stop.wait(self.interval):
                version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                if version != self._seen:  # commits since the last poll: the till is busy, wait for a pause
                    self._seen, dirty = version, True
                elif dirty:
                    self.checkpoint_once(conn)
                    dirty = False
        except sqlite3.Error as exc:  # reported, never raised into the till: the safety net still holds
            self.error = exc
            log.warning("WAL checkpointer for %s stopped: %s (commits checkpoint by themselves now)", self.db_path, exc)
        finally:
            conn.close()

    def __enter__(self) -> Checkpointer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_checkpointer(conn: sqlite3.Connection, db_path: str | Path, interval: float = 0.1) -> Checkpointer:
    """Attach to the till connection and start the background checkpoints (the app calls this once)."""
    cp = Checkpointer(db_path, interval)
    cp.attach(conn)
    return cp.start()

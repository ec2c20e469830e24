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
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

SAFETY_PAGES = 4_000  # ~16 MB of WAL (4 KB pages, ~280 sales) before a commit checkpoints by itself


class Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` whenever a poll `interval` passed without a commit."""

    def __init__(self, db_path: str | Path, interval: float = 0.1) -> None:
        self.db_path = str(db_path)
        self.interval = interval
        self.checkpoints = 0
        self.frames = 0
        self.error: sqlite3.Error | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, conn: sqlite3.Connection) -> None:
        """Keep the till connection's automatic checkpoint only as a safety net."""
        conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")

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

    def checkpoint_once(self, conn: sqlite3.Connection) -> int:
        """One passive checkpoint; returns the WAL frames it copied into the database."""
        _busy, _log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if done > 0:
            self.checkpoints += 1
            self.frames += done
        return int(done)

    def _run(self) -> None:
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=0")
            seen = conn.execute("PRAGMA data_version").fetchone()[0]
            dirty = True
            while not self._stop.wait(self.interval):
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != seen:  # commits since the last poll: the till is busy, wait for a pause
                    seen, dirty = version, True
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

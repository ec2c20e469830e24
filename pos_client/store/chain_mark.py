"""Where the ledger's hash chain was last verified whole, and who is verifying it now (issue 10).

Why: the day's upkeep used to run `PRAGMA integrity_check` and the whole chain before writing; at 1M members
(5 GB, 10M entries) that took ~17 minutes of a 14-day catch-up. The till already verifies the whole chain in
the background every time it opens (`integrity.check_on_open`). That check leaves a mark beside the database
(`till.db.checked`, JSON: the ledger's last rowid it covered and that entry's id), so the upkeep verifies only
the entries appended after it; a mark whose entry is no longer there (a restored or replaced database) counts
as no mark. While a check runs it holds `till.db.checking` (flock); an upkeep with no valid mark yet waits for
it instead of doing the same work twice. The mark also keeps when the last whole check ran (`whole_at`): on a
large database the opening check does the whole check at most once a day and otherwise verifies only the
entries appended since the mark (issue 15: at 5 GB the whole check read the file at every start, and the
swipes and the start-up of the first minutes waited on its reads).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

MARK_SUFFIX = ".checked"
LOCK_SUFFIX = ".checking"
_WAIT_S = 0.2  # between two tries for the lock: the stop event (the app closing) is looked at this often


class Mark(NamedTuple):
    """The ledger's last rowid a verification covered, that entry's id (None: an empty ledger)."""

    rowid: int
    entry_id: str | None


def mark_file(db: Path) -> Path:
    return db.with_name(db.name + MARK_SUFFIX)


def upto(conn: sqlite3.Connection) -> Mark:
    """The ledger's last row now: what a verification that starts now covers (rows are only appended)."""
    row = conn.execute("SELECT rowid, entry_id FROM ledger ORDER BY rowid DESC LIMIT 1").fetchone()
    return Mark(int(row[0]), str(row[1])) if row else Mark(0, None)


def record(db: Path, mark: Mark, how: str, *, whole: bool = False) -> None:
    """Write the mark after a verification found the chain intact up to it (atomically, for every process).
    `whole`: it was a whole check (the file's pages and the whole chain); its time is kept as `whole_at`,
    carried over by the marks of checks that verify only what was appended since (`whole_within`)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    body = {"rowid": mark.rowid, "entry_id": mark.entry_id, "how": how, "at": now,
            "whole_at": now if whole else _read(db).get("whole_at")}
    target = mark_file(db)
    staged = target.with_name(target.name + ".tmp")
    try:
        staged.write_text(json.dumps(body), encoding="utf-8")
        os.replace(staged, target)
    except OSError:  # a read-only disk: the next upkeep verifies the whole chain again
        pass


def _read(db: Path) -> dict[str, Any]:
    try:
        body = json.loads(mark_file(db).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def whole_within(db: Path, seconds: float) -> bool:
    """True when the last whole check (quick_check and the whole chain) found the database sound less than
    `seconds` ago: the opening check of a large database then verifies only the entries appended since."""
    try:
        at = datetime.fromisoformat(str(_read(db)["whole_at"]))
    except (KeyError, ValueError):
        return False
    age = (datetime.now(UTC) - at).total_seconds()
    return 0 <= age < seconds


def valid(db: Path, conn: sqlite3.Connection) -> Mark | None:
    """The recorded mark if this database still holds its entry at its rowid, else None."""
    try:
        body = json.loads(mark_file(db).read_text(encoding="utf-8"))
        mark = Mark(int(body["rowid"]), body["entry_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if mark.rowid == 0:
        return mark
    row = conn.execute("SELECT entry_id FROM ledger WHERE rowid = ?", (mark.rowid,)).fetchone()
    return mark if row is not None and row[0] == mark.entry_id else None


@contextmanager
def checking(db: Path, stop: threading.Event | None = None) -> Iterator[bool]:
    """Hold the "a check is running" lock while the body runs, waiting for a check already running (the
    app's background check); yields False when `stop` came first (nothing was checked: write nothing)."""
    try:
        fd = os.open(db.with_name(db.name + LOCK_SUFFIX), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # a read-only directory: nothing can be coordinated, and each check does its own work
        yield True
        return
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop is not None and stop.is_set():
                    yield False
                    return
                (stop.wait if stop is not None else time.sleep)(_WAIT_S)
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases its lock

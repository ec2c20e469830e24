"""What the till did in the background while a figure timed its starts: the opening check, a backup, upkeep.

Why: a till opened on a 5 GB database begins its opening check (`store.integrity.check_on_open`: quick_check
and the whole hash chain, in a background thread, when its last whole check is a day old; else the chain of
the entries appended since its mark) and, in the app, a backup when none is recent
(`till.backup_scheduler`). Both read the whole file; a figure that times lookups or starts meanwhile measures
them too. The bench's copy is made to look like a kept till (`bench.scratch`: a real backup at setup), and
this module says what still ran, from outside the till: the `till.db.checking` flock held (read in
/proc/locks, never taken, so no check is delayed), a backup's temporary file present or a new backup
written, and days of upkeep the till's scheduler finished (`upkeep_runs`, read before and after through a
read-only connection: a month's catch-up at a timed start is what once made the swipe miss). Each start-up
figure prints the result as a note.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from pos_client.store.backup import PREFIX, SUFFIX, backup_dir
from pos_client.store.chain_mark import LOCK_SUFFIX
from pos_client.store.config import load_config

POLL_S = 0.25  # a look every quarter second: cheap (a stat, one small /proc read, one listdir)
CHECK_THREAD = "till-db-check"  # the thread name `integrity.check_on_open` gives its background pass


def _flocked(path: Path) -> bool:
    """True when some process holds a flock on `path` (by inode in /proc/locks)."""
    try:
        ino = os.stat(path).st_ino
        locks = Path("/proc/locks").read_text()
    except OSError:
        return False
    for line in locks.splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(ino):
            return True
    return False


def _upkeep_days(db: Path) -> tuple[int, str | None] | None:
    """How many days of upkeep the till at `db` has recorded, and the last; None when it cannot say."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)) as conn:
            count, last = conn.execute("SELECT COUNT(*), MAX(day) FROM upkeep_runs").fetchone()
    except sqlite3.Error:  # no till there yet, or a file without the table (the wire figure's env)
        return None
    return int(count), last


def _backup_files(directory: Path) -> tuple[set[str], bool]:
    """The backups in `directory` and whether one is being written (its temporary file)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return set(), False
    done = {n for n in names if n.startswith(PREFIX) and n.endswith(SUFFIX)}
    writing = any(n.startswith("." + PREFIX) and n.endswith(".tmp") for n in names)
    return done, writing


@dataclass
class Watch:
    """Polls, in a daemon thread, what the till at `db` does in the background; `words()` after `stop()`."""

    db: Path
    polls: int = 0
    checking: int = 0
    backing_up: int = 0
    new_backups: set[str] = field(default_factory=set)
    upkeep_days: int = 0  # days of upkeep finished during the watch
    upkeep_through: str | None = None
    _upkeep_before: tuple[int, str | None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Watch:
        backups = self._backups
        before, _ = _backup_files(backups)
        self._upkeep_before = _upkeep_days(self.db)
        self._thread = threading.Thread(target=self._loop, args=(backups, before), name="bench-bg-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        after = _upkeep_days(self.db)
        if self._upkeep_before is not None and after is not None and after[0] > self._upkeep_before[0]:
            self.upkeep_days, self.upkeep_through = after[0] - self._upkeep_before[0], after[1]

    @property
    def _backups(self) -> Path:
        return backup_dir(self.db.parent, load_config(self.db.parent))

    def _loop(self, backups: Path, before: set[str]) -> None:
        lock = self.db.with_name(self.db.name + LOCK_SUFFIX)
        while not self._stop.is_set():
            done, writing = _backup_files(backups)
            self.polls += 1
            self.checking += _flocked(lock)
            self.backing_up += writing
            self.new_backups |= done - before
            self._stop.wait(POLL_S)

    @property
    def none(self) -> bool:
        return not (self.checking or self.backing_up or self.new_backups or self.upkeep_days)

    def words(self) -> str:
        if self.none:
            return f"background work during the timed starts: none ({self.polls} looks, every {POLL_S} s)"
        parts = []
        if self.checking:
            parts.append(f"the opening check running in {self.checking} of "
                         f"{self.polls} looks")
        if self.backing_up or self.new_backups:
            parts.append(f"a backup being written in {self.backing_up} of {self.polls} looks, "
                         f"{len(self.new_backups)} new backup(s)")
        if self.upkeep_days:
            parts.append(f"{self.upkeep_days} day(s) of upkeep run, through {self.upkeep_through}")
        return "background work during the timed starts: " + "; ".join(parts)


def finish_opening_check(timeout: float = 900.0) -> str:
    """Wait for this process's opening check (untimed), so a figure times the till as it sells all day and
    not the minutes after it opened; says how long it waited, and whether the check finished."""
    t0 = time.perf_counter()
    left = [t for t in threading.enumerate() if t.name == CHECK_THREAD]
    for thread in left:
        thread.join(max(0.0, timeout - (time.perf_counter() - t0)))
    waited = time.perf_counter() - t0
    if any(t.is_alive() for t in left):
        return f"open_till's opening check still running after {waited:.0f} s (untimed wait): it ran on meanwhile"
    return f"open_till's opening check finished before the timed passes ({waited:.1f} s, untimed)"

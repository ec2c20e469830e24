"""Which directory file head office serves, and building a new one when none is there or it got old.

The files live in one directory (beside a SQLite head office's file, or `--directory-cache`), shared by every
worker of `headoffice serve --workers N` on this host: `current.json` names the file served now (replaced by a
rename, so a reader sees the old or the new, never half), one build at a time across processes (an exclusive
`flock` on `build.lock`, taken without waiting: a worker that finds it held answers "being built"). A stale
file is still served while its successor is built in the background (a till that takes it pulls more of the
feed after it, nothing is lost); the previous file stays, so a till half way through its download resumes it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from headoffice import directory_file
from headoffice.paths import beside_store
from headoffice.store.base import Principal, Store
from wire.snapshot import DirectoryInfo

MAX_AGE_S = 900.0  # a file older than this is rebuilt (in the background) once the feed has moved past it
RETRY_AFTER_S = 2.0  # what a till is told to wait while the first file is built
FIRST_WAIT_S = 1.0  # how long the first ask waits for the build it started (a small directory: answered at once)
KEEP = 2  # files kept: the current one and the one before (downloads in flight finish or resume)
ENV = "HEADOFFICE_DIRECTORY"
log = logging.getLogger(__name__)


def cache_dir(db_url: str, explicit: str | None = None) -> Path:
    """--directory-cache, $HEADOFFICE_DIRECTORY, beside a SQLite head office, else a directory of this host's
    temporary files named after the database URL (its workers share it; another database never does)."""
    return (beside_store(db_url, explicit, ENV, ".directory")
            or Path(tempfile.gettempdir()) / f"headoffice-directory-{directory_file.text_sha256(db_url)[:16]}")


class DirectoryFiles:
    """The directory files of one head office store (see the module)."""

    def __init__(self, store: Store, root: Path, max_age_s: float = MAX_AGE_S,
                 first_wait_s: float = FIRST_WAIT_S) -> None:
        self.store = store
        self.root = root
        self.max_age_s = max_age_s
        self.first_wait_s = first_wait_s
        self._builder: threading.Thread | None = None
        self._guard = threading.Lock()

    def info(self, who: Principal) -> tuple[int, DirectoryInfo]:
        """(200, the file to download) or (202, not ready: one is being built)."""
        current = self.current()
        if current is None or self._stale(current):
            self.build_in_background()
        if current is None:
            self.wait(self.first_wait_s)
            current = self.current()
        if current is None:
            return 202, DirectoryInfo(ready=False, retry_after=RETRY_AFTER_S)
        return 200, msgspec.structs.replace(current, own_entries=self.store.has_entries(who))

    def current(self) -> DirectoryInfo | None:
        try:
            info = msgspec.json.decode((self.root / "current.json").read_bytes(), type=DirectoryInfo)
        except (FileNotFoundError, msgspec.DecodeError):
            return None
        return info if (self.root / info.name).is_file() else None

    def path(self, name: str) -> Path | None:
        """A file this head office built and still keeps (`name` is checked by the route's pattern)."""
        path = self.root / name
        return path if path.is_file() else None

    def build_now(self) -> DirectoryInfo | None:
        """Build a file here and now, unless another process or thread is building one (None then)."""
        with _exclusive(self.root / "build.lock") as held:
            if not held:
                return None
            current = self.current()
            if current is not None and not self._stale(current):  # another worker built it meanwhile
                return current
            info = directory_file.build(self.store, self.root)
            self._publish(info)
            return info

    def build_in_background(self) -> None:
        """Start a build on a thread of this process unless one is running (here or in another worker)."""
        with self._guard:
            if self._builder is not None and self._builder.is_alive():
                return
            self._builder = threading.Thread(target=self._build_logged, name="directory-build", daemon=True)
            self._builder.start()

    def wait(self, timeout: float | None = None) -> None:
        """Until this process's background build (if any) ends."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)

    def _build_logged(self) -> None:
        try:
            info = self.build_now()
        except Exception:  # a failed build is retried by the next till that asks; the old file stays served
            log.exception("directory file build failed")
            return
        if info is not None:
            log.info("directory file %s built in %.1f s (%d members, floor %d)", info.name, info.build_seconds,
                     info.members, info.floor)

    def _stale(self, info: DirectoryInfo) -> bool:
        built = datetime.fromisoformat(info.built_at)
        if (datetime.now(UTC) - built).total_seconds() < self.max_age_s:
            return False
        return self.store.feed_top() > info.floor

    def _publish(self, info: DirectoryInfo) -> None:
        """Make `info` the current file (an atomic rename) and delete all but the newest KEEP files."""
        tmp = self.root / f"current.json.{os.getpid()}"
        tmp.write_bytes(msgspec.json.encode(info))
        os.replace(tmp, self.root / "current.json")
        files = sorted(self.root.glob("directory-*.db"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:
            if old.name != info.name:
                old.unlink(missing_ok=True)



@contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """An exclusive flock on `path` if no one holds it (True), else False at once: never waits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

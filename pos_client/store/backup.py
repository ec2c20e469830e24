"""Backups of the till database that are known to restore, and restoring one.

A backup is SQLite's online backup of the live database (the till keeps selling), written under a
temporary name, checked (`PRAGMA integrity_check`, every balance equal to the sum of its ledger
entries, as many entries as the database held at that instant) and only then renamed to
`till-<UTC time>.db`: a file with that name is a verified backup. The last `[backup] keep` are kept
in `[backup] dir` (default `<home>/backups`), and each is copied, atomically and best effort, to
every `[backup] copy_to` directory (a USB stick, a network share). Files are 0600, directories 0700
(members' personal data). The head-office token is not in them: it lives in `<home>/secrets/token`
(`token_file`), and a copy's token row is blanked before the copy gets its name. A backup restored on the
same till reads that file again; restored on another machine, the till is registered again.

Restoring marks a registered till "restored" (`till_state.restored_seq`): until its next sync has
fetched back from head office what it pushed after the backup (`sync.recover`), it adds no ledger
entry, so it never reuses a sequence number head office already holds.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pos_client.domain.errors import Conflict, NotFound, PosError
from pos_client.store.config import Config
from pos_client.store.db import (
    BACKUP_DIR_NAME,
    check_not_newer,
    connect,
    migration_names,
    now_iso,
    online_copy,
    write_txn,
)
from pos_client.store.home import db_path
from pos_client.store.integrity import points_rows, stop_file
from pos_client.store.token_file import blank_in_db

PREFIX, SUFFIX = "till-", ".db"
STAMP = "%Y%m%dT%H%M%S%fZ"
STALE_TMP_S = 600  # a copy in progress writes its file continuously: one untouched this long has no writer left
DEFAULT_KEEP = 10
RESTORED_SEQ = "restored_seq"  # till_state: the till's own high seq in the backup it was restored from


class BackupError(PosError):
    """A backup could not be written or failed its check (exit 1: the till's own data is untouched)."""



def balances_off_ledger(conn: sqlite3.Connection) -> int:
    """How many members' `balances` row differs from the sum of their `ledger` entries (the till's and head
    office's tables have the same two columns; a till's first pull adds `opening_balances`): 0 for a sound copy."""
    return int(conn.execute(
        f"SELECT COUNT(*) FROM (SELECT member_id, SUM(points) AS s FROM ({points_rows(conn)}) GROUP BY member_id) l"
        " FULL OUTER JOIN balances b USING (member_id) WHERE COALESCE(l.s, 0) != COALESCE(b.points, 0)"
    ).fetchone()[0])

def backup_dir(home: Path, config: Config) -> Path:
    """Where backups go: `[backup] dir` (relative to the home), default `<home>/backups`."""
    configured = config.section("backup").get("dir")
    return home / str(configured) if configured else home / BACKUP_DIR_NAME


def keep_count(config: Config) -> int:
    """`[backup] keep` (default 10): how many backups each directory keeps."""
    keep = config.section("backup").get("keep", DEFAULT_KEEP)
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise BackupError(f"[backup] keep must be a whole number of at least 1, not {keep!r}")
    return keep


def copy_targets(config: Config) -> list[Path]:
    """`[backup] copy_to`: extra directories every backup is copied to."""
    targets = config.section("backup").get("copy_to") or []
    if isinstance(targets, str) or not all(isinstance(t, str) and t.strip() for t in targets):
        raise BackupError('[backup] copy_to must be a list of directories, e.g. ["/media/usb"]')
    return [Path(t) for t in targets]


@dataclass(frozen=True)
class Check:
    """What a backup was checked to hold."""

    entries: int
    members: int
    points: int


@dataclass
class BackupReport:
    path: Path
    at: datetime
    check: Check
    size: int
    seconds: float
    copies: list[str] = field(default_factory=list)
    copy_errors: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "at": self.at.isoformat(), "entries": self.check.entries,
                "members": self.check.members, "points": self.check.points, "bytes": self.size,
                "seconds": round(self.seconds, 3), "copies": self.copies, "copy_errors": self.copy_errors,
                "removed": self.removed}


def _counts(conn: sqlite3.Connection) -> tuple[int, int]:
    row = conn.execute("SELECT COUNT(*), COALESCE(SUM(points), 0) FROM ledger").fetchone()
    return int(row[0]), int(row[1])


def verify(path: Path, *, entries: int | None = None) -> Check:
    """Check a database file: integrity, every balance = the sum of its ledger, and (when given) the
    entry count it must hold. Raises BackupError saying what is wrong."""
    if not path.is_file():
        raise NotFound(f"no backup file {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened: {exc}") from None
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError(f"{path} is damaged: {'; '.join(str(r) for r in result[:3])}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"ledger", "balances", "members"} <= tables:
            raise BackupError(f"{path} is not a till database (no ledger)")
        wrong = balances_off_ledger(conn)
        if wrong:
            raise BackupError(f"{path}: {wrong} member balance(s) differ from the sum of their ledger entries")
        count, points = _counts(conn)
        if entries is not None and count != entries:
            raise BackupError(f"{path} holds {count} ledger entries, the till held {entries}")
        members = int(conn.execute("SELECT COUNT(*) FROM members").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable till database: {exc}") from None
    finally:
        conn.close()
    return Check(count, members, points)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def snapshot(conn: sqlite3.Connection, dest: Path) -> Check:
    """Online backup of `conn` to `dest`, checked against the entry count of the same instant."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    sweep_stale(dest.parent)
    reader = conn.execute("PRAGMA database_list").fetchone()
    src = sqlite3.connect(f"file:{reader[2]}?mode=ro", uri=True, isolation_level=None) if reader[2] else None
    try:
        if src is None:  # an in-memory database (tests): copy it as it is
            count, _ = _counts(conn)
            online_copy(conn, tmp)
        else:  # one read transaction: the count and the copy see the same snapshot
            src.execute("BEGIN")
            count, _ = _counts(src)
            online_copy(src, tmp)
            src.execute("COMMIT")
        _without_token(tmp)
        check = verify(tmp, entries=count)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"backup to {dest.parent} failed: {exc}") from None
    except OSError as exc:
        raise BackupError(f"backup to {dest.parent} failed: {exc.strerror or exc}") from None
    finally:
        if src is not None:
            src.close()
        tmp.unlink(missing_ok=True)
    return check


def sweep_stale(directory: Path, now: float | None = None) -> list[str]:
    """Remove half-made copies a dead process left (`finally` never ran: the app killed or closed mid-copy).

    Why: each is the size of the database; a bench run that started and killed a 5 GB till left nine of
    them (50 GB, the disk full). A copy still being written is kept: its file changed within STALE_TMP_S."""
    cutoff = (time.time() if now is None else now) - STALE_TMP_S
    removed = []
    for p in directory.glob(f".{PREFIX}*{SUFFIX}.tmp") if directory.is_dir() else ():
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink()
                removed.append(p.name)
        except FileNotFoundError:
            continue
    return removed


def _without_token(path: Path) -> None:
    """A backup never carries the head-office token (an older till's row, not yet moved to its file)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sync_state'").fetchone():
            blank_in_db(conn)
    finally:
        conn.close()


def _write_copy(source: Path, dest: Path) -> Path:
    """Copy a file to `dest` under a temporary name, synced, then renamed: never half a file there."""
    _private_dir(dest.parent)
    tmp = dest.with_name(f".{dest.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with source.open("rb") as src, os.fdopen(fd, "wb") as out:
            fd = -1
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
    return dest


def backups_in(directory: Path) -> list[tuple[Path, datetime]]:
    """The verified backups in a directory, oldest first (by the time in their names)."""
    out = []
    if directory.is_dir():
        for p in directory.glob(f"{PREFIX}*{SUFFIX}"):
            try:
                at = datetime.strptime(p.name[len(PREFIX):-len(SUFFIX)], STAMP).replace(tzinfo=UTC)
            except ValueError:
                continue
            out.append((p, at))
    return sorted(out, key=lambda x: x[1])


def prune(directory: Path, keep: int) -> list[str]:
    """Remove all but the newest `keep` backups; returns the names removed."""
    old = backups_in(directory)[:-keep]
    for p, _ in old:
        p.unlink(missing_ok=True)
    return [p.name for p, _ in old]


def latest_backup(home: Path, config: Config) -> tuple[Path, datetime] | None:
    """The newest verified backup in the backup directory and its time (UTC), or None."""
    found = backups_in(backup_dir(home, config))
    return found[-1] if found else None


def back_up(conn: sqlite3.Connection, home: Path, config: Config, *, to: Path | None = None) -> BackupReport:
    """One backup now: written, checked, the old ones pruned, copied to `[backup] copy_to`.

    `to` replaces the configured directory for this backup. A copy that fails (a USB stick not
    there) is reported in `copy_errors`, never fatal: the local backup stands."""
    started = time.perf_counter()
    directory = _private_dir(to if to is not None else backup_dir(home, config))
    keep = keep_count(config)
    at = datetime.now(UTC)
    dest = directory / f"{PREFIX}{at.strftime(STAMP)}{SUFFIX}"
    check = snapshot(conn, dest)
    report = BackupReport(dest, at, check, dest.stat().st_size, 0.0, removed=prune(directory, keep))
    for target in copy_targets(config):
        try:
            report.copies.append(str(_write_copy(dest, target / dest.name)))
            report.removed += [f"{target}/{n}" for n in prune(target, keep)]
        except OSError as exc:
            report.copy_errors.append(f"{target}: {exc.strerror or exc}")
    report.seconds = time.perf_counter() - started
    return report


# --- restore ------------------------------------------------------------------------------------

@dataclass
class RestoreReport:
    restored: Path
    replaced: Path | None
    check: Check
    own_seq: int
    recovery_pending: bool

    def as_dict(self) -> dict[str, Any]:
        return {"restored_from": str(self.restored), "replaced_kept_as": str(self.replaced) if self.replaced else None,
                "entries": self.check.entries, "members": self.check.members, "own_seq": self.own_seq,
                "recovery_pending": self.recovery_pending}


def _ledger_mark(path: Path, store_id: str, till_id: str) -> tuple[int, str]:
    """(own highest seq, newest entry time) of a till database: how far its ledger reaches."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM ledger WHERE store_id = ? AND till_id = ?",
                           (store_id, till_id)).fetchone()
        newest = conn.execute("SELECT COALESCE(MAX(created_at), '') FROM ledger").fetchone()
        return int(row[0]), str(newest[0])
    finally:
        conn.close()


def _schema_of(path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def _keep_current(current: Path, directory: Path) -> Path | None:
    """Keep the database being replaced beside the backups (a consistent copy when it opens, else its files)."""
    if not current.exists():
        return None
    kept = _private_dir(directory) / f"replaced-{datetime.now(UTC).strftime(STAMP)}{SUFFIX}"
    try:
        conn = sqlite3.connect(str(current), isolation_level=None)
        try:
            online_copy(conn, kept)
        finally:
            conn.close()
    except sqlite3.Error:  # a damaged database is why one restores: keep its bytes as they are
        kept.unlink(missing_ok=True)
        for suffix in ("", "-wal"):
            if Path(f"{current}{suffix}").exists():
                _write_copy(Path(f"{current}{suffix}"), Path(f"{kept}{suffix}"))
    return kept


def restore(home: Path, config: Config, source: Path, *, force: bool = False) -> RestoreReport:
    """Replace the till's database with a verified backup; the replaced file is kept in the backup dir.

    Refused (Conflict, exit 3) when the current ledger reaches further than the backup's, unless
    `force`. The app must not be running (it holds the database open)."""
    source = Path(source)
    check = verify(source)
    check_not_newer(_schema_of(source), migration_names())
    current = db_path(home)
    store_id, till_id = config.store_id, config.till_id
    backup_seq, backup_newest = _ledger_mark(source, store_id, till_id)
    if current.exists() and not force:
        try:
            current_seq, current_newest = _ledger_mark(current, store_id, till_id)
        except sqlite3.Error:
            current_seq, current_newest = 0, ""  # unreadable: nothing newer to protect
        if current_seq > backup_seq or current_newest > backup_newest:
            raise Conflict(f"the till's ledger is newer than this backup (own entries up to seq {current_seq},"
                           f" last entry {current_newest[:19] or '-'}; the backup: seq {backup_seq},"
                           f" {backup_newest[:19] or '-'}): add --force to replace it (the current database"
                           " is kept in the backup directory)")
    replaced = _keep_current(current, backup_dir(home, config))
    staged = _write_copy(source, home / f".restore-{current.name}")  # whole and synced before anything goes
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{current}{suffix}").unlink(missing_ok=True)
    os.replace(staged, current)
    stop_file(current).unlink(missing_ok=True)  # a damaged database (store.integrity) is replaced: write again
    _fsync_dir(home)
    conn = connect(current, backup_dir=backup_dir(home, config))
    try:
        # the row stays (emptied) when the token moved to its file: it marks a till that was registered
        registered = conn.execute("SELECT 1 FROM sync_state WHERE key = 'token'").fetchone()
        if registered:
            with write_txn(conn):
                conn.execute("INSERT INTO till_state (key, value) VALUES (?, ?) ON CONFLICT(key)"
                             " DO UPDATE SET value = excluded.value", (RESTORED_SEQ, str(backup_seq)))
                conn.execute("INSERT INTO till_state (key, value) VALUES ('restored_at', ?) ON CONFLICT(key)"
                             " DO UPDATE SET value = excluded.value", (now_iso(),))
    finally:
        conn.close()
    return RestoreReport(source, replaced, check, backup_seq, bool(registered))


def restored_seq(conn: sqlite3.Connection) -> int | None:
    """The own seq the till was restored at, while head office has not yet sent back what came after."""
    row = conn.execute("SELECT value FROM till_state WHERE key = ?", (RESTORED_SEQ,)).fetchone()
    return int(row[0]) if row else None

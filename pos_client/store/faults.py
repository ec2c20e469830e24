"""Storage faults in words: what failed, that nothing was recorded, what to do (issue 11, finding 8).

Why one place: SQLite and the OS report a full disk, a read-only file, a file-size limit or a damaged
database as bare error codes ("database or disk is full", errno 27). `db.write_txn` turns the ones raised
inside a write into a `StorageFault` (its transaction rolled back: nothing was recorded), and the CLI and
the app word any other that escapes with `describe`; the traceback goes to the till's log only.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from pos_client.domain.errors import StorageFault

# SQLite's primary result codes that mean the storage, not the request, failed.
_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_FULL = {13}  # SQLITE_FULL (a full disk, or the file-size limit)
_READONLY = {8, 3}  # SQLITE_READONLY, SQLITE_PERM
_IO = {10}  # SQLITE_IOERR
_CANTOPEN = {14}  # SQLITE_CANTOPEN (a read-only directory cannot take the WAL's -shm file either)
STORAGE_CODES = _CORRUPT | _FULL | _READONLY | _IO | _CANTOPEN

RESTORE_ADVICE = ("restore the latest good backup (`pos-client restore FILE --force`: the newest"
                  " till-*.db in the backup directory, `pos-client doctor` names it); on a registered till the"
                  " restore then brings back from head office everything pushed after that backup")


def _primary(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_storage_error(exc: BaseException) -> bool:
    """A fault of the disk or the database file (not of the request): worded by `describe`."""
    if isinstance(exc, sqlite3.Error):
        code = _primary(exc)
        if code is not None:
            return code in STORAGE_CODES
        text = str(exc).lower()
        return any(w in text for w in ("malformed", "not a database", "disk is full", "readonly", "disk i/o",
                                       "unable to open"))
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)


def is_damage(exc: sqlite3.Error) -> bool:
    """SQLite found the database file itself damaged (not the disk full or read-only)."""
    text = str(exc).lower()
    return _primary(exc) in _CORRUPT or "malformed" in text or "not a database" in text


def read_only_fs(where: Path | None) -> bool:
    """The filesystem holding `where` (the till's home) is mounted read-only."""
    try:
        return where is not None and bool(os.statvfs(where).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def describe(exc: BaseException, *, recorded: str = "nothing was recorded", where: Path | None = None) -> str:
    """One paragraph for a cashier or a script: what failed, what was (not) recorded, what to do.

    `where` (the till's home) lets a failure to open be told apart as a read-only disk."""
    if read_only_fs(where) and (isinstance(exc, OSError) or (isinstance(exc, sqlite3.Error) and not is_damage(exc))):
        return (f"the till's disk is mounted read-only ({where}; {exc}); {recorded}. Remount it read-write"
                " (or move the till's home to a writable disk) and try again.")
    if isinstance(exc, sqlite3.Error):
        code = _primary(exc)
        text = str(exc).lower()
        if code in _CORRUPT or "malformed" in text or "not a database" in text:
            return (f"the till database is damaged (SQLite: {exc}); {recorded}. The till will not write to it:"
                    f" {RESTORE_ADVICE}.")
        if code in _FULL or "disk is full" in text:
            return (f"the disk is full or the till database reached the file-size limit (SQLite: {exc});"
                    f" {recorded}. Free space on the disk (old logs, old backups elsewhere) and try again.")
        if code in _READONLY or "readonly" in text:
            return (f"the till database cannot be written: its file or disk is read-only (SQLite: {exc});"
                    f" {recorded}. Make the till's home and till.db writable by the till's user (or remount"
                    " the disk read-write) and try again.")
        if code in _CANTOPEN:
            return (f"the till database could not be opened (SQLite: {exc}); {recorded}. Check that the till's"
                    " home and till.db exist and are readable and writable by the till's user, and that the"
                    " disk is mounted read-write, then try again.")
        return (f"the till database could not be read or written (SQLite: {exc}): the disk may be full, a"
                f" file-size limit reached, or the disk failing; {recorded}. Check the disk (free space,"
                " `dmesg`, permissions of the till's home) and try again; if it persists,"
                f" {RESTORE_ADVICE}.")
    if isinstance(exc, OSError):
        which = f" ({exc.filename})" if exc.filename else ""
        reason = exc.strerror or str(exc)
        if isinstance(exc, NotADirectoryError | FileExistsError) or exc.errno in (errno.ENOTDIR, errno.EEXIST):
            return (f"the till's home{which} is a file, not a directory: {reason}; {recorded}. Point --home"
                    " (or $POS_CLIENT_HOME) at the till's directory, or move that file away.")
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return (f"the disk is full or a file reached its size limit{which}: {reason}; {recorded}. Free"
                    " space on the disk and try again.")
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return (f"the till's files cannot be written{which}: {reason}; {recorded}. Make the till's home"
                    " writable by the till's user (or remount the disk read-write) and try again.")
        return f"the till's storage failed{which}: {reason}; {recorded}. Check the disk and try again."
    return f"the till's storage failed ({type(exc).__name__}); {recorded}."


def as_fault(exc: BaseException, *, recorded: str = "nothing was recorded") -> StorageFault:
    """The same fault as a typed error (exit 5), raised `from` the original so the log keeps its cause."""
    return StorageFault(describe(exc, recorded=recorded))

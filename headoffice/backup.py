"""`headoffice backup --db sqlite:///... --to DIR`: an online backup of a SQLite head office, checked.

The copy is SQLite's online backup (the server keeps taking pushes), written 0600 under a temporary
name, checked (`PRAGMA integrity_check`; every balance equal to the sum of its ledger entries) and
renamed to `headoffice-<UTC time>.db`. PostgreSQL is backed up with its own tools (`pg_dump -Fc`,
see docs/backup.md): this command says so instead of guessing.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pos_client.domain.errors import NotFound, PosError, UsageError
from pos_client.store.backup import balances_off_ledger
from pos_client.store.db import online_copy

SQLITE = "sqlite:///"


class BackupFailed(PosError):
    """The copy could not be written or failed its check (exit 1)."""


def _check(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupFailed(f"the copy at {path} is damaged: {'; '.join(map(str, result[:3]))}")
        wrong = balances_off_ledger(conn)
        if wrong:
            raise BackupFailed(f"the copy at {path}: {wrong} balance(s) differ from the sum of their ledger entries")
        entries = int(conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0])
        members = int(conn.execute("SELECT COUNT(*) FROM members").fetchone()[0])
    finally:
        conn.close()
    return {"entries": entries, "members": members}


def backup(url: str, to: Path) -> dict[str, Any]:
    """Back the SQLite head office at `url` up into the directory `to`; what was written and checked."""
    if url.startswith(("postgresql://", "postgres://")):
        raise UsageError("a PostgreSQL head office is backed up with PostgreSQL's tools:"
                         " pg_dump -Fc -f headoffice.dump DBNAME (restore: pg_restore -d DBNAME --clean"
                         " headoffice.dump); see docs/backup.md")
    if not url.startswith(SQLITE):
        raise UsageError(f"unsupported database URL {url!r}: use sqlite:///PATH")
    source = Path(url[len(SQLITE):])
    if not source.is_file():
        raise NotFound(f"no head-office database at {source}")
    to.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest = to / f"headoffice-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.db"
    tmp = dest.with_name(f".{dest.name}.tmp")
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    try:
        online_copy(conn, tmp)
        counts = _check(tmp)
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        raise BackupFailed(f"backup of {source} failed: {exc}") from None
    finally:
        conn.close()
        tmp.unlink(missing_ok=True)
    return {"path": str(dest), "bytes": dest.stat().st_size, **counts}

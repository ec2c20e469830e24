"""The till's head-office bearer token, kept in its own file beside the database, never in it.

Backups copy `till.db` (to a USB stick, a network share): a token inside it would sign anyone holding a copy
in as this till. So the token lives in `<home>/secrets/token` (directory 0700, file 0600, written whole under
a temporary name), found from the connection's own database file so every caller that holds a connection
(`sync_state.get(conn, TOKEN)`) reads it without knowing the home. A backup restored onto the same till
reads the same file; a backup restored onto another machine has no token and the till registers again.
An in-memory database (tests) has no home: its token stays in `sync_state`, as before.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

SECRETS_DIR = "secrets"
TOKEN_NAME = "token"


def token_path(conn: sqlite3.Connection) -> Path | None:
    """`<home>/secrets/token` for the connection's database file; None for an in-memory database."""
    row = conn.execute("PRAGMA database_list").fetchone()
    main = row[2] if row else ""
    return Path(main).parent / SECRETS_DIR / TOKEN_NAME if main else None


def read_token(path: Path) -> str | None:
    """The token in the file, or None when there is none (the till is not registered here)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def write_token(path: Path, token: str | None) -> None:
    """Replace the token file atomically (0600 in a 0700 directory); None removes it."""
    if token is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.parent.stat().st_mode & 0o077:
        path.parent.chmod(0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1
            out.write(token)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)


def blank_in_db(conn: sqlite3.Connection) -> None:
    """Remove the token row's value from a database, its bytes overwritten (`secure_delete`), so neither the
    page nor a free page of the file still holds it."""
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("UPDATE sync_state SET value = NULL WHERE key = 'token'")

"""Move the head-office token out of `till.db` into `<home>/secrets/token` (issue 11, finding 9).

Older tills kept their bearer token in `sync_state`, so every backup of the database carried it. This
moves it to the token file (0600 in a 0700 directory; `pos_client/store/token_file.py`) and blanks the row
with `secure_delete` on, so the bytes are gone from the file's pages too. A token file already there (a
till restored from an older backup) is kept: it is the till's current token. The pre-migration copy taken
before this step still holds the token: it is the copy an older version would run on, and it reads its
token from the database.
"""

from __future__ import annotations

import sqlite3

from pos_client.store.token_file import blank_in_db, read_token, token_path, write_token


def apply(conn: sqlite3.Connection) -> None:
    has_state = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sync_state'").fetchone()
    if not has_state:  # a new database: m0200 creates the table and the token never enters it
        return
    path = token_path(conn)
    if path is None:  # an in-memory database has no home to hold a file: its token stays where it is
        return
    row = conn.execute("SELECT value FROM sync_state WHERE key = 'token'").fetchone()
    if row is None or row[0] is None:
        return
    if read_token(path) is None:
        write_token(path, str(row[0]))
    blank_in_db(conn)

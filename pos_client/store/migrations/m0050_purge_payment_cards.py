"""Remove payment card numbers that older versions let in as loyalty cards (`4111.1111.1111.1111`, `_`
separators, a trailing letter, Mir, Troy, UATP, a track 2 whose PAN failed Luhn).

The member stays (with their phone, points and history); only the card row and its queued outbox record go,
so the number never reaches head office. How many were removed is kept in `security_events` (never the
numbers) and shown by `pos-client doctor`.
"""

from __future__ import annotations

import sqlite3

from cardread.payment import payment_card_in
from pos_client.store.migrations.m0001_core import _split

DDL = """
CREATE TABLE IF NOT EXISTS security_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    kind   TEXT NOT NULL,
    count  INTEGER NOT NULL CHECK (count >= 0),
    detail TEXT NOT NULL
);
"""


def purge(conn: sqlite3.Connection) -> int:
    """Delete every stored card number that looks like a payment card; how many went."""
    numbers = [r[0] for r in conn.execute("SELECT card_number FROM cards") if payment_card_in(r[0])]
    for number in numbers:
        conn.execute("DELETE FROM sync_outbox WHERE type = 'card' AND key = ?", (number,))
        conn.execute("UPDATE cards SET replaced_by = NULL WHERE replaced_by = ?", (number,))
        conn.execute("DELETE FROM cards WHERE card_number = ?", (number,))
    return len(numbers)


def apply(conn: sqlite3.Connection) -> None:
    for stmt in _split(DDL):
        conn.execute(stmt)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sync_outbox'").fetchone() is None:
        return  # a new database: nothing stored yet (the sync tables come with m0200)
    removed = purge(conn)
    if removed:
        conn.execute(
            "INSERT INTO security_events (at, kind, count, detail) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ','now'),"
            " 'payment_cards_removed', ?, 'card numbers that look like payment cards removed; members kept')",
            (removed,))

"""The server_seq counter and the change feed: how tills learn what changed, in the order head office took it.

Ledger entries carry their own server_seq; every other entity (member, card, rule, product,
documents) is listed in `feed` once, at its latest change, and read back by `pull`.
"""

from __future__ import annotations

from collections.abc import Sequence

from headoffice.store.db import Db


class ChangeFeed:
    """Hands out server_seq values and records changed entities (call inside a write)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def alloc(self, n: int) -> int:
        """Reserve n server_seq values; returns the value before them (under the chain-wide writer lock, taken
        here when the transaction does not hold it yet: server_seq values commit in the order handed out)."""
        self._db.serialise()
        top = self._db.value("UPDATE meta SET value = value + ? WHERE key = 'server_seq' RETURNING value", (n,))
        return int(top) - n

    def top(self) -> int:
        """The last server_seq handed out (a pull reads up to it, never past rows still being written)."""
        return int(self._db.value("SELECT value FROM meta WHERE key = 'server_seq'"))

    def record(self, entity: str, keys: Sequence[str]) -> None:
        """Record that these entities changed: each appears once in the feed, at its latest change."""
        if not keys:
            return
        unique = list(dict.fromkeys(keys))
        self._db.feed_rows(entity, unique, self.alloc(len(unique)))

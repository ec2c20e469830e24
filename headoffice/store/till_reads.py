"""What a till may read about members outside its pull: one member by an exact card number or phone, counted.

A till at the counter needs to find a card's or a phone's member and their balance; it never needs to page
through the directory by id or by name. Every read a till makes (lookup, balance) is counted per till in a
one-minute window (`till_reads`, in the database so every worker shares the count): above
`lookup_limit.per_minute` the API answers 429.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cardread.payment import payment_card_in
from headoffice.store.db import Db, now_iso
from pos_client.domain.errors import UsageError
from pos_client.domain.phone import normalise_phone

WINDOW = timedelta(minutes=1)


class TillReads:
    """Lookups by card or phone, and the per-till read counter."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def allow(self, store_id: str, till_id: str, per_minute: int) -> bool:
        """Count one read by this till; False when it is over `per_minute` in the current window."""
        now = datetime.now(UTC)
        with self._db.write():
            row = self._db.one("SELECT window_start, reads FROM till_reads WHERE store_id = ? AND till_id = ?",
                               (store_id, till_id))
            if row is None or datetime.fromisoformat(str(row[0])) <= now - WINDOW:
                self._db.execute("INSERT INTO till_reads (store_id, till_id, window_start, reads) VALUES (?,?,?,1)"
                                 " ON CONFLICT (store_id, till_id) DO UPDATE SET window_start = excluded.window_start,"
                                 " reads = 1", (store_id, till_id, now_iso()))
                return per_minute >= 1
            reads = int(self._db.value("UPDATE till_reads SET reads = reads + 1 WHERE store_id = ? AND till_id = ?"
                                       " RETURNING reads", (store_id, till_id)))
        return reads <= per_minute

    def lookup(self, card: str | None, phone: str | None) -> dict[str, Any] | None:
        """The one member of an exact card number or phone: id, store, status, card state and balance."""
        with self._db.read():
            if card:
                if payment_card_in(card):  # never looked up, so never in a query log
                    return None
                row = self._db.one("SELECT m.member_id, m.store_id, m.status, c.status FROM cards c JOIN members m"
                                   " ON m.member_id = c.member_id WHERE c.card_number = ?", (card,))
            else:
                try:
                    number = normalise_phone(phone or "")
                except UsageError:
                    return None
                row = self._db.one("SELECT member_id, store_id, status, NULL FROM members WHERE phone = ?"
                                   " AND status = 'active' ORDER BY created_at LIMIT 1", (number,))
            if row is None:
                return None
            bal = self._db.one("SELECT points FROM balances WHERE member_id = ?", (row[0],))
        return {"member_id": row[0], "store_id": row[1], "status": row[2], "card_status": row[3],
                "balance": int(bal[0]) if bal else 0}

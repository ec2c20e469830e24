"""A till's view: the members it follows, and the SQL a `view=seen|store` pull filters its entries with.

Why: a till needs every member's balance but the history only of the members it sees; sending it every
other till's entries made a pull's cost grow with the chain's sales. Head office records a `balance` change
per member whose balance moved (`Ledger.insert`), and sends entries only of the members the till follows
(`till_follows`: sold to or looked up, for `FOLLOW_DAYS` after it last saw them) or, for the store's expiry
till (`view=store`), of its store's members. Following is a till's bookkeeping (`Db.note`: no server_seq).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from headoffice.store.base import Principal
from headoffice.store.db import Db, chunks, marks, now_iso
from headoffice.store.feed import ChangeFeed
from wire.batches import Change
from wire.protocol import LEDGER_COLUMNS
from wire.view import FOLLOW_DAYS, Followed, View

HISTORY = 2000  # entries of followed members answered per follow request (the most recent)


class Follows:
    """Writes `till_follows`; reads `ledger` for the history a till gets when it starts following."""

    def __init__(self, db: Db, feed: ChangeFeed) -> None:
        self._db = db
        self._feed = feed

    def follow(self, principal: Principal, member_ids: list[str], history: bool = True) -> Followed:
        """Follow (or keep following) these members; their entries at head office not written by this till,
        the most recent `HISTORY`, when `history`."""
        ids = sorted(set(member_ids))
        until = (datetime.now(UTC) + timedelta(days=FOLLOW_DAYS)).isoformat(timespec="microseconds")
        who = (principal.store_id, principal.till_id)
        db = self._db
        with db.note():
            db.executemany("INSERT INTO till_follows (store_id, till_id, member_id, until) VALUES (?, ?, ?, ?)"
                           " ON CONFLICT (store_id, till_id, member_id) DO UPDATE SET until = excluded.until",
                           [(*who, m, until) for m in ids])
        if not history or not ids:
            return Followed(following=len(ids), through=0, history=[])
        cols = ", ".join(LEDGER_COLUMNS)
        rows: list[Any] = []
        with db.read():
            through = self._feed.top()
            for part in chunks(ids):
                rows += db.execute(f"SELECT server_seq, {cols} FROM ledger WHERE member_id IN ({marks(len(part))})"
                                   " AND server_seq <= ? AND NOT (store_id = ? AND till_id = ?)"
                                   " ORDER BY server_seq DESC LIMIT ?", (*part, through, *who, HISTORY))
        rows = sorted(rows, key=lambda r: int(r[0]))[-HISTORY:]
        return Followed(following=len(ids), through=through, history=[
            Change(cursor=int(r[0]), type="entry", data=dict(zip(LEDGER_COLUMNS, r[1:], strict=True))) for r in rows])


def entries_filter(view: View, principal: Principal) -> tuple[str, tuple[Any, ...]]:
    """The SQL (`AND ...`) and its parameters a pull of this view adds to its ledger query."""
    if view == "all":
        return "", ()
    follows = ("member_id IN (SELECT member_id FROM till_follows WHERE store_id = ? AND till_id = ? AND until > ?)")
    params: tuple[Any, ...] = (principal.store_id, principal.till_id, now_iso())
    if view == "store":
        return (f" AND ({follows} OR member_id IN (SELECT member_id FROM members WHERE store_id = ?))",
                (*params, principal.store_id))
    return f" AND {follows}", params


def feed_filter(view: View) -> str:
    """A till on the old feed (`view=all`) counts entries: it gets no `balance` changes."""
    return " AND entity != 'balance'" if view == "all" else ""

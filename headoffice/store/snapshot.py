"""A first pull's parts: the directory as of one feed position (wire/snapshot.py), read by keyset on member_id.

Each part is one consistent read. A member's opening balance is head office's balance as of the floor (its
balance now, less its entries received after the floor: those the till pulls from the feed) less the asking
till's own entries up to the floor (the till holds those itself). Members and cards changed after the floor
come as they are now and again from the feed: the till's upserts make the second arrival a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from headoffice.store.base import DirectorySink, Principal
from headoffice.store.db import Db
from headoffice.store.feed import ChangeFeed
from wire.snapshot import PART, SnapCard, SnapMember, SnapshotPart

_MEMBERS = ("SELECT m.member_id, m.store_id, m.name, m.phone, m.email, m.status, m.merged_into, m.consent,"
            " m.created_at, m.updated_at, COALESCE(b.points, 0) FROM members m"
            " LEFT JOIN balances b ON b.member_id = m.member_id WHERE m.member_id > ? ORDER BY m.member_id LIMIT ?")
_CARDS = ("SELECT card_number, member_id, source, status, replaced_by, created_at, updated_at FROM cards"
          " WHERE member_id >= ? AND member_id <= ?")

_ALL_CARDS = ("SELECT card_number, member_id, source, status, replaced_by, created_at, updated_at FROM cards"
              " WHERE card_number > ? ORDER BY card_number LIMIT ?")


class Snapshot:
    """Reads `members`, `balances`, `cards` and `ledger`; writes nothing."""

    def __init__(self, db: Db, feed: ChangeFeed) -> None:
        self._db = db
        self._feed = feed

    def part(self, principal: Principal, after: str, top: int, limit: int = PART) -> SnapshotPart:
        limit = max(1, min(int(limit), PART))
        db = self._db
        with db.read():
            now = self._feed.top()
            floor = now if top <= 0 else min(int(top), now)
            rows = db.execute(_MEMBERS, (after, limit))
            total = int(db.value("SELECT COUNT(*) FROM members")) if not after else 0
            if not rows:
                return SnapshotPart(floor=floor, members=[], cards=[], next_after=after, more=False, total=total)
            first, last = str(rows[0][0]), str(rows[-1][0])
            less = self._after_floor(floor, {str(r[0]) for r in rows})
            if db.one("SELECT 1 FROM ledger WHERE store_id = ? AND till_id = ? LIMIT 1",
                      (principal.store_id, principal.till_id)) is not None:
                self._add_own(less, principal, floor, first, last)
            members = [SnapMember(str(r[0]), str(r[1]), r[2], r[3], r[4], str(r[5]), r[6], str(r[7]), str(r[8]),
                                  str(r[9]), int(r[10]) - less.get(str(r[0]), 0)) for r in rows]
            cards = [SnapCard(*r) for r in db.execute(_CARDS, (first, last))]
        return SnapshotPart(floor=floor, members=members, cards=cards, next_after=last, more=len(rows) == limit,
                            total=total)

    def directory(self, put: DirectorySink, chunk: int = 20_000) -> int:
        """Every member (with its balance) then every card, by keyset pages inside ONE read (a consistent
        snapshot: PostgreSQL's REPEATABLE READ, SQLite's read transaction); returns the feed position read."""
        db = self._db
        with db.read():
            floor = self._feed.top()
            for table, sql in (("members", _MEMBERS), ("cards", _ALL_CARDS)):
                after = ""
                while rows := db.execute(sql, (after, chunk)):
                    put(table, rows)
                    after = str(rows[-1][0])
        return floor

    def feed_top(self) -> int:
        with self._db.read():
            return self._feed.top()

    def has_entries(self, principal: Principal) -> bool:
        return self._db.one("SELECT 1 FROM ledger WHERE store_id = ? AND till_id = ? LIMIT 1",
                            (principal.store_id, principal.till_id)) is not None

    def _after_floor(self, floor: int, ids: set[str]) -> dict[str, int]:
        """Points received after the floor per member of the part (few: found by server_seq, not by member)."""
        # by server_seq alone, summed here: with a member_id range in the SQL, SQLite picks the member index and
        # reads every entry of the part's 5,000 members (the chain's history) to find the few after the floor
        out: dict[str, int] = {}
        for member_id, points in self._db.execute("SELECT member_id, points FROM ledger WHERE server_seq > ?"
                                                  " ORDER BY server_seq", (floor,)):
            if member_id in ids:  # a set, not a range: PostgreSQL's collation is not Python's order
                out[member_id] = out.get(member_id, 0) + int(points)
        return out

    def _add_own(self, less: dict[str, int], principal: Principal, floor: int, first: str, last: str) -> None:
        """The asking till's own entries up to the floor (only a till that pushed before its first pull has any)."""
        for member_id, points in _sums(self._db.execute(
                "SELECT member_id, SUM(points) FROM ledger WHERE store_id = ? AND till_id = ? AND server_seq <= ?"
                " AND member_id >= ? AND member_id <= ? GROUP BY member_id",
                (principal.store_id, principal.till_id, floor, first, last))).items():
            less[member_id] = less.get(member_id, 0) + points


def _sums(rows: Sequence[Any]) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in rows}

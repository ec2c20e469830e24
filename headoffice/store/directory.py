"""The console's member directory: search, a member's page, and the actions head office takes on a member.

Search is three indexed lookups, never a scan: a phone (normalised as the tills store it), an exact card
number, a name prefix (on `lower(name)`). Each action is one write transaction and reaches every till
through the change feed, as a merge or an erasure already does: a points adjustment is a head-office
ledger entry (store and till "HO"), a card change is a card row, a merge moves cards and balance.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from cardread.payment import payment_card_in
from headoffice.store.card_formats import program_card_formats
from headoffice.store.db import POSTGRES, Db, Row, now_iso
from headoffice.store.feed import ChangeFeed
from headoffice.store.ledger import Ledger
from headoffice.store.members import Members
from headoffice.store.schema import HO_STORE, HO_TILL
from headoffice.store.settings import IntSettings
from pos_client.domain.errors import UsageError
from pos_client.domain.phone import mask_phone, normalise_phone
from wire.bounds import ADJUST_LIMITS, BALANCE, KEYED_POINTS
from wire.fields import MAX_TEXT
from wire.protocol import LedgerRecord

SEARCH_LIMIT = 50
PAGE_ROWS = 100  # entries and purchases shown on a member's page (newest first)

# Settings kept as integer rows of `meta` (key "console.<name>"), with their defaults.
SETTINGS: dict[str, int] = {f"adjust_limit.{role}": points for role, points in ADJUST_LIMITS.items()}  # as tills

_RESULT = "m.member_id, m.store_id, m.name, m.phone, m.status, m.merged_into"


class ActionRefused(ValueError):
    """A console action head office will not take (the message says why, for the person who asked)."""


class Directory:
    """Reads over `members`, `cards`, `ledger`, `sales`; actions written through the aggregates' own code."""

    def __init__(self, db: Db, feed: ChangeFeed, members: Members, ledger: Ledger) -> None:
        self._db = db
        self._feed = feed
        self._members = members
        self._ledger = ledger
        self._settings = IntSettings(db, SETTINGS, 0, KEYED_POINTS.high, ActionRefused)
        # PostgreSQL compares text by its locale: a prefix range needs the byte order SQLite always uses.
        self._c = ' COLLATE "C"' if db.dialect == POSTGRES else ""

    def create_indexes(self) -> None:
        """The search's indexes: a name prefix in the collation it compares in, then member_id, so `ORDER BY
        lower(name), member_id LIMIT 50` reads 50 index entries with no sort (at a million members the sort of
        every match was most of the search's time); a manager's store first; merges."""
        with self._db.write():
            for old in ("idx_ho_members_name", "idx_ho_members_store_name"):  # without member_id: they sorted
                self._db.execute(f"DROP INDEX IF EXISTS {old}")
            self._db.execute("CREATE INDEX IF NOT EXISTS idx_ho_members_name_id ON members"
                             f" ((lower(name){self._c}), member_id)")
            self._db.execute("CREATE INDEX IF NOT EXISTS idx_ho_members_store_name_id ON members"
                             f" (store_id, (lower(name){self._c}), member_id)")
            self._db.execute("CREATE INDEX IF NOT EXISTS idx_ho_members_merged ON members (merged_into)")

    # --- search -----------------------------------------------------------------------------------
    def search(self, query: str, store_id: str | None = None, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
        """Members whose phone, card number or name prefix matches `query` (a manager's: their store only)."""
        q = query.strip()
        if not q:
            return []
        limit = max(1, min(limit, SEARCH_LIMIT))
        scope, args = ("", []) if store_id is None else (" AND m.store_id = ?", [store_id])
        found: dict[str, Row] = {}
        with self._db.read():
            if not payment_card_in(q):  # a bank card number is never looked up, so never logged by a query
                for r in self._db.execute(f"SELECT {_RESULT} FROM cards c JOIN members m ON m.member_id ="
                                          f" c.member_id WHERE c.card_number = ?{scope}", [q, *args]):
                    found.setdefault(r[0], r)
            phone = _phone(q)
            if phone:
                for r in self._db.execute(f"SELECT {_RESULT} FROM members m WHERE m.phone = ?{scope}"
                                          " ORDER BY m.member_id LIMIT ?", [phone, *args, limit]):
                    found.setdefault(r[0], r)
            if any(ch.isalpha() for ch in q):
                low = q.lower()
                for r in self._db.execute(name_sql(self._c, store_id is not None),
                                          [low, low + "\U0010ffff", *args, limit]):
                    found.setdefault(r[0], r)
        return [{"member_id": r[0], "store_id": r[1], "name": r[2], "phone": mask_phone(r[3]), "status": r[4],
                 "merged_into": r[5]} for r in list(found.values())[:limit]]

    # --- a member's page ----------------------------------------------------------------------------
    def member_store(self, member_id: str) -> str | None:
        """The member's home store (what decides which manager may see it); None when unknown."""
        with self._db.read():
            row = self._db.one("SELECT store_id FROM members WHERE member_id = ?", (member_id,))
        return str(row[0]) if row else None

    def card_owner(self, card_number: str) -> tuple[str, str] | None:
        """(member_id, store_id) of the card's member, or None."""
        with self._db.read():
            row = self._db.one("SELECT m.member_id, m.store_id FROM cards c JOIN members m ON m.member_id ="
                               " c.member_id WHERE c.card_number = ?", (card_number,))
        return (str(row[0]), str(row[1])) if row else None

    def member_page(self, member_id: str, rows: int = PAGE_ROWS) -> dict[str, Any] | None:
        """Details, consents, cards, balance, the newest ledger entries and purchases, on one snapshot."""
        db = self._db
        with db.read():
            found = self._members.load([member_id])
            if not found:
                return None
            data = found[0][1]
            data["cards"] = [{"card_number": r[0], "source": r[1], "status": r[2], "replaced_by": r[3],
                              "created_at": r[4]} for r in db.execute(
                "SELECT card_number, source, status, replaced_by, created_at FROM cards WHERE member_id = ?"
                " ORDER BY created_at, card_number", (member_id,))]
            row = db.one("SELECT points FROM balances WHERE member_id = ?", (member_id,))
            data["balance"] = int(row[0]) if row else 0
            data["merged_in"] = [r[0] for r in db.execute(
                "SELECT member_id FROM members WHERE merged_into = ? ORDER BY member_id", (member_id,))]
            cols = ("server_seq", "member_id", "store_id", "till_id", "kind", "points", "sale_id", "created_at",
                    "operator", "reason", "ref")
            data["entries"] = [dict(zip(cols, r, strict=True)) for r in db.execute(
                f"SELECT {', '.join(cols)} FROM ledger WHERE member_id = ? ORDER BY server_seq DESC LIMIT ?",
                (member_id, rows))]
            scols = ("sale_id", "store_id", "till_id", "total_cents", "points_earned", "created_at", "lines")
            sales = db.execute(f"SELECT {', '.join(scols)} FROM sales WHERE member_id = ?"
                               " ORDER BY created_at DESC LIMIT ?", (member_id, rows))
            data["sales"] = [{**dict(zip(scols, r, strict=True)), "lines": len(json.loads(r[6] or "[]"))}
                             for r in sales]
        return data

    # --- actions (each one transaction, each on the feed) ----------------------------------------------
    def adjust(self, member_id: str, points: int, reason: str, operator: str) -> dict[str, Any]:
        """Add (or take) points as head office's own till; a balance never goes below zero by an adjustment."""
        if isinstance(points, bool) or not isinstance(points, int) or points == 0:
            raise ActionRefused("points: a whole number other than zero")
        if (why := KEYED_POINTS.problem(points)) is not None:
            raise ActionRefused(why)
        reason = _reason(reason)
        now = now_iso()
        with self._db.write():
            row = self._db.one("SELECT status FROM members WHERE member_id = ?", (member_id,))
            if row is None:
                raise ActionRefused("no such member")
            if row[0] != "active":
                raise ActionRefused(f"the member is {row[0]}: adjust the member it was merged into, if any")
            bal = self._db.one("SELECT points FROM balances WHERE member_id = ?", (member_id,))
            balance = int(bal[0]) if bal else 0
            if balance + points < 0:
                raise ActionRefused(f"points: the balance is {balance}; an adjustment cannot take it below zero")
            if not BALANCE.holds(balance + points):
                raise ActionRefused(f"points: the balance would leave {BALANCE.low:,} to {BALANCE.high:,}")
            seq = int(self._db.value("UPDATE tills SET high_seq = high_seq + 1 WHERE store_id = ? AND till_id = ?"
                                     " RETURNING high_seq", (HO_STORE, HO_TILL)))
            entry = LedgerRecord(entry_id=secrets.token_hex(16), member_id=member_id, store_id=HO_STORE,
                                 till_id=HO_TILL, seq=seq, kind="adjust", points=points, created_at=now,
                                 operator=operator[:MAX_TEXT], reason=reason)
            self._ledger.insert([entry], now)
        return {"entry_id": entry.entry_id, "points": points, "balance": balance + points}

    def block_card(self, card_number: str) -> str:
        """Block a card (a till refuses it after its next pull); returns its member."""
        now = now_iso()
        with self._db.write():
            row = self._db.one("UPDATE cards SET status = 'blocked', updated_at = ? WHERE card_number = ?"
                               " RETURNING member_id", (now, card_number))
            if row is None:
                raise ActionRefused("no such card")
            self._feed.record("card", [card_number])
        return str(row[0])

    def replace_card(self, old: str, new: str) -> str:
        """Block the old card and give its member the new one (the balance stays); returns the member."""
        new = new.strip()
        if not new.isdigit() or not 4 <= len(new) <= 32:
            raise ActionRefused("new card: the card number's digits (4 to 32)")
        if payment_card_in(new):
            raise ActionRefused("new card: that is a bank card number; it is never stored")
        if (why := program_card_formats(self._db).why(new)) is not None:  # the program's own formats only
            raise ActionRefused(f"new card: {why}")
        now = now_iso()
        with self._db.write():
            row = self._db.one("SELECT c.member_id, m.status FROM cards c JOIN members m ON m.member_id ="
                               " c.member_id WHERE c.card_number = ?", (old,))
            if row is None:
                raise ActionRefused("no such card")
            if row[1] != "active":
                raise ActionRefused(f"the card's member is {row[1]}")
            if self._db.one("SELECT 1 FROM cards WHERE card_number = ?", (new,)):
                raise ActionRefused("new card: already enrolled")
            self._db.execute("INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at,"
                             " updated_at) VALUES (?, ?, 'barcode', 'active', NULL, ?, ?)", (new, row[0], now, now))
            self._db.execute("UPDATE cards SET status = 'blocked', replaced_by = ?, updated_at = ?"
                             " WHERE card_number = ?", (new, now, old))
            self._feed.record("card", [new, old])
        return str(row[0])

    def merge(self, loser: str, winner: str) -> None:
        """Fold `loser` into `winner` (cards and balance move; the ledger moves by transfer entries)."""
        if loser == winner:
            raise ActionRefused("merge: choose two different members")
        now = now_iso()
        with self._db.write():
            rows = {r[0]: r[1] for r in self._db.execute(
                "SELECT member_id, status FROM members WHERE member_id IN (?, ?)", (loser, winner))}
            for mid in (loser, winner):
                if mid not in rows:
                    raise ActionRefused(f"merge: no member {mid}")
                if rows[mid] != "active":
                    raise ActionRefused(f"merge: member {mid} is {rows[mid]}")
            together = sum(int(r[0]) for r in self._db.execute(
                "SELECT points FROM balances WHERE member_id IN (?, ?)", (loser, winner)))
            if not BALANCE.low <= together <= BALANCE.high:  # refused here, not by a CHECK as a 500
                raise ActionRefused(f"merge: the two balances together ({together:,} points) are outside what a"
                                    f" balance may hold ({BALANCE.low:,} to {BALANCE.high:,})")
            self._members._merge(loser, winner, now)
            self._ledger.sweep_merged({loser}, now)

    # --- settings ----------------------------------------------------------------------------------
    def setting(self, name: str) -> int:
        """An integer console setting (`console.<name>` in meta), or its default."""
        return self._settings.get(name)

    def set_setting(self, name: str, value: int) -> None:
        self._settings.set(name, value)


def name_sql(collate: str, scoped: bool) -> str:
    """The name-prefix search (params: low, high, [store], limit), served in order by a `*_name_id` index."""
    c, scope = collate, " AND m.store_id = ?" if scoped else ""
    return (f"SELECT {_RESULT} FROM members m WHERE lower(m.name){c} >= ? AND lower(m.name){c} < ?{scope}"
            f" ORDER BY lower(m.name){c}, m.member_id LIMIT ?")


def _phone(q: str) -> str | None:
    """The query as a stored phone number, when it has enough digits to be one."""
    if sum(ch.isdigit() for ch in q) < 6 or any(ch.isalpha() for ch in q):
        return None
    try:
        return normalise_phone(q)
    except UsageError:
        return None


def _reason(reason: str) -> str:
    """A reason is required, fits a ledger row, and never carries a bank card number."""
    text = " ".join(str(reason).split())
    if not text:
        raise ActionRefused("reason: say why (it is recorded)")
    if len(text) > 200:
        raise ActionRefused("reason: at most 200 characters")
    if payment_card_in(text):
        raise ActionRefused("reason: remove the bank card number (it is never stored)")
    return text


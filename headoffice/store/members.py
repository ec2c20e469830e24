"""Members and their cards: details tills push, merges of the same phone enrolled twice, erasure, blocking.

Erasure and merges are decided here, never by a till; a card's state only moves forward.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from headoffice.store.approvals import Gate
from headoffice.store.db import Db, marks, now_iso
from headoffice.store.feed import ChangeFeed
from wire.protocol import CARD_RANK, CardRecord, MemberRecord

MEMBER_COLUMNS = ("member_id", "store_id", "name", "phone", "email", "status", "merged_into", "consent",
                  "created_at", "updated_at")
CARD_COLUMNS = ("card_number", "member_id", "source", "status", "replaced_by", "created_at", "updated_at")


class Members:
    """The `members` and `cards` tables (a member's balance is the ledger's; `member()` shows it)."""

    def __init__(self, db: Db, feed: ChangeFeed) -> None:
        self._db = db
        self._feed = feed

    # --- push ---------------------------------------------------------------------------------
    def ingest(self, members: Sequence[MemberRecord], now: str, gate: Gate | None = None) -> tuple[int, set[str]]:
        """Take pushed member details; returns how many changed and every member a merge touched.

        With a `gate` (a till's push), a change to another store's member or a merge reaching outside the
        till's store waits for approval instead (headoffice/store/approvals.py)."""
        db = self._db
        changed: list[str] = []
        merged: set[str] = set()
        for m in members:
            row = db.one("SELECT status, store_id, name, phone, email, consent FROM members WHERE member_id = ?",
                         (m.member_id,))
            consent = json.dumps(m.consent, sort_keys=True)
            if row is not None and row[0] == "active" and gate is not None and (
                    (m.name, m.phone, m.email) != tuple(row[2:5]) or json.loads(row[5] or "{}") != m.consent):
                details = {"name": m.name, "phone": m.phone, "email": m.email, "consent": m.consent,
                           "updated_at": m.updated_at}
                key = f"{m.member_id}/{m.updated_at}/{json.dumps(details, sort_keys=True)}"
                if gate.hold("profile", key, m.member_id, row[1], details,
                             f"details of a {row[1]} member sent by till {gate.store_id}/{gate.till_id}"):
                    continue
            if row is None:
                status = "erased" if m.status == "erased" else "active"
                db.execute(
                    "INSERT INTO members (member_id, store_id, name, phone, email, status, merged_into, consent,"
                    " created_at, updated_at, received_at) VALUES (?,?,?,?,?,?,NULL,?,?,?,?)",
                    (m.member_id, m.store_id, m.name, m.phone, m.email, status, consent, m.created_at,
                     m.updated_at, now))
                db.execute("INSERT INTO balances (member_id, points, updated_at) VALUES (?, 0, ?)"
                           " ON CONFLICT DO NOTHING", (m.member_id, now))
            elif row[0] == "active":
                # Erasure and merges are decided here, never by a till: only details and consent move.
                self.update_details(m.member_id, m.name, m.phone, m.email, m.consent, m.updated_at, now)
            else:
                # Erased or merged here: keep head office's state and send it out again, so a till that
                # skipped it (its own change was still waiting to be pushed) learns it on its next pull.
                changed.append(m.member_id)
                continue
            changed.append(m.member_id)
            if m.phone and m.status == "active":
                merged |= self._merge_same_phone(m.member_id, m.phone, now, gate)
        self._feed.record("member", changed)
        return len(changed), merged

    def update_details(self, member_id: str, name: str | None, phone: str | None, email: str | None,
                       consent: dict[Any, Any], updated_at: str, now: str) -> None:
        """A member's details and consent (a till's push, or an approved request): what a till may change."""
        self._db.execute("UPDATE members SET name = ?, phone = ?, email = ?, consent = ?, updated_at = ?,"
                         " received_at = ? WHERE member_id = ?",
                         (name, phone, email, json.dumps(consent, sort_keys=True), updated_at, now, member_id))

    def _merge_same_phone(self, member_id: str, phone: str, now: str, gate: Gate | None = None) -> set[str]:
        """The same phone enrolled twice (two stores offline): keep the older member, fold the other in.

        A merge a till's push would make across stores waits for approval (`gate`)."""
        rows = self._db.execute("SELECT member_id, created_at, store_id FROM members WHERE phone = ?"
                                " AND status = 'active'", (phone,))
        if len(rows) < 2:
            return set()
        ordered = sorted(rows, key=lambda r: (r[1], r[0]))
        winner = ordered[0][0]
        touched = {winner}
        for loser, _, store in ordered[1:]:
            if gate is not None and {store, ordered[0][2]} != {gate.store_id} and gate.hold(
                    "merge", f"{loser}>{winner}", loser, store, {"loser": loser, "winner": winner},
                    f"same phone as {winner} (pushed by till {gate.store_id}/{gate.till_id})"):
                continue
            self._merge(loser, winner, now)
            touched.add(loser)
        return touched if len(touched) > 1 else set()

    def _merge(self, loser: str, winner: str, now: str) -> None:
        db = self._db
        db.execute("UPDATE members SET status = 'merged', merged_into = ?, updated_at = ? WHERE member_id = ?",
                   (winner, now, loser))
        db.execute("UPDATE members SET merged_into = ?, updated_at = ? WHERE merged_into = ?", (winner, now, loser))
        cards = [r[0] for r in db.execute("SELECT card_number FROM cards WHERE member_id = ?", (loser,))]
        db.execute("UPDATE cards SET member_id = ?, updated_at = ? WHERE member_id = ?", (winner, now, loser))
        self._feed.record("member", [loser, winner])
        self._feed.record("card", cards)

    def final(self, member_id: str) -> str:
        """The member that survives `member_id` after any chain of merges (itself when not merged)."""
        seen = set()
        while member_id not in seen:
            seen.add(member_id)
            row = self._db.one("SELECT status, merged_into FROM members WHERE member_id = ?", (member_id,))
            if row is None or row[0] != "merged" or not row[1]:
                return member_id
            member_id = row[1]
        return member_id

    def ingest_cards(self, cards: Sequence[CardRecord], now: str) -> int:
        """Take pushed cards, filed under the surviving member; a till cannot undo a block."""
        db = self._db
        changed: list[str] = []
        for c in cards:
            row = db.one("SELECT status, member_id FROM cards WHERE card_number = ?", (c.card_number,))
            member = self.final(c.member_id)
            if row is None:
                db.execute("INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at,"
                           " updated_at) VALUES (?,?,?,?,?,?,?)",
                           (c.card_number, member, c.source, c.status, c.replaced_by, c.created_at or now, now))
            else:
                # A card's state only moves forward (active -> lost -> blocked): a till cannot undo a block.
                status = max(row[0], c.status, key=lambda s: CARD_RANK.get(s, 0))
                db.execute("UPDATE cards SET status = ?, replaced_by = COALESCE(?, replaced_by), updated_at = ?"
                           " WHERE card_number = ?", (status, c.replaced_by, now, c.card_number))
            changed.append(c.card_number)
        self._feed.record("card", changed)
        return len(changed)

    def anonymise(self, member_id: str, now: str) -> bool:
        """Erasure: personal details and consent go, cards are blocked, the ledger (no personal data) stays."""
        row = self._db.one("UPDATE members SET name = NULL, phone = NULL, email = NULL, consent = '{}',"
                           " status = 'erased', updated_at = ? WHERE member_id = ? RETURNING member_id",
                           (now, member_id))
        if row is None:
            return False
        cards = [r[0] for r in self._db.execute(
            "UPDATE cards SET status = 'blocked', updated_at = ? WHERE member_id = ? AND status != 'blocked'"
            " RETURNING card_number", (now, member_id))]
        self._feed.record("member", [member_id])
        self._feed.record("card", cards)
        return True

    def home_store(self, member_id: str) -> str | None:
        """The member's store (whose manager decides about them); None when head office does not know them."""
        row = self._db.one("SELECT store_id FROM members WHERE member_id = ?", (member_id,))
        return str(row[0]) if row else None

    def exists(self, member_id: str) -> bool:
        return self._db.one("SELECT 1 FROM members WHERE member_id = ?", (member_id,)) is not None

    # --- administration -------------------------------------------------------------------------
    def block_card(self, card_number: str) -> bool:
        with self._db.write():
            row = self._db.one("UPDATE cards SET status = 'blocked', updated_at = ? WHERE card_number = ?"
                               " RETURNING card_number", (now_iso(), card_number))
            if row:
                self._feed.record("card", [card_number])
        return row is not None

    # --- reading --------------------------------------------------------------------------------
    def load(self, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """Members by id, as a pull sends them (consent decoded)."""
        rows = self._db.execute(f"SELECT {', '.join(MEMBER_COLUMNS)} FROM members"
                                f" WHERE member_id IN ({marks(len(keys))})", keys)
        out = []
        for r in rows:
            data = dict(zip(MEMBER_COLUMNS, r, strict=True))
            data["consent"] = json.loads(r[7] or "{}")
            out.append((r[0], data))
        return out

    def load_cards(self, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """Cards by number, as a pull sends them."""
        rows = self._db.execute(f"SELECT {', '.join(CARD_COLUMNS)} FROM cards"
                                f" WHERE card_number IN ({marks(len(keys))})", keys)
        return [(r[0], dict(zip(CARD_COLUMNS, r, strict=True))) for r in rows]

    def member(self, member_id: str) -> dict[str, Any] | None:
        """A member with its card numbers and balance (not followed through merges)."""
        with self._db.read():
            found = self.load([member_id])
            if not found:
                return None
            data = found[0][1]
            data["cards"] = [r[0] for r in self._db.execute(
                "SELECT card_number FROM cards WHERE member_id = ? ORDER BY card_number", (member_id,))]
            row = self._db.one("SELECT points FROM balances WHERE member_id = ?", (member_id,))
            data["balance"] = int(row[0]) if row else 0
        return data

"""The points ledger, balances and the sales behind them.

Balances move in the same transaction as the ledger rows that move them. Merges and transfers
for merged members are head-office ledger entries (store "HO", till "HO"), so every till learns
them by pulling entries, like any other till's.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from msgspec.structs import astuple

from headoffice.store.db import Db, marks
from headoffice.store.feed import ChangeFeed
from headoffice.store.members import Members
from headoffice.store.schema import HO_STORE, HO_TILL
from wire.bounds import BALANCE
from wire.protocol import LEDGER_COLUMNS, LedgerRecord, Reject, SaleLine, SaleRecord

_INSERT_COLUMNS = ("server_seq", *LEDGER_COLUMNS, "received_at")
# the same columns in the record's own field order: a row is then one C call (astuple), not a Python one
_BULK_COLUMNS = ("server_seq", *LedgerRecord.__struct_fields__, "received_at")


class Ledger:
    """The `ledger`, `balances` and `sales` tables (call the ingest methods inside a write)."""

    def __init__(self, db: Db, feed: ChangeFeed, members: Members) -> None:
        self._db = db
        self._feed = feed
        self._members = members

    # --- push ---------------------------------------------------------------------------------
    def ingest_sales(self, sales: Sequence[SaleRecord], now: str) -> int:
        """Sales are immutable: a replayed one is skipped."""
        if not sales:
            return 0
        self._db.executemany(
            "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned, operator,"
            " created_at, received_at, lines) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            [(s.sale_id, s.store_id, s.till_id, s.member_id, s.total_cents, s.tender, s.points_earned, s.operator,
              s.created_at, now, json.dumps([_line(li) for li in s.lines])) for s in sales])
        return len(sales)

    def ingest(self, entries: Sequence[LedgerRecord], now: str) -> tuple[list[tuple[str, int]], int, list[Reject]]:
        """Take a till's entries in seq order: (member, points) taken, replays, and seqs reused under another id."""
        ordered = sorted(entries, key=attrgetter("seq"))
        over: list[Reject] = []
        taken = self._db.within_bounds(lambda: self.insert(ordered, now))
        if taken is None:  # a balance would leave the bounds (or the backend does not check): read them first
            ordered, over = self._within_balance(ordered)
            taken = self.insert(ordered, now)
        if len(taken) == len(ordered):
            return taken, 0, over
        # Some rows were not taken: replays (same UUID) or a seq reused under another UUID (kept aside).
        cols = ", ".join(LEDGER_COLUMNS)
        known = {r[0]: tuple(r) for r in self._db.rows_in(f"SELECT {cols} FROM ledger WHERE entry_id IN ({{marks}})",
                                                           [e.entry_id for e in ordered])}
        conflicts: list[Reject] = []
        for i, e in enumerate(ordered):
            stored = known.get(e.entry_id)
            if stored is None:
                reason = f"seq {e.seq} already holds another entry of this till"
            elif stored != e.row():  # what this batch just took reads back equal
                reason = "entry_id already holds an entry with other content: a replay must be identical"
            else:
                continue
            conflicts.append(Reject(type="entries", index=i, key=e.entry_id, reasons=[reason], raw=e.to_dict()))
        dups = len(ordered) - len(taken) - len(conflicts)
        return taken, dups, [*over, *conflicts]

    def _within_balance(self, entries: list[LedgerRecord]) -> tuple[list[LedgerRecord], list[Reject]]:
        """Set aside (quarantined with the reason) entries that would take a balance outside `BALANCE`:
        head office never stores a balance a till or the liability report cannot add up, nor a float."""
        sums: dict[str, int] = {}
        for e in entries:
            sums[e.member_id] = sums.get(e.member_id, 0) + e.points
        members = sorted(sums)
        up, down = max(0, max(sums.values(), default=0)), min(0, min(sums.values(), default=0))
        sql = "SELECT member_id, points FROM balances WHERE member_id IN ({marks})"
        if BALANCE.holds(up) and BALANCE.holds(down):  # a member without a balance (0) cannot leave the bounds:
            # read only the balances this batch could take out of them (none, in practice), not all of them
            sql += f" AND (points > {int(BALANCE.high - up)} OR points < {int(BALANCE.low - down)})"
        have = {r[0]: int(r[1]) for r in self._db.rows_in(sql, members)}
        low, high = BALANCE.low, BALANCE.high  # the sums of validated ints: a range check is all `holds` adds
        over = {m for m in members if not low <= have.get(m, 0) + sums[m] <= high}
        if not over:
            return entries, []
        stored = {r[0] for r in self._db.rows_in("SELECT entry_id FROM ledger WHERE entry_id IN ({marks})",
                                                 [e.entry_id for e in entries if e.member_id in over])}
        kept: list[LedgerRecord] = []
        rejects: list[Reject] = []
        running = {m: have.get(m, 0) for m in over}
        for i, e in enumerate(entries):
            if e.member_id in over and e.entry_id not in stored:
                if not BALANCE.holds(running[e.member_id] + e.points):
                    rejects.append(Reject(type="entries", index=i, key=e.entry_id, raw=e.to_dict(), reasons=[
                        f"points: {e.points:+,} would take the member's balance of {running[e.member_id]:,}"
                        f" outside {BALANCE.low:,} to {BALANCE.high:,}"]))
                    continue
                running[e.member_id] += e.points
            kept.append(e)
        return kept, rejects

    def insert(self, entries: Sequence[LedgerRecord], now: str) -> list[tuple[str, int]]:
        """Insert what is new (by UUID and by till seq) and move balances; returns (member, points) taken."""
        if not entries:
            return []
        db = self._db
        at_once = db.append_ledger(LedgerRecord.__struct_fields__, entries, now)
        if at_once is not None:  # PostgreSQL: rows, server_seq, balances and their feed rows in one statement
            return [(r[0], int(r[1])) for r in at_once]
        base = self._feed.alloc(len(entries))
        inserted = db.insert_new("ledger", _BULK_COLUMNS, [(base + i + 1, *astuple(e), now)
                                                           for i, e in enumerate(entries)])
        if inserted == len(entries):  # the usual push: every row is new, no need to read them back
            taken = [(e.member_id, e.points) for e in entries]
        else:
            taken = [(r[0], int(r[1])) for r in db.execute(
                "SELECT member_id, points FROM ledger WHERE server_seq > ? AND server_seq <= ?",
                (base, base + len(entries)))]
        sums: dict[str, int] = {}
        for member, points in taken:
            sums[member] = sums.get(member, 0) + points
        db.upsert("balances", ("member_id", "points", "updated_at"), [(m, p, now) for m, p in sums.items()],
                  "(member_id) DO UPDATE SET points = balances.points + excluded.points,"
                  " updated_at = excluded.updated_at")
        self._feed.record("balance", sorted(sums))  # a till's view takes the balance, not these entries
        return taken

    def load_balances(self, member_ids: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """The `balance` changes' data (wire.view.BalanceData) of these members."""
        return [(str(r[0]), {"member_id": str(r[0]), "points": int(r[1])}) for r in self._db.rows_in(
            "SELECT member_id, points FROM balances WHERE member_id IN ({marks})", list(member_ids))]

    def sweep_merged(self, member_ids: set[str], now: str) -> None:
        """Move whatever sits on a merged member (its balance at merge, later offline entries) to the survivor."""
        db = self._db
        # the merged among them first (one index look-up each; a push touches a thousand members, almost never a
        # merged one), then their balances: joined in one query, SQLite looked up every balance first
        merged = sorted(str(r[0]) for r in db.rows_in(
            "SELECT member_id FROM members WHERE member_id IN ({marks}) AND status = 'merged'", sorted(member_ids)))
        if not merged:
            return
        moves = [(mid, self._members.final(mid), int(points)) for mid, points in sorted(db.rows_in(
            "SELECT member_id, points FROM balances WHERE member_id IN ({marks}) AND points != 0", merged))]
        if not moves:
            return
        top = db.value("UPDATE tills SET high_seq = high_seq + ? WHERE store_id = ? AND till_id = ?"
                       " RETURNING high_seq", (2 * len(moves), HO_STORE, HO_TILL))
        seq = int(top) - 2 * len(moves)
        entries: list[LedgerRecord] = []
        for loser, winner, points in moves:
            for member, pts, other in ((loser, -points, winner), (winner, points, loser)):
                seq += 1
                entries.append(LedgerRecord(
                    entry_id=secrets.token_hex(16), member_id=member, store_id=HO_STORE, till_id=HO_TILL, seq=seq,
                    kind="adjust", points=pts, created_at=now, reason="merge", ref=other, operator="headoffice"))
        self.insert(entries, now)

    # --- reading --------------------------------------------------------------------------------
    def balance(self, member_id: str) -> int:
        """The member's balance (following merges to the surviving member)."""
        with self._db.read():
            row = self._db.one("SELECT points FROM balances WHERE member_id = ?", (self._members.final(member_id),))
        return int(row[0]) if row else 0

    def history(self, member_id: str) -> list[dict[str, Any]]:
        """Ledger entries of the member and of every member merged into it, in receive order."""
        with self._db.read():
            ids = [member_id] + [r[0] for r in self._db.execute(
                "SELECT member_id FROM members WHERE merged_into = ?", (member_id,))]
            rows = self._db.execute(f"SELECT {', '.join(_INSERT_COLUMNS)} FROM ledger"
                                    f" WHERE member_id IN ({marks(len(ids))}) ORDER BY server_seq", ids)
        return [dict(zip(_INSERT_COLUMNS, r, strict=True)) for r in rows]


def _line(li: SaleLine) -> dict[str, Any]:
    return {"line_no": li.line_no, "sku": li.sku, "ean": li.ean, "name": li.name, "category": li.category,
            "qty": li.qty, "unit_cents": li.unit_cents, "amount_cents": li.amount_cents, "points": li.points}

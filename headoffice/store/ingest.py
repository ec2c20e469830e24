"""A till's push, taken in one transaction: idempotent, gap-aware, malformed records quarantined.

The order inside the transaction is fixed (members, cards, sales, entries, documents, then the
merge sweep) because it decides the server_seq every change gets, which is the order tills pull.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import attrgetter

from cardread.read import scrub
from headoffice.store.approvals import Approvals, Gate
from headoffice.store.base import Forbidden, Principal
from headoffice.store.card_formats import program_card_formats
from headoffice.store.db import Db, now_iso, sha256
from headoffice.store.docs import Documents
from headoffice.store.ledger import Ledger
from headoffice.store.members import Members
from headoffice.store.validate import check_chain, check_entries, check_sales
from wire.batches import PendingChange
from wire.fields import MAX_SEQ, DocType
from wire.protocol import CardRecord, LedgerRecord, PushBatch, PushResult, Reject, SaleRecord

# a record's fields read by C loops (map) over a push's thousands of entries (issue 15: ingest rate)
_SEQ, _KIND, _OWNER = attrgetter("seq"), attrgetter("kind"), attrgetter("store_id", "till_id")
_SCAN = 5000  # seqs looked at per step when moving a till's high seq forward
_MAX_GAP_SCAN = 100_000  # beyond this the till is told its high seq only, not every gap


class Ingest:
    """Push: checks who may write what, then hands each part to its aggregate in one write."""

    def __init__(self, db: Db, members: Members, ledger: Ledger, docs: Documents, approvals: Approvals) -> None:
        self._db = db
        self._members = members
        self._ledger = ledger
        self._docs = docs
        self._approvals = approvals

    def ingest(self, principal: Principal, batch: PushBatch) -> PushResult:
        _check_own(principal, batch)
        now = now_iso()
        db = self._db
        with db.write_late():
            high = self._claim_till(principal)  # this till's pushes one at a time, from here to commit
            if batch.members or batch.cards or batch.docs:
                db.serialise()  # their upserts read then write: under the chain-wide lock from the start
            gate = self._approvals.gate(principal.store_id, principal.till_id)  # what it must ask for
            has_key = self._docs.has_till_key(principal.store_id, principal.till_id)
            n_members, touched = self._members.ingest(batch.members, now, gate)
            merges = len(touched)
            cards, card_rejects = self._program_cards(batch)  # the program's own card formats only
            n_cards = self._members.ingest_cards(cards, now)
            sales, sale_rejects = check_sales(batch.sales)
            n_sales = self._ledger.ingest_sales(sales, now)  # no server_seq: before the lock
            entries, entry_rejects = check_entries(batch.entries, high)
            entries, chain_rejects = check_chain(entries, self._chain_before(principal, entries))
            entry_rejects += chain_rejects
            if "adjust" in set(map(_KIND, entries)):  # only an adjustment can wait for approval
                entries = [e for e in entries if not self._held(gate, e)]
            rejects = [*batch.rejects, *card_rejects, *sale_rejects, *entry_rejects]
            # every seq this push sent is held once it commits (stored, a replay, quarantined or waiting for
            # approval), so the till's complete sequence moves before the lock, on its own locked row
            high_seq = self._advance_high_seq(principal, high, {*map(_SEQ, batch.entries),
                                                                *_reject_seqs(batch.rejects)}, bool(batch.entries), now)
            if entries:
                db.serialise()  # from here to commit: balances, server_seq, the merge sweep
            accepted, dups, conflicts = self._ledger.ingest(entries, now)
            rejects += conflicts
            n_docs, doc_rejects = self._docs.ingest(batch.docs, now, gate)
            rejects += doc_rejects
            touched |= {m for m, _ in accepted}
            self._quarantine(principal, rejects, now)
            self._ledger.sweep_merged(touched, now)
            gaps = self._gaps(principal, high_seq, [e.seq for e in batch.entries])
            if not has_key and batch.docs:
                has_key = self._docs.has_till_key(principal.store_id, principal.till_id)
            wants: list[DocType] = [] if has_key else ["till_key"]
        return PushResult(accepted=len(accepted), duplicates=dups, high_seq=high_seq, gaps=gaps,
                          rejected=[r.to_dict() for r in rejects], sales=n_sales, members=n_members, cards=n_cards,
                          merges=merges, docs=n_docs, wants=wants, server_time=now,
                          pending=[PendingChange(p.request_id, p.kind, p.member_id) for p in gate.pending])

    def _program_cards(self, batch: PushBatch) -> tuple[list[CardRecord], list[Reject]]:
        """Pushed cards in the program's formats (its `card_formats` rule, else the defaults tills also use);
        any other is quarantined with the reason, its number scrubbed like every reject."""
        if not batch.cards:
            return [], []
        formats = program_card_formats(self._db)
        cards: list[CardRecord] = []
        rejects: list[Reject] = []
        for i, card in enumerate(batch.cards):
            why = formats.why(card.card_number)
            if why is None:
                cards.append(card)
            else:
                rejects.append(Reject(type="cards", index=i, key=None, reasons=[f"card_number: {why}"],
                                      raw={**card.to_dict(), "card_number": "#" * len(card.card_number)}))
        return cards, rejects

    def _chain_before(self, principal: Principal, entries: Sequence[LedgerRecord]) -> tuple[int, str | None] | None:
        """The (seq, entry_hash) head office holds just below the batch: where the till's chain continues."""
        if not entries:
            return None
        row = self._db.one("SELECT seq, entry_hash FROM ledger WHERE store_id = ? AND till_id = ? AND seq < ?"
                           " ORDER BY seq DESC LIMIT 1",
                           (principal.store_id, principal.till_id, min(e.seq for e in entries)))
        return (int(row[0]), row[1]) if row else None

    def _held(self, gate: Gate, entry: LedgerRecord) -> bool:
        """A manual adjustment above the till's limit waits for approval (its seq counts as held)."""
        if entry.kind != "adjust" or not gate.large(entry.points):
            return False
        return gate.hold("adjust", entry.entry_id, entry.member_id, self._members.home_store(entry.member_id),
                         entry.to_dict(), f"{entry.points:+} points by till {gate.store_id}/{gate.till_id},"
                         f" above its limit of {gate.adjust_limit}", seq=entry.seq)

    def _claim_till(self, principal: Principal) -> int:
        """The till's high seq, its row locked to commit (PostgreSQL): a retried push of the same till taken by
        another worker waits here, so the sequence and its gaps are worked out on what the first one wrote."""
        row = self._db.one("SELECT high_seq FROM tills WHERE store_id = ? AND till_id = ?" + self._db.dialect.row_lock,
                           (principal.store_id, principal.till_id))
        return int(row[0]) if row else 0

    def _quarantine(self, principal: Principal, rejects: Sequence[Reject], now: str) -> None:
        """Keep malformed records aside (card numbers scrubbed); an entry's seq still counts as held."""
        rows = []
        for r in rejects:
            raw = scrub(json.dumps(r.raw, sort_keys=True, default=str))[:4000]
            seq = r.raw.get("seq") if isinstance(r.raw, dict) else None
            if not isinstance(seq, int) or isinstance(seq, bool) or r.type != "entries" or not 1 <= seq <= MAX_SEQ:
                seq = None
            rkey = sha256(f"{principal.store_id}/{principal.till_id}/{r.type}/{raw}")
            rows.append((rkey, principal.store_id, principal.till_id, r.type, seq, json.dumps(r.reasons), raw, now))
        if rows:
            self._db.executemany("INSERT INTO rejects (rkey, store_id, till_id, type, seq, reasons, raw, received_at)"
                                 " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING", rows)

    def _advance_high_seq(self, principal: Principal, high: int, pushed: set[int], sent: bool, now: str) -> int:
        """The highest seq up to which this till's sequence is complete (quarantined seqs count as held), with
        `pushed` (the seqs this push holds once it commits) counted as held already."""
        db = self._db
        who = (principal.store_id, principal.till_id)
        start = high
        top = max(pushed, default=high)
        while True:  # the usual push (it continues the sequence) is one read: its window reaches the batch's top
            upto = max(high + _SCAN, top if top <= high + _MAX_GAP_SCAN else 0)
            held = sorted({int(r[0]) for r in db.execute(
                "SELECT seq FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ? AND seq <= ?"
                " UNION SELECT seq FROM rejects WHERE store_id = ? AND till_id = ? AND seq > ? AND seq <= ?"
                " UNION SELECT seq FROM approval_requests WHERE store_id = ? AND till_id = ? AND seq > ?"
                " AND seq <= ?", (*who, high, upto, *who, high, upto, *who, high, upto))}
                          | {s for s in pushed if high < s <= upto})
            if held and held[0] == high + 1 and held[-1] == high + len(held):  # distinct and gap-free: the usual
                high = held[-1]
            else:
                for s in held:
                    if s != high + 1:
                        break
                    high = s
            if high < upto:
                break
        if high != start or sent:
            db.execute("UPDATE tills SET high_seq = ?, last_push_at = ? WHERE store_id = ? AND till_id = ?",
                       (high, now, *who))
        return high

    def _gaps(self, principal: Principal, high: int, sent: list[int]) -> list[list[int]]:
        """The seqs between the complete sequence and the highest sent that head office's ledger lacks (read
        after this push's entries are in: a quarantined one is a gap the till is told about)."""
        gaps: list[list[int]] = []
        if not (sent and high < max(sent) <= high + _MAX_GAP_SCAN):
            return gaps
        present = {int(r[0]) for r in self._db.execute(
            "SELECT seq FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ? AND seq <= ?",
            (principal.store_id, principal.till_id, high, max(sent)))}
        missing_start = None
        for s in range(high + 1, max(sent) + 1):
            if s not in present and missing_start is None:
                missing_start = s
            elif s in present and missing_start is not None:
                gaps.append([missing_start, s - 1])
                missing_start = None
        return gaps


def _reject_seqs(rejects: Sequence[Reject]) -> set[int]:
    """The seqs quarantining these records holds (as `_quarantine` keeps them)."""
    out = set()
    for r in rejects:
        seq = r.raw.get("seq") if isinstance(r.raw, dict) else None
        if r.type == "entries" and isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_SEQ:
            out.add(seq)
    return out


def _check_own(principal: Principal, batch: PushBatch) -> None:
    """A till pushes only its own records: anything else is refused before a row is written."""
    who = (principal.store_id, principal.till_id)
    if principal.role != "till" or (batch.store_id, batch.till_id) != who:
        raise Forbidden("this token may only push for its own store and till")
    if {*map(_OWNER, batch.entries), *map(_OWNER, batch.sales)} - {who}:  # C loops: the usual push
        records: list[LedgerRecord | SaleRecord] = [*batch.entries, *batch.sales]
        for rec in records:
            if (rec.store_id, rec.till_id) != who:
                raise Forbidden(f"record for {rec.store_id}/{rec.till_id} pushed by {who[0]}/{who[1]}")
    for d in batch.docs:
        if (d.data["store_id"], d.data["till_id"]) != who:
            raise Forbidden(f"{d.type} for {d.data['store_id']}/{d.data['till_id']} pushed by {who[0]}/{who[1]}")

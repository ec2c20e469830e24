"""What head office checks in a push beyond the wire schema: the records must make sense together.

The schema (`wire.records`) already refuses a malformed record, a sale whose lines do not add up to its
total, a redemption that adds points. Here, with what head office knows (the till's sequence so far), a
record is quarantined with a reason (kept in `rejects`, shown in the console, reported to the till) when:
- a sale earns points it cannot have earned: any points on a total of zero or less, or more than
  `EARN_CAP_PER_UNIT` points per currency unit (100 cents) of its total;
- an earn entry claims more than that cap on the amount it carries;
- an entry's seq is more than `SEQ_WINDOW` past the till's complete sequence (a seq of 10**12 would make
  every later gap scan and the till's high-water mark meaningless).
The cap is a ceiling no program reaches (x10 points on every category, doubled by a promotion is 20 per unit),
not a re-computation of the till's earning rules: those live in each till's configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from wire.ledger_chain import chain_hash, typed_chain_hash
from wire.protocol import LedgerRecord, Reject, SaleRecord

EARN_CAP_PER_UNIT = 100  # points per 100 cents of a sale: far above any program, far below a forged 10**9
SEQ_WINDOW = 1_000_000  # how far past its complete sequence a till may push (a year of a busy till's entries)


def _earn_cap(amount_cents: int) -> int:
    return max(0, amount_cents) * EARN_CAP_PER_UNIT // 100


def check_sales(sales: Sequence[SaleRecord]) -> tuple[list[SaleRecord], list[Reject]]:
    """The sales to store, and the ones quarantined with their reason."""
    good: list[SaleRecord] = []
    rejects: list[Reject] = []
    for i, s in enumerate(sales):
        reasons = []
        if s.points_earned > 0 and s.total_cents <= 0:
            reasons.append(f"points_earned: {s.points_earned} points on a total of {s.total_cents} cents")
        elif s.points_earned > _earn_cap(s.total_cents):
            reasons.append(f"points_earned: {s.points_earned} is more than {EARN_CAP_PER_UNIT} points per unit of"
                           f" the total ({_earn_cap(s.total_cents)} at most)")
        if reasons:
            rejects.append(Reject(type="sales", index=i, key=s.sale_id, reasons=reasons, raw=s.to_dict()))
        else:
            good.append(s)
    return good, rejects


def check_entries(entries: Sequence[LedgerRecord], high_seq: int) -> tuple[list[LedgerRecord], list[Reject]]:
    """The entries to take, and the ones quarantined with their reason (their seq still counts as held)."""
    top = high_seq + SEQ_WINDOW
    cap = EARN_CAP_PER_UNIT  # points > amount * cap // 100 is, in integers, points * 100 > amount * cap
    if not any(e.seq > top or (e.kind == "earn" and e.amount_cents > 0 and e.points * 100 > e.amount_cents * cap)
               for e in entries):  # the usual push: one pass, no reasons built (issue 15: ingest rate)
        return list(entries), []
    good: list[LedgerRecord] = []
    rejects: list[Reject] = []
    for i, e in enumerate(entries):
        reasons = []
        if e.seq > top:
            reasons.append(f"seq: {e.seq} is more than {SEQ_WINDOW:,} past this till's sequence ({high_seq})")
        if e.kind == "earn" and e.amount_cents > 0 and e.points > _earn_cap(e.amount_cents):
            reasons.append(f"points: {e.points} is more than {EARN_CAP_PER_UNIT} points per unit of the"
                           f" {e.amount_cents} cents it was earned on")
        if reasons:
            rejects.append(Reject(type="entries", index=i, key=e.entry_id, reasons=reasons, raw=e.to_dict()))
        else:
            good.append(e)
    return good, rejects


def check_chain(entries: Sequence[LedgerRecord], before: tuple[int, str | None] | None
                ) -> tuple[list[LedgerRecord], list[Reject]]:
    """The till's hash chain (`wire.ledger_chain`): an entry whose hash does not cover its content, or that
    does not link to the entry before it, is quarantined (the till's database was changed or damaged).

    `before` is the (seq, entry_hash) head office holds just below the batch. A link is checked only
    across consecutive seqs whose predecessor has a hash: entries from a till before the chain carry none."""
    ordered = all(a.seq < b.seq for a, b in pairwise(entries))  # as tills send them: no sort needed
    pairs = list(enumerate(entries)) if ordered else sorted(enumerate(entries), key=lambda ie: ie[1].seq)
    if _all_link(pairs, before):  # the usual push: one pass, no reasons built (issue 15: ingest rate)
        return [e for _, e in pairs], []
    good: list[LedgerRecord] = []
    rejects: list[Reject] = []
    pred = before
    for i, e in pairs:
        reasons = []
        if e.entry_hash is not None:
            if chain_hash(e.prev_hash, e.chain_content()) != e.entry_hash:
                reasons.append("entry_hash: does not match the entry's content (changed or damaged at the till)")
            elif pred is not None and pred[0] == e.seq - 1 and pred[1] is not None and e.prev_hash != pred[1]:
                reasons.append(f"prev_hash: does not link to the till's entry seq {pred[0]} (an entry was changed"
                               " or removed at the till)")
        pred = (e.seq, e.entry_hash)
        if reasons:
            rejects.append(Reject(type="entries", index=i, key=e.entry_id, reasons=reasons, raw=e.to_dict()))
        else:
            good.append(e)
    return good, rejects


def _all_link(pairs: Sequence[tuple[int, LedgerRecord]], before: tuple[int, str | None] | None) -> bool:
    """`check_chain`'s rules as one boolean pass: every hash covers its entry and links to the one before.

    The bytes are `typed_chain_hash`'s over `chain_content()`: the chain's column order is written once, in
    `wire` (writing it out here again saved ~1-2% of an ingest, not worth a second copy of the format)."""
    seq, prev = before if before is not None else (None, None)
    for _, e in pairs:
        h = e.entry_hash
        if h is not None and (typed_chain_hash(e.prev_hash, e.chain_content()) != h
                              or (seq == e.seq - 1 and prev is not None and e.prev_hash != prev)):
            return False
        seq, prev = e.seq, h
    return True

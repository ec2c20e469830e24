"""Issue 11, finding 4 at head office: each till's pushed entries carry its hash chain, head office verifies
it (a break is quarantined with its reason) and keeps the hashes (schema step 5)."""

from __future__ import annotations

import uuid

from headoffice.store import Principal
from headoffice.store.migrations import STEPS
from wire.ledger_chain import CHAIN_COLUMNS, chain_hash
from wire.protocol import PushBatch

T0 = "2026-03-01T10:00:00.000000+00:00"
MEMBER = {"member_id": "m1", "store_id": "S1", "name": "Ann", "phone": None, "email": None, "status": "active",
          "created_at": T0, "updated_at": T0, "consent": {"email": True}}


def chained_entries(first_seq: int, count: int, prev: str | None = None) -> list[dict]:
    """Entries as a till's `ledger.append` writes them: each hash over its content and the one before."""
    out = []
    for seq in range(first_seq, first_seq + count):
        e = {"entry_id": uuid.uuid4().hex, "member_id": "m1", "store_id": "S1", "till_id": "T1", "seq": seq,
             "kind": "earn", "points": 10, "sale_id": None, "amount_cents": 1000, "created_at": T0,
             "operator": None, "reason": None, "ref": None}
        e["prev_hash"] = prev
        e["entry_hash"] = prev = chain_hash(prev, [e[c] for c in CHAIN_COLUMNS])
        out.append(e)
    return out


def enrol(store) -> Principal:
    _token, who = store.register(store.add_till("S1", "T1"))
    return who


def push(store, who, entries, members=()):
    return store.ingest(who, PushBatch.parse({"store_id": "S1", "till_id": "T1", "entries": entries,
                                             "members": list(members)}))


def test_schema_step_5_is_registered_in_order():
    versions = [v for v, _what, _apply in STEPS]
    assert 5 in versions and versions == sorted(versions)


def test_an_intact_chain_is_taken_and_kept_across_pushes(ho_store):
    who = enrol(ho_store)
    first = chained_entries(1, 3)
    result = push(ho_store, who, first, [MEMBER])
    assert result.accepted == 3 and result.rejected == []
    more = chained_entries(4, 2, prev=first[-1]["entry_hash"])
    result = push(ho_store, who, more)
    assert result.accepted == 2 and result.rejected == []
    kept = ho_store._execute("SELECT seq, prev_hash, entry_hash FROM ledger WHERE till_id = 'T1' ORDER BY seq")
    assert [tuple(r) for r in kept] == [(e["seq"], e["prev_hash"], e["entry_hash"]) for e in first + more]


def test_a_changed_entry_is_quarantined_with_its_reason(ho_store):
    who = enrol(ho_store)
    entries = chained_entries(1, 3)
    entries[1]["points"] = 11  # changed after its hash was computed (a flipped byte at the till)
    result = push(ho_store, who, entries, [MEMBER])
    assert result.accepted == 2
    [reject] = result.rejected
    assert reject["key"] == entries[1]["entry_id"]
    assert "entry_hash: does not match the entry's content" in " ".join(reject["reasons"])
    stored = ho_store._execute("SELECT type, reasons FROM rejects WHERE till_id = 'T1'")
    assert len(stored) == 1 and "entry_hash" in stored[0][1]
    assert ho_store.balance("m1") == 20  # the changed entry's points were not taken


def test_a_break_in_the_link_to_what_head_office_holds_is_quarantined(ho_store):
    who = enrol(ho_store)
    first = chained_entries(1, 2)
    assert push(ho_store, who, first, [MEMBER]).accepted == 2
    forged = chained_entries(3, 1, prev="0" * 64)  # self-consistent, but not linked to seq 2 as held
    result = push(ho_store, who, forged)
    assert result.accepted == 0
    [reject] = result.rejected
    assert "prev_hash: does not link to the till's entry seq 2" in " ".join(reject["reasons"])


def test_entries_from_a_till_before_the_chain_are_still_taken(ho_store):
    who = enrol(ho_store)
    old = chained_entries(1, 2)
    for e in old:
        e["prev_hash"] = e["entry_hash"] = None
    assert push(ho_store, who, old, [MEMBER]).accepted == 2
    # the upgraded till backfilled its chain: its next entry links to a hash head office never saw
    upgraded = chained_entries(3, 1, prev=chain_hash(None, [old[0][c] for c in CHAIN_COLUMNS]))
    assert push(ho_store, who, upgraded).accepted == 1

"""The approval requests on both head-office backends (SQLite and PostgreSQL): what a push holds, what deciding
does, each in one transaction. The HTTP and till side is in test_scope.py."""

from __future__ import annotations

import pytest
from records import batch, card, entry, member

from cardread.barcode import with_check_digit
from headoffice.store import Principal
from headoffice.store.approvals import ApprovalRefused

CARD = with_check_digit("290000000001")


def _till(store, s: str, t: str) -> Principal:
    code = store.add_till(s, t)
    token, who = store.register(code)
    assert store.authenticate(token) == who
    return who


@pytest.fixture
def two_stores(store):
    s1, s2 = _till(store, "S1", "T1"), _till(store, "S2", "T1")
    store.ingest(s1, batch("S1", "T1", members=[member("m1", "S1", "+33611111111")],
                           entries=[entry("S1", "T1", 1, "m1", 300)]))
    return s1, s2


def test_held_changes_are_applied_or_reversed_by_the_decision(store, two_stores):
    _s1, s2 = two_stores
    renamed = {**member("m1", "S1", "+33611111111", name="Mallory"), "updated_at": "2026-05-01T00:00:00+00:00"}
    r = store.ingest(s2, batch("S2", "T1", members=[renamed], entries=[entry("S2", "T1", 1, "m1", 2_000, "adjust"),
                                                                      entry("S2", "T1", 2, "m1", 20, "adjust")]))
    assert sorted(p.kind for p in r.pending) == ["adjust", "profile"] and r.high_seq == 2 and r.accepted == 1
    assert store.member("m1")["name"] == "Ann" and store.balance("m1") == 320
    ids = {p.kind: p.request_id for p in r.pending}
    assert {x["request_id"] for x in store.approvals.page("S1", "pending")} == set(ids.values())
    assert store.approvals.page("S2", "pending") == []  # requests are filed under the member's store

    assert store.decide_request(ids["profile"], True, "console:olivia", "customer's new name")["kind"] == "profile"
    assert store.member("m1")["name"] == "Mallory"
    store.decide_request(ids["adjust"], False, "console:olivia", "not agreed")
    assert store.balance("m1") == 320  # the till's 2000 is in, a head-office -2000 beside it
    points = sorted(e["points"] for e in store.member_history("m1"))
    assert points == [-2000, 20, 300, 2000]
    with pytest.raises(ApprovalRefused, match="already denied"):
        store.decide_request(ids["adjust"], True, "console:olivia", "changed my mind")
    decided = {x["request_id"]: x for x in store.approvals.page(None)}
    assert decided[ids["adjust"]]["status"] == "denied" and decided[ids["profile"]]["status"] == "approved"


def test_an_approved_adjustment_goes_in_as_the_till_wrote_it(store, two_stores):
    _s1, s2 = two_stores
    big = entry("S2", "T1", 1, "m1", 900, "adjust")
    r = store.ingest(s2, batch("S2", "T1", entries=[big]))
    [pending] = r.pending
    assert store.balance("m1") == 300
    store.decide_request(pending.request_id, True, "console:olivia", "agreed by phone")
    assert store.balance("m1") == 1200
    [taken] = [e for e in store.member_history("m1") if e["entry_id"] == big["entry_id"]]
    assert (taken["store_id"], taken["till_id"], taken["seq"]) == ("S2", "T1", 1)
    again = store.ingest(s2, batch("S2", "T1", entries=[big]))  # the till pushes it again: a duplicate
    assert (again.accepted, again.duplicates, again.pending) == (0, 1, [])


def test_a_tills_member_reads_are_counted_per_till_and_exact(store, two_stores):
    s1, s2 = two_stores
    store.approvals.set_setting("lookup_limit.per_minute", 2)
    assert [store.till_read_allowed(s2) for _ in range(3)] == [True, True, False]
    assert store.till_read_allowed(s1)  # another till's count is its own
    store.ingest(s1, batch("S1", "T1", cards=[card(CARD, "m1")]))
    assert store.lookup_member(CARD, None) == {"member_id": "m1", "store_id": "S1", "status": "active",
                                               "card_status": "active", "balance": 300}
    assert store.lookup_member(None, "06 11 11 11 11")["member_id"] == "m1"
    assert store.lookup_member(None, "Ann") is None and store.lookup_member("4111111111111111", None) is None

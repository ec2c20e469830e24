"""The wire format: integers only, every problem of a record reported, good records kept."""

from __future__ import annotations

import pytest
from records import T0, entry

from wire.protocol import (
    CardRecord,
    DocRecord,
    Invalid,
    LedgerRecord,
    MemberRecord,
    PullPage,
    PushBatch,
    SaleRecord,
)


def test_ledger_record_round_trips_and_rejects_non_integers():
    e = entry("S1", "T1", 1, "m1", 5)
    assert LedgerRecord.parse(e).to_dict() == {**e, "sale_id": None, "operator": None, "reason": None, "ref": None,
                                              "entry_hash": None, "prev_hash": None}  # entries from before the chain
    for field, value, reason in (("points", 1.5, "points: must be an integer"), ("points", True, "integer"),
                                 ("seq", 0, "seq: must be >= 1"), ("entry_id", "xyz", "entry_id: malformed"),
                                 ("created_at", "yesterday", "ISO-8601"), ("kind", "gift", "kind: must be one of")):
        with pytest.raises(Invalid) as info:
            LedgerRecord.parse({**e, field: value})
        assert any(reason in r for r in info.value.reasons), (field, info.value.reasons)
    with pytest.raises(Invalid) as info:
        LedgerRecord.parse({"points": 2.5})
    assert len(info.value.reasons) >= 7  # every missing or bad field, not just the first
    with pytest.raises(Invalid, match="redemption cannot add"):
        LedgerRecord.parse({**e, "kind": "redeem", "points": 5})


def test_sale_lines_must_add_up_in_cents():
    sale = {"sale_id": "s1", "store_id": "S1", "till_id": "T1", "total_cents": 300, "created_at": T0,
            "lines": [{"line_no": 1, "name": "A", "category": "general", "qty": 2, "unit_cents": 150,
                       "amount_cents": 300}]}
    assert SaleRecord.parse(sale).lines[0].qty == 2
    with pytest.raises(Invalid, match="not the sum"):
        SaleRecord.parse({**sale, "total_cents": 301})
    with pytest.raises(Invalid, match="unit_cents: must be an integer"):
        SaleRecord.parse({**sale, "lines": [{**sale["lines"][0], "unit_cents": 1.5}]})


def test_members_cards_and_payment_numbers():
    m = {"member_id": "m1", "store_id": "S1", "created_at": T0, "updated_at": T0, "consent": {"sms": True}}
    assert MemberRecord.parse(m).consent == {"sms": True}
    with pytest.raises(Invalid, match="consent"):
        MemberRecord.parse({**m, "consent": {"fax": True}})
    with pytest.raises(Invalid, match="merged_into: required"):
        MemberRecord.parse({**m, "status": "merged"})
    with pytest.raises(Invalid) as info:
        CardRecord.parse({"card_number": "4111111111111111", "member_id": "m1", "source": "keyed",
                          "status": "active", "updated_at": T0})
    assert "4111111111111111" not in str(info.value)


def test_push_batch_keeps_good_records_and_lists_bad_ones():
    body = {"store_id": "S1", "till_id": "T1", "entries": [entry("S1", "T1", 1, "m1", 5), {"seq": 2}, 7]}
    batch = PushBatch.parse(body)
    assert len(batch.entries) == 1
    assert [(r.type, r.index) for r in batch.rejects] == [("entries", 1), ("entries", 2)]
    assert PushBatch.parse(batch.to_dict()).entries == batch.entries
    for bad in ([], {"store_id": "S1"}, {"store_id": "S1", "till_id": "T1", "entries": {}},
                {"store_id": "S1", "till_id": "T1", "version": 2}):
        with pytest.raises(Invalid):
            PushBatch.parse(bad)


def test_pull_page_round_trip():
    page = PullPage.from_dict({"changes": [{"cursor": 3, "type": "rule", "data": {"key": "k", "value": 1}}],
                               "next_cursor": 3, "more": False})
    assert PullPage.from_dict(page.to_dict()) == page


def test_every_reason_names_its_field_down_to_a_sale_line_or_a_document():
    sale = {"sale_id": "s1", "store_id": "S1", "till_id": "T1", "total_cents": 300, "created_at": T0,
            "lines": [{"line_no": 1, "name": "A", "category": "general", "qty": 2, "unit_cents": 150,
                       "amount_cents": 300}, {"line_no": 0, "name": "", "qty": 1.5}]}
    with pytest.raises(Invalid) as info:
        SaleRecord.parse(sale)
    assert info.value.reasons == ["lines[1].line_no: must be >= 1", "lines[1].name: required",
                                  "lines[1].category: required", "lines[1].qty: must be an integer, got float",
                                  "lines[1].unit_cents: required", "lines[1].amount_cents: required"]
    doc = {"type": "coupon_use", "key": "u2", "data": {"use_id": "u1", "code": "C-1", "store_id": "S1",
                                                       "till_id": "T1", "sale_id": "s1", "used_at": T0}}
    with pytest.raises(Invalid, match="key: must be the key its data names, 'u1' for this coupon_use"):
        DocRecord.parse(doc)
    with pytest.raises(Invalid, match=r"^data.code: malformed; data.used_at: not an ISO-8601 time$"):
        DocRecord.parse({**doc, "data": {**doc["data"], "used_at": "noon", "code": "C 1"}})

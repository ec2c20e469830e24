"""Till and head office read each other's messages exactly, both ways, on every message type.

Records come from the till's own code (a sale, an enrolment, a redeemed and used coupon, an erasure,
an offer targeting, the till's key); the till's side is the real `HeadOfficeClient` (its requests are captured and its
answers served through an httpx transport), the head office's side is the real store and the wire
decoders the server uses. Each message also fits the served document's schema (jsonschema-rs, the
validator schemathesis uses), so the document describes what really travels. The captured bytes let the tests
compare exactly what was sent; the last test takes the same push through the real server on loopback.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema_rs
import msgspec
import pytest
from records import T0
from tillkit import enrol, loyalty, sell

from headoffice.store import Principal
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import coupons, manager, offers, privacy, rewards
from sync.client import HeadOfficeClient, Refused
from sync.push import collect
from wire.batches import PushBatch, encode
from wire.messages import Balance, Error, Registered, RegisterRequest
from wire.openapi import openapi

PIN = "2468"


def fits(name: str, value: Any) -> None:
    """`value` (as JSON) fits the document's schema `name`."""
    doc = openapi()
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    errors = [e.message for e in jsonschema_rs.Draft202012Validator(schema).iter_errors(json.loads(encode(value)))]
    assert errors == [], (name, errors[:5])


@pytest.fixture
def till_body(make_till) -> dict[str, Any]:
    """One push as the till builds it, holding every kind of record and document."""
    t = make_till("S1", "T1")
    manager.add_manager(t, "Alice", PIN)
    m = enrol(t, 1, "+33611111111")
    sale = sell(t, 1, 60000)
    assert offers.present(t, m.member_id, sale.sale_id) is not None or t.conn.execute(
        "SELECT grp FROM offer_targets").fetchone()[0] == "control"  # the welcome offer: targeted, either group
    token = rewards.redeem(t, m.member_id, "R500", PIN, points=100)["token"]
    basket = Basket()
    basket.add(Line.keyed(2000))
    coupons.apply_coupon(t, basket, token)
    commit_sale(t, basket)
    privacy.erase(t, m.member_id, PIN)
    body, _, _ = collect(t, announce=True)
    assert {k: bool(body[k]) for k in ("entries", "sales", "members", "cards", "docs")} == dict.fromkeys(
        ("entries", "sales", "members", "cards", "docs"), True)
    assert sorted(d["type"] for d in body["docs"]) == ["coupon_use", "erasure", "offer_target", "tier_change",
                                                      "till_key"]  # the 600.00 sale made the member Silver
    assert any(e["kind"] == "redeem" for e in body["entries"])
    assert loyalty(1) in {c["card_number"] for c in body["cards"]}
    return body


class Wire:
    """An httpx transport standing in for the network: keeps what the till sent, answers what it is given."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []
        self.answer: tuple[int, bytes] = (200, b"{}")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        status, content = self.answer
        return httpx.Response(status, content=content, headers={"content-type": "application/json"})

    def client(self) -> HeadOfficeClient:
        return HeadOfficeClient("http://headoffice.test", "token", transport=httpx.MockTransport(self))


def test_a_push_the_till_encodes_is_the_batch_head_office_decodes(till_body, store):
    wire = Wire()
    who = Principal("S1", "T1")
    store.add_till("S1", "T1")
    expected = store.ingest(who, PushBatch.parse(till_body))  # what head office makes of the till's records
    wire.answer = (200, encode(expected))
    with wire.client() as client:
        answer = client.push(till_body)
    batch = PushBatch.decode(wire.sent[0].content)  # exactly what the server runs on the request body
    assert batch.rejects == [] and batch.to_dict() == {**till_body, "version": 1}
    assert batch == PushBatch.parse(till_body)
    assert answer == expected and expected.accepted == len(till_body["entries"])
    fits("PushBatch", till_body)
    fits("PushResult", answer)


def test_a_result_with_rejects_gaps_and_wants_reaches_the_till_whole(store):
    who = Principal("S1", "T1")
    store.add_till("S1", "T1")
    bad = {"store_id": "S1", "till_id": "T1", "entries": [{"entry_id": "x", "seq": 3}]}
    result = store.ingest(who, PushBatch.parse(bad))
    assert result.rejected and result.wants == ["till_key"]
    result.gaps.append([1, 2])
    wire = Wire()
    wire.answer = (422, encode(result))
    with wire.client() as client:
        assert client.push(bad) == result
    fits("PushResult", result)


def test_a_page_head_office_encodes_is_the_page_the_till_decodes(till_body, store):
    a, b = Principal("S1", "T1"), Principal("S2", "T1")
    for who in (a, b):
        store.add_till(who.store_id, who.till_id)
    store.approvals.set_setting("approvals.auto_erase", 1)  # the till's erasure reaches the page without a decision
    store.ingest(a, PushBatch.parse(till_body))
    store.set_rule("offline_redeem_cap", 300)
    store.upsert_products([{"sku": "A1", "ean": "4006381333931", "name": "Pen", "category": "office",
                            "price_cents": 199}])
    page = store.pull(b, 0, 1000, True)
    assert {c.type for c in page.changes} == {"member", "card", "entry", "rule", "product", "till_key",
                                             "coupon_use", "erasure", "offer_target"}
    wire = Wire()
    wire.answer = (200, encode(page))
    with wire.client() as client:
        assert client.pull(0) == page
    assert dict(wire.sent[0].url.params) == {"cursor": "0", "limit": "1000", "total": "1"}
    fits("PullPage", page)


def test_registration_balance_and_refusals_agree():
    wire = Wire()
    wire.answer = (200, encode(Registered("tok", "S1", "T1")))
    with wire.client() as client:
        assert client.register("ABCD-EFGH-JKLM") == {"token": "tok", "store_id": "S1", "till_id": "T1"}
        assert msgspec.json.decode(wire.sent[0].content, type=RegisterRequest) == RegisterRequest("ABCD-EFGH-JKLM")
        wire.answer = (200, encode(Balance("m1", -5)))
        assert client.balance("m1") == -5
        wire.answer = (422, encode(Error("malformed request", ["code: required"])))
        with pytest.raises(Refused, match="code: required"):
            client.register("")
    fits("Error", Error("malformed request", ["code: required"]))
    fits("Registered", Registered("tok", "S1", "T1"))


def test_what_head_office_sends_fits_the_schemas_it_publishes(store):
    who = Principal("S1", "T1")
    store.add_till("S1", "T1")
    store.ingest(who, PushBatch.parse({"store_id": "S1", "till_id": "T1", "entries": [
        {"entry_id": "a" * 32, "member_id": "m1", "store_id": "S1", "till_id": "T1", "seq": 1, "kind": "redeem",
         "points": -5, "created_at": T0}, {"seq": 2}]}))
    fits("OverdraftReport", {"members": store.overdraft_report()})
    fits("RejectsReport", {"rejects": store.rejects()})
    fits("TillKeysReport", {"till_keys": store.till_keys()})
    fits("CouponDoublesReport", {"double_uses": store.coupon_doubles()})


def test_the_same_push_through_the_real_server_on_loopback(till_body, ho_store, headoffice):
    """The captured-bytes tests above, once more end to end: the till's client, HTTP on loopback, the real
    server's decoder and store. Every entry lands as the till wrote it, nothing is set aside."""
    with HeadOfficeClient(headoffice.url) as anonymous:
        token = anonymous.register(ho_store.add_till("S1", "T1"))["token"]
    with HeadOfficeClient(headoffice.url, token) as client:
        result = client.push(till_body)
    assert result.rejected == [] and result.accepted == len(till_body["entries"])
    stored = {r["entry_id"]: r for r in ho_store.export_rows("ledger")}
    for entry in till_body["entries"]:
        assert {k: stored[entry["entry_id"]][k] for k in ("member_id", "kind", "points", "seq")} == {
            k: entry[k] for k in ("member_id", "kind", "points", "seq")}
    assert {s["sale_id"] for s in ho_store.export_rows("sales")} >= {s["sale_id"] for s in till_body["sales"]}

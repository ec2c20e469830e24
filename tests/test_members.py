"""Enrolment, lookup by card/phone/name, lost cards, consent."""

from __future__ import annotations

import pytest

from cardread import parse_card
from cardread.barcode import with_check_digit
from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.domain.phone import mask_phone, normalise_phone
from pos_client.services import checkout, members
from pos_client.store import ledger

CARD = with_check_digit("290000000001")


def test_enrol_with_phone_only_and_find_with_any_formatting(till):
    m = members.enroll(till, phone="06 12 34 56 78", name="Zoë Martin", consent=["sms"])
    for q in ("0612345678", "+33 6 12 34 56 78", "0033-6-12-34-56-78", "zoë", "MARTIN"):
        assert [x.member_id for x in members.find(till, q)] == [m.member_id], q
    assert members.consents(till, m.member_id) == {"sms": True}
    assert till.conn.execute("SELECT at FROM member_consent").fetchone()[0]


def test_enrol_needs_card_or_phone_and_refuses_duplicates(till):
    with pytest.raises(UsageError):
        members.enroll(till, name="Nobody")
    members.enroll(till, card=parse_card(CARD), phone="0612345678")
    with pytest.raises(RefusedInput):
        members.enroll(till, card=parse_card(CARD))
    with pytest.raises(RefusedInput):
        members.enroll(till, phone="+33612345678")
    with pytest.raises(UsageError):
        members.enroll(till, phone="0611111111", consent=["pigeon"])


def test_payment_card_cannot_be_enrolled(till):
    with pytest.raises(RefusedInput, match="payment card"):
        members.enroll(till, card=parse_card("4111111111111111"))


def test_lost_card_moves_member_with_balance(till):
    m = members.enroll(till, card=parse_card(CARD))
    b = checkout.Basket(member_id=m.member_id)
    b.add(checkout.Line.keyed(5000))
    checkout.commit_sale(till, b)
    new = parse_card(with_check_digit("290000000002"))
    moved = members.replace_card(till, parse_card(CARD), new)
    assert moved.member_id == m.member_id and moved.balance == 50
    assert members.member_for_card(till, new).balance == 50
    statuses = {c["card_number"]: c["status"] for c in members.cards_of(till, m.member_id)}
    assert statuses == {CARD: "lost", new.card_number: "active"}


def test_welcome_bonus_goes_through_the_ledger(tmp_path):
    from pos_client.store.config import write_config
    from pos_client.till import open_till

    write_config(tmp_path, {"program": {"welcome_bonus": 100}})
    ctx = open_till(tmp_path)
    m = members.enroll(ctx, phone="0612345678")
    assert m.balance == 100 == ledger.ledger_sum(ctx.conn, m.member_id)


def test_phone_helpers():
    assert normalise_phone("06 12 34 56 78") == "+33612345678"
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"
    assert mask_phone("+33612345678").endswith("678") and "1234" not in mask_phone("+33612345678")
    with pytest.raises(UsageError):
        normalise_phone("12")

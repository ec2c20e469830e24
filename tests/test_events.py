"""Reader events: routing by shape, JSON/text lines, and the attributes the app reads."""

from __future__ import annotations

from cardread.barcode import with_check_digit
from cardread.nfc import RANDOM_UID_MESSAGE
from drivers.events import (
    CardEvent,
    DeviceState,
    ProductEvent,
    ReaderError,
    event_from_frame,
    event_to_json,
    event_to_text,
    nfc_event,
)
from hw_sim import swipes

LOYALTY = with_check_digit("290000000021")


def test_magstripe_reader_only_swipes():
    assert event_from_frame("m", "magstripe", swipes.track2(LOYALTY)).read.card_number == LOYALTY
    # a track with a wrong check character is a failed read, not a card
    bad = swipes.track2(LOYALTY, with_lrc=True)[:-1] + "0"
    assert isinstance(event_from_frame("m", "magstripe", bad), ReaderError)


def test_scanner_routes_products_cards_and_swipes():
    product = with_check_digit("400638133393")
    assert event_from_frame("s", "barcode", product) == ProductEvent("s", product)
    assert event_from_frame("s", "barcode", LOYALTY).read.source == "barcode"
    assert event_from_frame("s", "barcode", "\x02" + LOYALTY + "\x03").read.card_number == LOYALTY
    assert event_from_frame("s", "barcode", swipes.track2(LOYALTY)).read.source == "magstripe"
    assert isinstance(event_from_frame("s", "barcode", "hello world!"), ReaderError)


def test_nfc_prefers_a_valid_ndef_id_and_refuses_random_uids():
    assert nfc_event("n", uid=bytes.fromhex("04A2B3C4D5E680"), loyalty_ids=[LOYALTY]).read.card_number == LOYALTY
    assert nfc_event("n", uid=bytes.fromhex("04A2B3C4D5E680"), loyalty_ids=["hello world!"]).read.card_number == (
        "NFC:04A2B3C4D5E680"
    )
    random_uid = nfc_event("n", uid=bytes.fromhex("08A1B2C3"))
    assert isinstance(random_uid, CardEvent) and random_uid.refused and random_uid.read.error == RANDOM_UID_MESSAGE
    # a phone carrying a loyalty id is fine even though its UID is random
    assert nfc_event("n", uid=bytes.fromhex("08A1B2C3"), loyalty_ids=[LOYALTY]).read.ok
    # a bank card number written into NDEF is refused like the card itself, and not kept
    pan = nfc_event("n", loyalty_ids=[swipes.TEST_PAN])
    assert pan.read.payment_card and swipes.TEST_PAN not in repr(pan) + str(event_to_json(pan))
    assert isinstance(nfc_event("n"), ReaderError)


def test_json_and_text_lines():
    card = event_from_frame("msr", "magstripe", swipes.track2(LOYALTY))
    assert event_to_json(card) == {"source": "msr", "kind": "card", "card": LOYALTY, "via": "magstripe"}
    assert event_to_text(card) == f"msr: card {LOYALTY} (magstripe)"
    refused = event_from_frame("msr", "magstripe", swipes.bank_swipe())
    assert event_to_text(refused) == "msr: REFUSED: this is a payment card, not a loyalty card"
    state = DeviceState("nfc", "disconnected", "PC/SC service stopped")
    assert event_to_json(state) == {"source": "nfc", "kind": "state", "state": "disconnected",
                                    "detail": "PC/SC service stopped"}
    assert event_to_text(ReaderError("msr")) == "msr: unreadable, swipe again"


def test_events_answer_the_apps_device_event_attributes():
    """TillApp.on_device_event_message reads kind, device, card, ean and text."""
    card = event_from_frame("msr", "magstripe", swipes.track2(LOYALTY))
    assert (card.kind, card.device, card.card.card_number) == ("card", "msr", LOYALTY)
    product = ProductEvent("scanner", "4006381333931")
    assert (product.kind, product.device, product.ean) == ("product", "scanner", "4006381333931")
    error = ReaderError("msr", "unreadable, swipe again")
    assert (error.kind, error.device, error.text) == ("error", "msr", "unreadable, swipe again")
    state = DeviceState("nfc", "connected", "Virtual PCD 00 00")
    assert (state.kind, state.device, state.text) == ("state", "nfc", "connected (Virtual PCD 00 00)")

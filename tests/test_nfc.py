"""NFC taps end to end: hw_sim's virtual card -> vpcd -> a private pcscd -> pyscard -> PcscReader."""

from __future__ import annotations

import logging

import pytest

from cardread.barcode import with_check_digit
from cardread.nfc import RANDOM_UID_MESSAGE
from cardread.read import PAYMENT_CARD_MESSAGE
from drivers.events import CardEvent, DeviceState, ReaderError, event_to_json
from drivers.pcsc_reader import LIFTED, NO_SERVICE, READER_LOST, SERVICE_LOST, PcscReader
from tests.eventlog import EventLog
from tests.pcsc_fixture import wait_reader_empty

LOYALTY = with_check_digit("290000000042")


@pytest.fixture
def watcher(pcscd):
    readers: list[PcscReader] = []

    def make() -> EventLog:
        log = EventLog()
        reader = PcscReader(log, reader="Virtual PCD", name="nfc", poll_ms=100)
        reader.start()
        readers.append(reader)
        return log

    yield make
    for reader in readers:
        reader.stop()
        assert not reader.is_alive()


def connected(log: EventLog) -> DeviceState:
    return log.wait_for(lambda e: isinstance(e, DeviceState) and e.state == "connected")


def test_uid_card(watcher, vcard):
    log = watcher()
    assert "Virtual PCD 00 00" in connected(log).detail
    vcard("uid", uid="04A2B3C4D5E680").tap()
    event = log.kind("card")
    assert isinstance(event, CardEvent) and event.read.ok
    assert event.read.card_number == "NFC:04A2B3C4D5E680" and event.read.source == "nfc"


@pytest.mark.parametrize(
    "record", ["text", "https://club.example/c/{id}", "https://club.example/app?id={id}&lang=fr"]
)
def test_type4_ndef_loyalty_id_preferred_over_uid(watcher, vcard, record):
    log = watcher()
    connected(log)
    card = vcard("type4", uid="04112233445566", loyalty_id=LOYALTY, record=record).tap()
    event = log.kind("card")
    assert event.read.ok and event.read.card_number == LOYALTY and event.read.source == "nfc"
    # the whole read: 2 payment SELECTs, SELECT app, SELECT CC, READ CC, SELECT NDEF, READ NLEN, READ body, UID
    assert card.apdu_count == 9


def test_type4_without_a_card_number_falls_back_to_uid(watcher, vcard):
    log = watcher()
    connected(log)
    vcard("type4", uid="04112233445566", loyalty_id="see our shop", record="https://shop.example/{id}").tap()
    assert log.kind("card").read.card_number == "NFC:04112233445566"


def test_emv_payment_card_refused_without_number(watcher, vcard, caplog):
    caplog.set_level(logging.DEBUG)
    log = watcher()
    connected(log)
    card = vcard("emv", uid="04998877665544").tap()
    event = log.kind("card")
    assert event.refused and event.read.payment_card and event.read.error == PAYMENT_CARD_MESSAGE
    assert event.read.card_number is None and event.read.raw == ""
    assert event_to_json(event)["card"] is None
    assert card.apdu_count == 1  # answered the PPSE: nothing else was asked of it
    assert "04998877665544" not in repr(log.events) + caplog.text


def test_random_uid_refused(watcher, vcard):
    log = watcher()
    connected(log)
    vcard("uid", uid="08A1B2C3").tap()
    event = log.kind("card")
    assert event.refused and event.read.error == RANDOM_UID_MESSAGE and not event.read.payment_card


def test_card_lifted_mid_read_then_tapped_again(watcher, vcard):
    log = watcher()
    connected(log)
    card = vcard("type4", loyalty_id=LOYALTY, lift_after=6)  # vanishes on SELECT NDEF file
    card.tap()
    error = log.wait_for(lambda e: e.kind in ("card", "error"))
    assert isinstance(error, ReaderError) and error.message == LIFTED  # and no fallback to the UID
    wait_reader_empty()  # the card is off the reader (pcscd polls vpcd every 0.4 s)
    card.tap()
    assert log.kind("card").read.card_number == LOYALTY


def test_one_event_per_tap(watcher, vcard):
    log = watcher()
    connected(log)
    card = vcard("uid", uid="04A2B3C4D5E680").tap()
    assert log.kind("card").read.ok
    card.lift()
    wait_reader_empty()
    card.tap()
    assert log.kind("card").read.card_number == "NFC:04A2B3C4D5E680"
    assert [e.kind for e in log.events].count("card") == 2


def test_pcscd_stopped_and_restarted(watcher, vcard, pcscd):
    log = watcher()
    connected(log)
    try:
        pcscd.stop()
        lost = log.kind("state")
        assert lost.state == "disconnected" and lost.detail in (SERVICE_LOST, NO_SERVICE)
    finally:
        pcscd.start()
    assert connected(log)
    vcard("uid", uid="04A2B3C4D5E680").tap()
    assert log.kind("card").read.card_number == "NFC:04A2B3C4D5E680"


def test_watcher_started_without_pcscd_waits(pcscd, vcard):
    pcscd.stop()
    log = EventLog()
    reader = PcscReader(log, name="nfc")
    reader.start()
    try:
        waiting = log.kind("state")
        assert waiting.state == "waiting" and waiting.detail == NO_SERVICE
        pcscd.start()
        assert connected(log)
        vcard("uid", uid="04A2B3C4D5E680").tap()
        assert log.kind("card").read.ok
    finally:
        pcscd.start()
        reader.stop()


@pytest.mark.parametrize("record", ["text", "https://club.example/c/{id}"])
def test_type2_ndef_loyalty_id(watcher, vcard, record):
    log = watcher()
    connected(log)
    vcard("type2", uid="04C1C2C3C4C5C6", loyalty_id=LOYALTY, record=record).tap()
    event = log.kind("card")
    assert event.read.ok and event.read.card_number == LOYALTY and event.read.source == "nfc"


def test_type2_with_a_long_ndef_message_read_over_many_pages(watcher, vcard):
    log = watcher()
    connected(log)
    long_uri = "https://club.example/" + "x" * 300 + "?id={id}"  # > 255 bytes: 3-byte TLV length
    card = vcard("type2", loyalty_id=LOYALTY, record=long_uri).tap()
    assert log.kind("card").read.card_number == LOYALTY
    assert card.apdu_count > 20


@pytest.mark.parametrize("kind", ["type4", "type2"])
def test_error_status_word_mid_read_asks_for_another_tap(watcher, vcard, kind):
    log = watcher()
    connected(log)
    ins = 0xB0
    card = vcard(kind, uid="04112233445566", loyalty_id=LOYALTY, fail={ins: b"\x6f\x00"}).tap()
    event = log.wait_for(lambda e: e.kind in ("card", "error"))
    # not silently identified by its UID: the same card would then have two numbers
    assert isinstance(event, ReaderError) and event.message.startswith("card could not be read, tap again")
    card.lift()
    wait_reader_empty()
    card.applet.fail.clear()
    card.tap()
    assert log.kind("card").read.card_number == LOYALTY


def test_pcscd_killed_mid_read_then_back(watcher, vcard, pcscd):
    """The reader vanishes during a read (pcscd stopped): a clear error and state, then recovery."""
    log = watcher()
    connected(log)
    card = vcard("type4", loyalty_id=LOYALTY, stall_at=5)  # holds its answer to READ BINARY of the CC
    card.tap()
    assert card.stalled.wait(5)
    try:
        pcscd.stop()
        card.release()
        error = log.wait_for(lambda e: e.kind in ("card", "error"))
        assert isinstance(error, ReaderError) and error.message in (READER_LOST, LIFTED)
        assert log.kind("state").state == "disconnected"
    finally:
        pcscd.start()
    assert connected(log)
    # the card never left the reader: it is read afresh once the service is back
    assert log.kind("card").read.card_number == LOYALTY

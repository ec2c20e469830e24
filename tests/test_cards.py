"""Card parsing: tracks, barcodes, NFC UIDs, keyed numbers, and payment card refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardread import parse_card, route_scan
from cardread.barcode import gtin_valid, with_check_digit
from cardread.payment import looks_like_payment_card, luhn_valid
from cardread.read import PAYMENT_CARD_MESSAGE, Source
from cardread.router import BAD_CHECK_DIGIT

VISA = "4111111111111111"
LOYALTY = with_check_digit("290000000001")


def track2(number: str, extra: str = "", lrc: bool = False) -> str:
    body = f";{number}{'=' + extra if extra else ''}?"
    if not lrc:
        return body
    acc = 0
    for ch in body:
        acc ^= (ord(ch) - 0x30) & 0x0F
    return body + chr(0x30 + acc)


def test_track2_loyalty_card_with_and_without_lrc():
    assert parse_card(track2("6012345678", "0000")).card_number == "6012345678"
    assert parse_card(track2("6012345678", "0000", lrc=True)).card_number == "6012345678"


def test_track2_bad_lrc_is_a_clear_swipe_again():
    good = track2("6012345678", "0000", lrc=True)
    bad = good[:-1] + chr(((ord(good[-1]) - 0x30 + 1) % 16) + 0x30)
    read = parse_card(bad)
    assert not read.ok and "swipe again" in read.error


@pytest.mark.parametrize("raw", [";12345", "6012=?", ";ab12?", "%", ";;;", "?;", "%B?", ""])
def test_garbled_swipes_are_refused_clearly(raw):
    read = parse_card(raw, Source.MAGSTRIPE)
    assert not read.ok and read.error


def test_track1_format_b_is_a_payment_card_and_leaves_no_number():
    read = parse_card(f"%B{VISA}^DOE/JOHN^25121010000000000?;{VISA}=25121010000000000?")
    assert read.payment_card and read.error == PAYMENT_CARD_MESSAGE
    assert VISA not in repr(read) and read.raw == ""


def test_track2_bank_card_refused():
    read = parse_card(track2(VISA, "2512101000000000"))
    assert read.payment_card and VISA not in repr(read)


def test_track1_other_format_reads_primary_field():
    assert parse_card("%A12345678^MEMBER^?").card_number == "12345678"


def test_keyed_payment_number_refused_even_with_spaces():
    read = parse_card("4111 1111 1111 1111")
    assert read.payment_card and read.raw == ""


def test_loyalty_ean_check_digit():
    assert parse_card(LOYALTY).card_number == LOYALTY
    wrong = LOYALTY[:-1] + str((int(LOYALTY[-1]) + 1) % 10)
    read = parse_card(wrong)
    assert read.error == BAD_CHECK_DIGIT


def test_gtin_check_digits():
    assert gtin_valid("4006381333931")  # EAN-13
    assert gtin_valid("96385074")  # EAN-8
    assert gtin_valid("036000291452")  # UPC-A
    assert not gtin_valid("4006381333932")


def test_code128_text_card():
    assert parse_card("LOY-00042", Source.BARCODE).card_number == "LOY-00042"


def test_nfc_uids():
    assert parse_card("04:a1:b2:c3:d4:e5:f6", Source.NFC).card_number == "NFC:04A1B2C3D4E5F6"
    assert "random" in parse_card("08112233", Source.NFC).error
    assert not parse_card("zz", Source.NFC).ok


def test_route_scan_by_shape():
    assert route_scan("4006381333931").product_ean == "4006381333931"
    assert route_scan(LOYALTY).card.card_number == LOYALTY
    assert route_scan("\x02" + track2("6012345678") + "\x03").card.card_number == "6012345678"
    assert route_scan("036000291452").product_ean == "0036000291452"


def test_luhn_and_payment_detection():
    assert luhn_valid(VISA) and looks_like_payment_card(VISA)
    assert not looks_like_payment_card(LOYALTY)
    assert looks_like_payment_card("5555555555554444") and looks_like_payment_card("378282246310005")


@given(st.text())
def test_parsers_never_crash_on_arbitrary_text(text):
    for source in (None, *Source):
        read = parse_card(text, source)
        assert read.ok or read.error
    scan = route_scan(text)
    assert scan.card is not None or scan.product_ean is not None


@given(st.binary())
def test_parsers_never_crash_on_arbitrary_bytes(data):
    read = parse_card(data.decode("latin-1"))
    assert read.ok or read.error


@given(st.integers(min_value=10**12, max_value=10**19 - 1))
def test_a_payment_number_never_survives_in_a_read(n):
    digits = str(n)
    read = parse_card(digits)
    if looks_like_payment_card(digits):
        assert read.payment_card and digits not in repr(read) and digits not in read.raw
    for raw in (f";{digits}=2512101?", f"%B{digits}^X/Y^2512?"):
        r = parse_card(raw)
        if r.payment_card or not r.ok:
            assert digits not in r.raw or not looks_like_payment_card(digits)

"""NDEF records: short and long forms, Text and URI records, and the loyalty id found in them."""

from __future__ import annotations

import pytest

from drivers import ndef


def test_text_record_round_trip():
    data = ndef.encode_message([ndef.text_record("2900000000015", "fr")])
    assert data[0] == 0xD1  # MB ME SR, well-known
    (record,) = ndef.parse_message(data)
    assert record.text() == "2900000000015"
    assert ndef.loyalty_ids([record]) == ["2900000000015"]


def test_utf16_text_record():
    payload = bytes([0x80 | 2]) + b"en" + "Zoë 123456".encode("utf-16")
    (record,) = ndef.parse_message(ndef.encode_message([ndef.Record(ndef.TNF_WELL_KNOWN, b"T", payload)]))
    assert record.text() == "Zoë 123456"


def test_long_record_with_id_field():
    text = "x" * 300
    record = ndef.Record(ndef.TNF_WELL_KNOWN, b"T", b"\x02en" + text.encode(), id=b"r1")
    data = ndef.encode_message([record])
    assert not data[0] & 0x10 and data[0] & 0x08  # long form, with an id
    (parsed,) = ndef.parse_message(data)
    assert parsed.text() == text and parsed.id == b"r1"


@pytest.mark.parametrize(
    "uri,expected",
    [
        ("https://club.example/c/2900000000015", "2900000000015"),
        ("https://club.example/c/2900000000015/", "2900000000015"),
        ("https://club.example/app?lang=fr&id=2900000000015", "2900000000015"),
        ("https://club.example/app?card=ABC123", "ABC123"),
        ("urn:club:2900000000015", "2900000000015"),
        ("https://shop.example/promo", None),
        ("https://shop.example/", None),
    ],
)
def test_uri_records(uri, expected):
    record = ndef.uri_record(uri)
    (parsed,) = ndef.parse_message(ndef.encode_message([record]))
    assert parsed.uri() == uri
    assert ndef.loyalty_ids([parsed]) == ([expected] if expected else [])


def test_uri_prefix_abbreviation():
    assert ndef.uri_record("https://www.club.example/x").payload[0] == 0x02
    assert ndef.uri_record("https://club.example/x").payload[0] == 0x04
    assert ndef.uri_record("club:x").payload[0] == 0x00


def test_two_records_in_order():
    data = ndef.encode_message([ndef.uri_record("https://shop.example/"), ndef.text_record("ABC12345")])
    records = ndef.parse_message(data)
    assert [r.type for r in records] == [b"U", b"T"]
    assert ndef.loyalty_ids(records) == ["ABC12345"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes([0xD1, 0x01, 0x10, ord("T")]) + b"\x02en",  # payload shorter than announced
        bytes([0x91, 0x01, 0x01, ord("T"), 0x00]),  # no message-end flag
        bytes([0x11, 0x01, 0x01, ord("T"), 0x00]),  # no message-begin flag
        bytes([0xF1, 0x01, 0x01, ord("T"), 0x00]),  # chunked
    ],
    ids=["empty", "truncated", "no-end", "no-begin", "chunked"],
)
def test_malformed_messages_raise(data):
    with pytest.raises(ndef.NdefError):
        ndef.parse_message(data)

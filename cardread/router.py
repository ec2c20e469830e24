"""Deciding what a scan is by its shape: track data, a loyalty number, or a product EAN.

Shape alone cannot tell a loyalty card printed as an EAN-13 from a product: the program's own cards
are told by their prefixes (`29...` by default) and by configured card number ranges (`CardRange`).
What the till's database knows comes first; that lookup is the till's (`pos_client.services.scan_routing`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cardread.barcode import gtin_valid, is_gtin_shape, normalise_gtin
from cardread.nfc import NFC_PREFIX, parse_uid
from cardread.payment import looks_like_payment_card, payment_card_in
from cardread.read import CardRead, Source
from cardread.track import parse_swipe

DEFAULT_LOYALTY_PREFIXES: tuple[str, ...] = ("29",)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CODE128_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{3,31}$")
BAD_CHECK_DIGIT = "bad check digit: please scan or key the number again"
_RANGE = re.compile(r"^\s*(\d{4,20})\s*-\s*(\d{4,20})\s*$")


@dataclass(frozen=True)
class CardRange:
    """An inclusive range of the program's own card numbers, both ends of the same length."""

    low: str
    high: str

    def contains(self, digits: str) -> bool:
        """Same length and between the ends (digit strings of one length compare as numbers)."""
        return len(digits) == len(self.low) and digits.isdigit() and self.low <= digits <= self.high

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


def parse_card_range(text: str) -> CardRange:
    """"2100000000000-2100000999999" -> CardRange; ValueError for anything else."""
    m = _RANGE.match(str(text))
    if not m or len(m.group(1)) != len(m.group(2)) or m.group(1) > m.group(2):
        raise ValueError(f"a card range is two numbers of the same length, low-high (e.g."
                         f" 2100000000000-2100000999999), not {text!r}")
    return CardRange(m.group(1), m.group(2))


def program_card(digits: str, prefixes: Sequence[str], ranges: Sequence[CardRange] = ()) -> str | None:
    """Why a number is one of the program's own cards ("prefix 29", "the program's card range"), or None."""
    for p in prefixes:
        if digits.startswith(p):
            return f"prefix {p}"
    if any(r.contains(digits) for r in ranges):
        return "the program's card range"
    return None


def strip_controls(text: str) -> str:
    """Remove control characters that some keyboard wedges inject (STX/ETX, CR, tabs)."""
    return _CONTROL.sub("", text)


def _digits_card(source: Source, raw: str, digits: str, prefixes: Sequence[str],
                 ranges: Sequence[CardRange] = ()) -> CardRead:
    if looks_like_payment_card(digits):
        return CardRead.payment(source)
    return _number_card(source, raw, digits, prefixes, ranges)


def _number_card(source: Source, raw: str, digits: str, prefixes: Sequence[str],
                 ranges: Sequence[CardRange] = ()) -> CardRead:
    """A number that is no payment card: the program's own EAN (check digit), else any 4-20 digits."""
    if is_gtin_shape(digits) and program_card(digits, prefixes, ranges):
        if not gtin_valid(digits):
            return CardRead.bad(source, raw, BAD_CHECK_DIGIT)
        return CardRead.good(source, raw, normalise_gtin(digits))
    if len(digits) == 13 and not gtin_valid(digits):
        return CardRead.bad(source, raw, BAD_CHECK_DIGIT)
    if not 4 <= len(digits) <= 20:
        return CardRead.bad(source, raw, "a card number has 4 to 20 digits")
    return CardRead.good(source, raw, digits)


def parse_card(
    data: str, source: Source | str | None = None, *, loyalty_prefixes: Sequence[str] = DEFAULT_LOYALTY_PREFIXES,
    card_ranges: Sequence[CardRange] = (),
) -> CardRead:
    """Parse what a reader delivered into a CardRead.

    Without a source the shape decides: `%`/`;` start a swipe, `NFC:` or a hex UID from an NFC
    reader, digits are a barcode or keyed number, other text a Code 128 loyalty code.
    """
    text = str(data)
    src = Source(source) if source else None
    if text.isdigit() and text.isascii() and src is not Source.NFC and src is not Source.MAGSTRIPE:
        # Plain ASCII digits (a keyed or scanned number, an import's card column): no control character, space,
        # separator, track or NFC prefix, so the payment net below is the one check of the number itself, done
        # once here instead of three times (every digit run, then the number); the same read as the path below.
        src = src or Source.KEYED
        if looks_like_payment_card(text):
            return CardRead.payment(src)
        return _number_card(src, text, text, loyalty_prefixes, card_ranges)
    text = strip_controls(text).strip()
    if src is Source.NFC or text.upper().startswith(NFC_PREFIX):
        return parse_uid(text)
    if payment_card_in(text):  # whatever separates the digits, whatever the track's Luhn
        return CardRead.payment(src or (Source.MAGSTRIPE if text[:1] in ("%", ";") else Source.KEYED))
    if src is Source.MAGSTRIPE or text[:1] in ("%", ";"):
        return parse_swipe(text)
    src = src or Source.KEYED
    compact = re.sub(r"[\s\-]", "", text)
    if compact.isdigit():
        return _digits_card(src, text, compact, loyalty_prefixes, card_ranges)
    if _CODE128_TEXT.match(text):
        return CardRead.good(src, text, text.upper())
    return CardRead.bad(src, text, "not a card number")


@dataclass(frozen=True)
class Scan:
    """A routed scan: exactly one of card or product_ean is set."""

    card: CardRead | None = None
    product_ean: str | None = None


def route_scan(data: str, *, loyalty_prefixes: Sequence[str] = DEFAULT_LOYALTY_PREFIXES,
               card_ranges: Sequence[CardRange] = ()) -> Scan:
    """Route a wedge burst or serial frame by shape: a product EAN goes to the basket, the rest is a card.

    A number with a program prefix or in a program card range is a card, whatever its shape.
    """
    text = strip_controls(data).strip()
    if text[:1] in ("%", ";"):
        return Scan(card=parse_card(text, Source.MAGSTRIPE, loyalty_prefixes=loyalty_prefixes))
    if is_gtin_shape(text) and not program_card(text, loyalty_prefixes, card_ranges) and gtin_valid(text):
        return Scan(product_ean=normalise_gtin(text))
    return Scan(card=parse_card(text, Source.BARCODE, loyalty_prefixes=loyalty_prefixes, card_ranges=card_ranges))

"""The card parser's one-pass route for plain ASCII digits, and the check digits' and payment net's faster forms,
answer as the functions they replaced for random inputs (those are kept below, as they were written, as the
reference): what a till or an import accepts or refuses does not change, only how often a number is checked."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from cardread import barcode, payment
from cardread.barcode import gtin_valid, is_gtin_shape, normalise_gtin
from cardread.nfc import NFC_PREFIX, parse_uid
from cardread.payment import in_payment_iin_range, luhn_valid, payment_card_in
from cardread.read import CardRead, Source
from cardread.router import BAD_CHECK_DIGIT, CardRange, parse_card, program_card, strip_controls
from cardread.track import parse_swipe

_CODE128_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{3,31}$")


def _gtin_check_digit_as_written(body: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += (ord(ch) - 48) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def _looks_like_payment_card_as_written(digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    if digits.isascii() and not in_payment_iin_range(digits):
        return False
    return luhn_valid(digits) and in_payment_iin_range(digits)


def _digits_card_as_written(source: Source, raw: str, digits: str, prefixes: Sequence[str],
                            ranges: Sequence[CardRange] = ()) -> CardRead:
    if _looks_like_payment_card_as_written(digits):
        return CardRead.payment(source)
    if is_gtin_shape(digits) and program_card(digits, prefixes, ranges):
        if not gtin_valid(digits):
            return CardRead.bad(source, raw, BAD_CHECK_DIGIT)
        return CardRead.good(source, raw, normalise_gtin(digits))
    if len(digits) == 13 and not gtin_valid(digits):
        return CardRead.bad(source, raw, BAD_CHECK_DIGIT)
    if not 4 <= len(digits) <= 20:
        return CardRead.bad(source, raw, "a card number has 4 to 20 digits")
    return CardRead.good(source, raw, digits)


def _parse_card_as_written(data: str, source: Source | str | None = None, *, loyalty_prefixes: Sequence[str] = ("29",),
                           card_ranges: Sequence[CardRange] = ()) -> CardRead:
    text = strip_controls(str(data)).strip()
    src = Source(source) if source else None
    if src is Source.NFC or text.upper().startswith(NFC_PREFIX):
        return parse_uid(text)
    if payment_card_in(text):
        return CardRead.payment(src or (Source.MAGSTRIPE if text[:1] in ("%", ";") else Source.KEYED))
    if src is Source.MAGSTRIPE or text[:1] in ("%", ";"):
        return parse_swipe(text)
    src = src or Source.KEYED
    compact = re.sub(r"[\s\-]", "", text)
    if compact.isdigit():
        return _digits_card_as_written(src, text, compact, loyalty_prefixes, card_ranges)
    if _CODE128_TEXT.match(text):
        return CardRead.good(src, text, text.upper())
    return CardRead.bad(src, text, "not a card number")


def _outcome(fn: Callable[[], object]) -> object:
    """The answer, or the kind of exception (a superscript digit passes isdigit() and fails int())."""
    try:
        return fn()
    except Exception as exc:  # the reference and the new code must fail alike
        return type(exc)


def _luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


# Card-like text: ASCII digits with the program's and the networks' prefixes, Luhn-complete numbers, separators,
# controls, tracks, NFC, other scripts' digits (Arabic-Indic, which int() reads; superscripts, which it refuses).
_DIGITS = st.text(alphabet="0123456789", min_size=0, max_size=22)
_PREFIXED = st.tuples(st.sampled_from(["29", "4", "51", "2221", "37", "6011", "3528", "62", "1", "81", "0", "9"]),
                      st.text(alphabet="0123456789", min_size=2, max_size=18)).map("".join)
_LUHN = _PREFIXED.filter(lambda s: 12 <= len(s) <= 18).map(_luhn_complete)
_EAN = st.text(alphabet="0123456789", min_size=7, max_size=12).map(barcode.with_check_digit)
_MIXED = st.text(alphabet="0123456789 -._/\t\x02\x03\r=^%;?BNFC:abc\u0664\u0661\u00b2\u00b3", max_size=24)
_CARD_TEXT = st.one_of(_DIGITS, _PREFIXED, _LUHN, _EAN, _EAN.map(lambda s: "29" + s[2:]), _MIXED,
                       st.text(max_size=24))
_SOURCE = st.sampled_from([None, *Source, "keyed", "barcode"])
_PREFIXES = st.sampled_from([("29",), ("29", "21"), (), ("4",)])
_RANGES = st.sampled_from([(), (CardRange("2100000000000", "2100000999999"),), (CardRange("0000", "9999"),)])


@settings(max_examples=4000, deadline=None)
@given(_CARD_TEXT, _SOURCE, _PREFIXES, _RANGES)
def test_parse_card_reads_as_before(text, source, prefixes, ranges):
    new = _outcome(lambda: parse_card(text, source, loyalty_prefixes=prefixes, card_ranges=ranges))
    old = _outcome(lambda: _parse_card_as_written(text, source, loyalty_prefixes=prefixes, card_ranges=ranges))
    assert new == old


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_DIGITS, _LUHN, st.text(alphabet="0123456789\u0664\u0661\u00b2\u00b3", min_size=13, max_size=19),
                 st.text(max_size=20)))
def test_payment_check_in_one_branch_per_case_answers_as_before(digits):
    assert (_outcome(lambda: payment.looks_like_payment_card(digits))
            == _outcome(lambda: _looks_like_payment_card_as_written(digits)))


def test_payment_check_keeps_the_superscript_answer():
    """Superscript digits pass isdigit() and make int() raise: reached only after their Luhn sum, as before."""
    for digits in ("\u00b2" * 13, "\u00b3" * 16, "4" + "\u00b2" * 15, "\u00b2" + "4" * 15):
        assert (_outcome(lambda d=digits: payment.looks_like_payment_card(d))
                == _outcome(lambda d=digits: _looks_like_payment_card_as_written(d)))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_DIGITS, st.text(max_size=20)))
def test_gtin_check_digit_by_slices_answers_as_before(body):
    assert barcode.gtin_check_digit(body) == _gtin_check_digit_as_written(body)

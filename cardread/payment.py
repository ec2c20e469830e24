"""Recognising payment cards so they are refused and never stored, logged or printed."""

from __future__ import annotations

import re

_NON_DIGIT = re.compile(r"\D")
# Digits with the separators a person or a reader puts between groups (space, dash, dot, underscore, slash).
_SEGMENT = re.compile(r"\d(?:[\d .\-_/]*\d)?")
_TRACK1_B = re.compile(r"%?B\d{12,19}\^")
_TRACK2 = re.compile(r"(\d{12,19})=\d{4}")

# IIN (issuer identification number) prefix ranges of the payment networks, as
# (low, high, prefix length). A loyalty number in one of these ranges that is also
# Luhn-valid and 13-19 digits long is treated as a payment card.
_IIN_RANGES: tuple[tuple[int, int, int], ...] = (
    (4, 4, 1),  # Visa
    (51, 55, 2),  # Mastercard
    (2221, 2720, 4),  # Mastercard 2-series
    (34, 34, 2),
    (37, 37, 2),  # American Express
    (300, 305, 3),
    (36, 36, 2),
    (38, 39, 2),  # Diners Club
    (6011, 6011, 4),
    (644, 649, 3),
    (65, 65, 2),  # Discover
    (3528, 3589, 4),  # JCB
    (62, 62, 2),  # UnionPay
    (50, 50, 2),
    (56, 58, 2),
    (63, 63, 2),
    (67, 67, 2),  # Maestro and national debit schemes
    (60, 60, 2),  # RuPay and others
    (2200, 2204, 4),  # Mir
    (9792, 9792, 4),  # Troy
    (81, 81, 2),  # UnionPay 81-series
    (35, 35, 2),  # JCB and LankaPay, the whole 35 block
)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by every payment card number."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# The same ranges scaled to 4-digit prefixes.
_IIN4 = tuple((low * 10 ** (4 - n), (high + 1) * 10 ** (4 - n) - 1) for low, high, n in _IIN_RANGES)
# Every 4-digit prefix in one of them: one set lookup instead of walking the ranges (most numbers are in none).
_IIN4_SET = frozenset(p for low, high in _IIN4 for p in range(low, high + 1))


def in_payment_iin_range(digits: str) -> bool:
    if len(digits) < 4:
        return False
    if digits[0] == "1":
        return len(digits) == 15  # UATP: the 1 block, always 15 digits
    return int(digits[:4]) in _IIN4_SET


def looks_like_payment_card(digits: str) -> bool:
    """13-19 digits, Luhn-valid, in a payment network's IIN range. Why the range is tried first on ASCII digits:
    one int() and a few comparisons settle most loyalty numbers (`29...` is in no range), where the Luhn sum walks
    every digit. Other digits keep the original order: `isdigit()` takes some (superscripts) that `int()` refuses,
    and the range's int() is reached only after their Luhn sum, as it always was (the same answer for every input)."""
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    if digits.isascii():
        return in_payment_iin_range(digits) and luhn_valid(digits)
    return luhn_valid(digits) and in_payment_iin_range(digits)


def _digit_runs(text: str) -> list[str]:
    """Every way a number may hide in text: all its digits together (separators and stray characters of any
    kind removed), and each run of digits and common separators between other characters."""
    runs = [] if ("=" in text or "^" in text) else [_NON_DIGIT.sub("", text)]  # tracks: field by field
    runs.extend(_NON_DIGIT.sub("", part) for part in _SEGMENT.findall(text))
    return runs


def payment_card_in(text: str) -> bool:
    """Whether a payment card number hides anywhere in `text`, whatever separates its digits
    (`4111.1111.1111.1111`, `4111_1111...`, a trailing letter), or whether `text` is shaped like a bank card's
    track (track 1 format B, or a track 2 `PAN=YYMM...` whose PAN is in a network's range, whatever its Luhn).

    The second net behind the program's own card formats: a number this answers True for is refused before it
    reaches a database, a log or the outbox."""
    if _TRACK1_B.search(text):
        return True
    for m in _TRACK2.finditer(text):
        pan = m.group(1)
        if 13 <= len(pan) <= 19 and in_payment_iin_range(pan):
            return True
    return any(looks_like_payment_card(run) for run in _digit_runs(text))

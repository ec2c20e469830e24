"""Recognising payment cards so they are refused and never stored, logged or printed."""

from __future__ import annotations

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


# The same ranges scaled to 4-digit prefixes, so a check is one int() and a few comparisons.
_IIN4 = tuple((low * 10 ** (4 - n), (high + 1) * 10 ** (4 - n) - 1) for low, high, n in _IIN_RANGES)


def in_payment_iin_range(digits: str) -> bool:
    if len(digits) < 4:
        return False
    p4 = int(digits[:4])
    return any(low <= p4 <= high for low, high in _IIN4)


def looks_like_payment_card(digits: str) -> bool:
    """13-19 digits, Luhn-valid, in a payment network's IIN range."""
    return 13 <= len(digits) <= 19 and digits.isdigit() and luhn_valid(digits) and in_payment_iin_range(digits)

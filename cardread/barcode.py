"""Barcodes: EAN-13, EAN-8 and UPC-A check digits, and Code 128 free text."""

from __future__ import annotations


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before it (weights 3,1 from the right). Each weight's digits summed
    by one C-level sum over a slice instead of a Python loop per digit: the same (ord - 48) arithmetic, so the
    same answer for any text (a card import checks every card it reads)."""
    threes, ones = body[-1::-2], body[-2::-2]
    total = 3 * (sum(map(ord, threes)) - 48 * len(threes)) + sum(map(ord, ones)) - 48 * len(ones)
    return (10 - total % 10) % 10


def gtin_valid(code: str) -> bool:
    """True for an EAN-8, UPC-A (12) or EAN-13 whose last digit checks."""
    return (
        code.isdigit() and len(code) in (8, 12, 13) and gtin_check_digit(code[:-1]) == ord(code[-1]) - 48
    )


def is_gtin_shape(code: str) -> bool:
    return code.isdigit() and len(code) in (8, 12, 13)


def with_check_digit(body: str) -> str:
    """Append the GS1 check digit (used to issue loyalty numbers and in tests)."""
    return body + str(gtin_check_digit(body))


def normalise_gtin(code: str) -> str:
    """UPC-A is EAN-13 with a leading zero: store both the same way."""
    return "0" + code if len(code) == 12 else code

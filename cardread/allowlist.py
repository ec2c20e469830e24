"""The program's own card formats: the allow-list a card number must match before it is stored.

Why an allow-list: recognising payment cards (`cardread.payment`) is a deny-list, and every new network,
separator or track shape was a way past it. A number is stored only when it has the shape of the program's
own cards: an EAN-13 (or other GTIN/digit number) starting with one of the program's prefixes, a number in
one of its configured ranges, an NFC UID, or a Code 128 text starting with one of its Code 128 prefixes.
The payment-card net stays behind it: a number in the program's formats that is also a payment card is
still refused. Pure: the till (`[program]` in config.toml) and head office (its `card_formats` rule) build
a `CardFormats` from the same mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cardread.barcode import gtin_valid, is_gtin_shape
from cardread.nfc import NFC_PREFIX
from cardread.payment import payment_card_in
from cardread.router import DEFAULT_LOYALTY_PREFIXES, CardRange, parse_card_range

DEFAULT_CODE128_PREFIXES: tuple[str, ...] = ("LOY",)
_NFC_UID = re.compile(r"^NFC:(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$")  # 4, 7 or 10 byte UIDs
_CODE128 = re.compile(r"^[A-Z0-9][A-Z0-9\-_.]{3,31}$")
_PREFIX = re.compile(r"^[0-9]{1,6}$")
_TEXT_PREFIX = re.compile(r"^[A-Z][A-Z0-9\-_.]{0,11}$")


class NotProgramCard(ValueError):
    """A card number outside the program's formats (exit 3 at the till, a quarantined record at head office)."""

    exit_code = 3


@dataclass(frozen=True)
class CardFormats:
    """What the program's own card numbers look like (defaults: `29...` EAN-13s, NFC UIDs, `LOY...` Code 128)."""

    loyalty_prefixes: tuple[str, ...] = DEFAULT_LOYALTY_PREFIXES
    card_ranges: tuple[CardRange, ...] = ()
    code128_prefixes: tuple[str, ...] = DEFAULT_CODE128_PREFIXES
    nfc: bool = True

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> CardFormats:
        """From `[program]` (or head office's `card_formats` rule); ValueError naming a bad entry."""
        prefixes = _strings(section, "loyalty_prefixes", DEFAULT_LOYALTY_PREFIXES)
        texts = tuple(p.upper() for p in _strings(section, "code128_prefixes", DEFAULT_CODE128_PREFIXES))
        for p in prefixes:
            if not _PREFIX.match(p):
                raise ValueError(f"loyalty_prefixes: {p!r} is not 1 to 6 digits")
        for p in texts:
            if not _TEXT_PREFIX.match(p):
                raise ValueError(f"code128_prefixes: {p!r} is not a letter then up to 11 letters, digits or -_.")
        ranges = []
        for i, text in enumerate(_strings(section, "card_ranges", ())):
            try:
                ranges.append(parse_card_range(text))
            except ValueError as exc:
                raise ValueError(f"card_ranges[{i}]: {exc}") from None
        nfc = section.get("nfc_cards", True)
        if not isinstance(nfc, bool):
            raise ValueError("nfc_cards must be true or false")
        return cls(prefixes, tuple(ranges), texts, nfc)

    def describe(self) -> str:
        """The accepted formats in words, for the refusal a cashier reads."""
        parts = []
        if self.loyalty_prefixes:
            parts.append("a barcode number starting " + " or ".join(self.loyalty_prefixes))
        parts += [f"a number in {r}" for r in self.card_ranges]
        if self.nfc:
            parts.append("an NFC card")
        if self.code128_prefixes:
            parts.append("a code starting " + " or ".join(self.code128_prefixes))
        return "; ".join(parts) if parts else "none configured"

    def why(self, number: str) -> str | None:
        """Why `number` (a normalised card number) is refused, or None when it is one of the program's."""
        if payment_card_in(number):
            return "this is a payment card, not a loyalty card"
        if self.matches(number):
            return None
        return f"not one of this program's cards (accepted: {self.describe()})"

    def matches(self, number: str) -> bool:
        """Whether `number` has one of the program's card formats (the payment net is `why`'s)."""
        if number.isdigit():
            if any(r.contains(number) for r in self.card_ranges):
                return True
            if not (8 <= len(number) <= 20 and any(number.startswith(p) for p in self.loyalty_prefixes)):
                return False
            return gtin_valid(number) if is_gtin_shape(number) else True
        if number.startswith(NFC_PREFIX):
            return self.nfc and bool(_NFC_UID.match(number))
        return bool(_CODE128.match(number)) and any(number.startswith(p) for p in self.code128_prefixes)

    def check(self, number: str) -> str:
        """`number` itself, or NotProgramCard with the reason (which never repeats the number)."""
        reason = self.why(number)
        if reason is not None:
            raise NotProgramCard(reason)
        return number


def _strings(section: Mapping[str, Any], key: str, default: Sequence[str]) -> tuple[str, ...]:
    value = section.get(key)
    if value is None:
        return tuple(default)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings, e.g. {list(default) or ['2100000000000-2100000999999']}")
    return tuple(v.strip() for v in value)

"""The one value type for "a card was read", whatever the reader."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class Source(StrEnum):
    MAGSTRIPE = "magstripe"
    BARCODE = "barcode"
    NFC = "nfc"
    KEYED = "keyed"


# Digits and the separators people and readers put between groups (space, dash, dot, underscore, slash).
_DIGIT_RUN = re.compile(r"\d(?:[\d .\-_/]*\d)?")


def scrub(text: str) -> str:
    """Mask every run of 12+ digits (a possible bank card number) in free text, also when its groups are
    separated by a space, dash, dot, underscore or slash (the separators are masked too, and so are digits
    such a run touches: masking a date next to a card number beats leaving part of the number)."""
    return _DIGIT_RUN.sub(lambda m: "#" * len(m.group()) if sum(c.isdigit() for c in m.group()) >= 12
                          else m.group(), text)


class CardRefused(ValueError):
    """A read that cannot be used as a loyalty card (payment card, bad check digit, unreadable).

    `exit_code` 3 is the CLI's "refused input"; the till maps it like its own refusals.
    """

    exit_code = 3


PAYMENT_CARD_MESSAGE = "this is a payment card, not a loyalty card"


@dataclass(frozen=True)
class CardRead:
    """A read: its source, the raw data, and either a normalised card number or an error.

    `raw` is excluded from repr and is blanked for payment cards, so a bank card number can
    never reach a log line, a traceback or the database through this object.
    """

    source: Source
    raw: str = field(repr=False)
    card_number: str | None = None
    error: str | None = None
    payment_card: bool = False

    @property
    def ok(self) -> bool:
        return self.card_number is not None and self.error is None

    def number(self) -> str:
        """The card number, or raise the read's error as a refusal."""
        if not self.ok:
            raise CardRefused(self.error or "unreadable card")
        assert self.card_number is not None
        return self.card_number

    @classmethod
    def good(cls, source: Source, raw: str, number: str) -> CardRead:
        return cls(source=source, raw=raw, card_number=number)

    @classmethod
    def bad(cls, source: Source, raw: str, error: str) -> CardRead:
        """A refused read keeps its raw data only with long digit runs masked: a garbled
        bank card swipe must not leave its number behind either."""
        return cls(source=source, raw=scrub(raw), error=error)

    @classmethod
    def payment(cls, source: Source) -> CardRead:
        return cls(source=source, raw="", error=PAYMENT_CARD_MESSAGE, payment_card=True)

"""The till's view of a card read: `cardread` parses, the till refuses with its own error."""

from __future__ import annotations

from cardread import CardRead
from pos_client.domain.errors import RefusedInput


def card_number(read: CardRead) -> str:
    """The read's card number, or RefusedInput (exit 3) with the read's own reason."""
    if not read.ok or read.card_number is None:
        raise RefusedInput(read.error or "unreadable card")
    return read.card_number

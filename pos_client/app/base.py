"""What every till screen has: a message line, the status bar and the footer with its keys."""

from __future__ import annotations

import re

from textual.screen import Screen
from textual.widgets import Input

from cardread.payment import looks_like_payment_card
from cardread.read import PAYMENT_CARD_MESSAGE, CardRead
from pos_client.app.widgets import MessageLine


def holds_payment_number(text: str) -> bool:
    """A bank card number keyed into any field (spaces and dashes allowed)."""
    return looks_like_payment_card(re.sub(r"[\s\-]", "", text))


class TillScreen(Screen):
    """A screen that can report to the cashier and accept scans from any reader."""

    def say(self, text: str, *, error: bool = False) -> None:
        self.query_one(MessageLine).say(text, error=error)
        if error:
            self.app.bell()

    def refuse_payment_numbers(self) -> bool:
        """Empty every input holding a bank card number and say why; True when one was found."""
        found = False
        for field in self.query(Input):
            if holds_payment_number(field.value):
                field.value = ""
                found = True
        if found:
            self.say(PAYMENT_CARD_MESSAGE, error=True)
        return found

    def take_card(self, read: CardRead) -> None:
        """A card was read by any reader; screens decide what it means here."""
        self.say("no card expected on this screen", error=True)

    def take_product(self, ean: str) -> None:
        """A product was scanned; only the checkout takes products."""
        self.say("scan products on the checkout screen (Esc to go back)", error=True)

"""What every till screen has: a message line, the status bar and the footer with its keys."""

from __future__ import annotations

from textual.screen import Screen

from pos_client.app.widgets import MessageLine
from pos_client.cards.read import CardRead


class TillScreen(Screen):
    """A screen that can report to the cashier and accept scans from any reader."""

    def say(self, text: str, *, error: bool = False) -> None:
        self.query_one(MessageLine).say(text, error=error)
        if error:
            self.app.bell()

    def take_card(self, read: CardRead) -> None:
        """A card was read by any reader; screens decide what it means here."""
        self.say("no card expected on this screen", error=True)

    def take_product(self, ean: str) -> None:
        """A product was scanned; only the checkout takes products."""
        self.say("scan products on the checkout screen (Esc to go back)", error=True)

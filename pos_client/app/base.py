"""What every till screen has: a message line, the status bar and the footer with its keys."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, TypeVar, cast

from textual.screen import Screen
from textual.widgets import Input

from cardread.payment import payment_card_in
from cardread.read import PAYMENT_CARD_MESSAGE, CardRead
from pos_client.app.widgets import MessageLine
from pos_client.store.context import TillContext

if TYPE_CHECKING:
    from pos_client.app.till_app import TillApp
    from pos_client.services.scan_routing import Routed

ResultT = TypeVar("ResultT")
log = logging.getLogger("pos_client.app")


def holds_payment_number(text: str) -> bool:
    """A bank card number keyed into any field, whatever separates its digits."""
    return payment_card_in(text)


class TillScreen(Screen[ResultT]):
    """A screen that can report to the cashier and accept scans from any reader.

    `ResultT` is what the screen hands back to whoever pushed it (`dismiss`).
    `TYPED_INPUTS` maps an input's id to the form a person keys there (`pos_client.domain.wedge.TYPED_FORMS`):
    a fast burst of that form in that input stays typed instead of being taken as a scan.
    """

    TYPED_INPUTS: ClassVar[Mapping[str, str]] = {}

    @property
    def till(self) -> TillApp:
        """The TillApp running this screen: Textual types `self.app` as a plain App.

        A cast, not an isinstance check: till_app imports every screen, so importing it here at run time
        would be an import cycle; every till screen is pushed by a TillApp (or a subclass).
        """
        return cast("TillApp", self.app)

    @property
    def ctx(self) -> TillContext:
        """The open till (database, configuration, extensions) the app was started on."""
        return self.till.ctx

    def say(self, text: str, *, error: bool = False) -> None:
        self.query_one(MessageLine).say(text, error=error)
        if error:
            # what the cashier saw, with the exception being handled (if any) as its cause; redacted on the way
            log.error("cashier saw: %s", text, exc_info=True)
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

    def take_routed(self, routed: Routed) -> None:
        """A scan routed by the till (`pos_client.services.scan_routing`): a card or a product."""
        if routed.product_ean is not None:
            self.take_product(routed.product_ean)
        elif routed.card is not None:
            self.take_card(routed.card)

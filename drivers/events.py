"""Plain event records that every reader produces, so the app and the CLI never see a transport.

A reader thread turns what a device delivers into one of four values and hands it to a callback:

- `CardEvent`: a card was presented. Its `read` is either usable (`read.ok`) or a *refusal* of a
  real card that must not be used (a payment card, a random NFC UID). A refused payment card carries
  no number: `CardRead.payment()` blanks it.
- `ProductEvent`: a product barcode was scanned.
- `ReaderError`: something came in but could not be read (garbled swipe, half frame, card lifted
  too soon): the cashier should swipe, scan or tap again.
- `DeviceState`: the device itself came, went or is being waited for.

`event_from_frame` and `nfc_event` do the routing by shape with the core's parsers. Each event
also answers the app's duck-typed `DeviceEventLike` attributes (`kind`, `device`, `card`, `ean`,
`text`), so the app takes them as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cardread import CardRead, Source, parse_card, route_scan
from cardread.nfc import RANDOM_UID_MESSAGE, parse_uid
from cardread.router import DEFAULT_LOYALTY_PREFIXES

UNREADABLE = "unreadable, swipe again"
UNREADABLE_TAP = "unreadable, tap again"

State = Literal["connected", "disconnected", "waiting"]
READER_ROLES = ("magstripe", "barcode")  # what a serial or evdev reader's frames are (`event_from_frame`)


@dataclass(frozen=True)
class CardEvent:
    """A card was presented; `read` is usable (`read.ok`) or a refusal to show the cashier."""

    source: str
    read: CardRead
    kind: str = dataclasses.field(default="card", init=False)

    @property
    def refused(self) -> bool:
        return not self.read.ok

    @property
    def device(self) -> str:
        return self.source

    @property
    def card(self) -> CardRead:
        return self.read


@dataclass(frozen=True)
class ProductEvent:
    """A product barcode (normalised GTIN) was scanned on a serial scanner."""

    source: str
    ean: str
    kind: str = dataclasses.field(default="product", init=False)

    @property
    def device(self) -> str:
        return self.source


@dataclass(frozen=True)
class ReaderError:
    """Data came in but could not be read: ask for another swipe, scan or tap. Never holds raw data."""

    source: str
    message: str = UNREADABLE
    kind: str = dataclasses.field(default="error", init=False)

    @property
    def device(self) -> str:
        return self.source

    @property
    def text(self) -> str:
        return self.message


@dataclass(frozen=True)
class DeviceState:
    """The device is connected, disconnected (was there, went away) or waited for (not there yet)."""

    source: str
    state: State
    detail: str = ""
    kind: str = dataclasses.field(default="state", init=False)

    @property
    def device(self) -> str:
        return self.source

    @property
    def text(self) -> str:
        return f"{self.state} ({self.detail})" if self.detail else self.state


Event = CardEvent | ProductEvent | ReaderError | DeviceState
EventSink = Callable[[Event], None]


def _is_refusal(read: CardRead) -> bool:
    """A real card that must not be used, as opposed to a read that failed."""
    return read.payment_card or read.error == RANDOM_UID_MESSAGE


def card_or_error(source: str, read: CardRead) -> CardEvent | ReaderError:
    """Usable and refused cards become CardEvents; failed reads (bad LRC, bad check digit) errors."""
    if read.ok or _is_refusal(read):
        return CardEvent(source, read)
    return ReaderError(source, read.error or UNREADABLE)


def event_from_frame(
    source: str, role: str, text: str, *, loyalty_prefixes: Sequence[str] = DEFAULT_LOYALTY_PREFIXES
) -> CardEvent | ProductEvent | ReaderError:
    """Route one decoded serial frame: a magstripe reader only swipes; a scanner scans both."""
    if role == "magstripe":
        return card_or_error(source, parse_card(text, Source.MAGSTRIPE, loyalty_prefixes=loyalty_prefixes))
    scan = route_scan(text, loyalty_prefixes=loyalty_prefixes)
    if scan.product_ean is not None:
        return ProductEvent(source, scan.product_ean)
    assert scan.card is not None
    return card_or_error(source, scan.card)


def nfc_event(
    source: str,
    *,
    uid: bytes | None = None,
    loyalty_ids: Sequence[str] = (),
    payment: bool = False,
    loyalty_prefixes: Sequence[str] = DEFAULT_LOYALTY_PREFIXES,
) -> CardEvent | ReaderError:
    """What a tap means: a payment card is refused, an NDEF loyalty id wins over the UID.

    NDEF text that is not a card number (a shop's web link on a phone, say) is skipped and the UID
    used instead; a bank card number written in NDEF is refused like the card itself.
    """
    if payment:
        return CardEvent(source, CardRead.payment(Source.NFC))
    for candidate in loyalty_ids:
        read = parse_card(candidate, Source.KEYED, loyalty_prefixes=loyalty_prefixes)
        if read.ok or read.payment_card:
            return CardEvent(source, dataclasses.replace(read, source=Source.NFC))
    if uid is not None:
        return card_or_error(source, parse_uid(uid.hex()))
    return ReaderError(source, UNREADABLE_TAP)


def event_to_json(event: Event) -> dict[str, Any]:
    """One line of `devices watch --json`; a refused card shows its refusal, never a number."""
    out: dict[str, Any] = {"source": event.source, "kind": event.kind}
    if isinstance(event, CardEvent):
        out["card"] = event.read.card_number if event.read.ok else None
        out["via"] = str(event.read.source)
        if not event.read.ok:
            out["error"] = event.read.error
            out["payment_card"] = event.read.payment_card
    elif isinstance(event, ProductEvent):
        out["product"] = event.ean
    elif isinstance(event, ReaderError):
        out["error"] = event.message
    else:
        out["state"] = event.state
        out["detail"] = event.detail
    return out


def event_to_text(event: Event) -> str:
    """One human line of `devices watch`, like pcsc_scan."""
    if isinstance(event, CardEvent):
        if event.read.ok:
            return f"{event.source}: card {event.read.card_number} ({event.read.source})"
        return f"{event.source}: REFUSED: {event.read.error}"
    if isinstance(event, ProductEvent):
        return f"{event.source}: product {event.ean}"
    if isinstance(event, ReaderError):
        return f"{event.source}: {event.message}"
    return f"{event.source}: {event.text}"

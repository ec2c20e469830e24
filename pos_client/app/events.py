"""What device drivers hand to the app: plain objects, no Textual, so any reader can be adapted.

A driver (serial, PC/SC, printer, sync) produces `DeviceEvent`s, or anything with the same
attributes (`DeviceEventLike`), and gives them to `TillApp.post_device_event` from any thread,
or as an iterable source the app drains in a worker thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from cardread.read import CardRead

Kind = Literal["card", "product", "error", "state"]
KINDS: frozenset[str] = frozenset({"card", "product", "error", "state"})


@runtime_checkable
class DeviceEventLike(Protocol):
    """The minimum the app reads: `kind` and `device`, then the attribute that kind uses.

    Read-only properties, so frozen dataclasses and the drivers' events (`drivers.events`) match.
    """

    @property
    def kind(self) -> str: ...

    @property
    def device(self) -> str: ...


@dataclass(frozen=True)
class DeviceEvent:
    """One thing a device reported.

    card: `card` is the parsed read (payment cards arrive already blanked);
    product: `ean` is a scanned product code; error: `text` is a message for the cashier;
    state: `text` is the device's state ("ready", "offline") shown in the status bar under `device`.
    """

    kind: Kind
    device: str = "device"
    card: CardRead | None = None
    ean: str | None = None
    text: str = field(default="")

    @classmethod
    def of_card(cls, read: CardRead, device: str = "reader") -> DeviceEvent:
        return cls("card", device, card=read)

    @classmethod
    def of_product(cls, ean: str, device: str = "scanner") -> DeviceEvent:
        return cls("product", device, ean=ean)

    @classmethod
    def of_error(cls, text: str, device: str = "device") -> DeviceEvent:
        return cls("error", device, text=text)

    @classmethod
    def of_state(cls, device: str, text: str) -> DeviceEvent:
        return cls("state", device, text=text)


def drain_queue(q: queue.Queue[DeviceEventLike | None], stop: threading.Event, poll: float = 0.1
                ) -> Iterator[DeviceEventLike]:
    """Turn a queue filled by a reader thread into a source the app can drain; None ends it."""
    while not stop.is_set():
        try:
            item = q.get(timeout=poll)
        except queue.Empty:
            continue
        if item is None:
            return
        yield item

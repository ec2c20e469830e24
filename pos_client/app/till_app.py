"""The till app: screens, the keyboard-wedge interceptor, device events and the status bar.

Keys are looked at on the App before any widget sees them (`on_event`), so a wedge reader's
burst is taken wherever the focus is; the characters it typed into the focused input are
taken back out when its Enter arrives, unless they look like what that input expects (a fast
typist's `12.50` in the item slot stays typed: `pos_client.domain.wedge.stays_typed`). Every
scan, from a wedge or a reader, is routed by what the till's database knows first
(`pos_client.services.scan_routing`). Device drivers hand plain events to `post_device_event`
from their own threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input
from textual.worker import get_current_worker

from cardread import parse_card
from cardread.read import CardRead, scrub
from pos_client.app import collector
from pos_client.app.checkout_screen import CheckoutScreen
from pos_client.app.device_wiring import DeviceWiring, PrinterReportMessage
from pos_client.app.events import DeviceEvent, DeviceEventLike
from pos_client.app.storage_banner import StoppedBanner
from pos_client.app.widgets import screen_safe
from pos_client.domain.errors import PosError
from pos_client.domain.wedge import WedgeDetector, stays_typed
from pos_client.services import scan_routing
from pos_client.services.marketing.coupons import looks_like_coupon
from pos_client.services.scan_routing import Routed
from pos_client.store import integrity
from pos_client.store.context import TillContext
from pos_client.store.home import db_path

if TYPE_CHECKING:
    from pos_client.till.devices import TillDevices

log = logging.getLogger(__name__)
STORAGE_CHECK_S = 5.0  # how often the app looks for the stopped-writing state a background check may set

# A device source: events to post, or a callable given the app's stop event that returns them
# (e.g. `lambda stop: drain_queue(q, stop)`), drained in a worker thread.
Source = Iterable[DeviceEventLike] | Callable[[threading.Event], Iterable[DeviceEventLike]]

# The suffix a wedge sends after each read: CR, LF, or Tab (a common factory setting). A Tab
# that ends no burst is a person moving the focus, and does just that.
_ENTER = frozenset({"enter", "ctrl+j", "tab"})

# Keys that are a person's editing or navigation, never part of a wedge burst.
_NOT_WEDGE = frozenset({"shift+tab", "escape", "backspace", "delete", "ctrl+h", "ctrl+i", "ctrl+m"})


class DeviceEventMessage(Message):
    """A device event crossing from a driver thread into the app's message queue."""
    def __init__(self, event: DeviceEventLike) -> None:
        super().__init__()
        self.event = event


class StatusMessage(Message):
    """A status bar update sent from a driver or sync thread."""
    def __init__(self, part: str, text: str) -> None:
        super().__init__()
        self.part = part
        self.text = text


class TillApp(App[None]):
    """The till. Takes an open TillContext so tests can run it on a temporary home.

    `clock` replaces the keys' own timestamps for the wedge detector (tests script key timings).
    `devices` (pos_client.till.devices.TillDevices) wires the configured readers, printer and sync.
    """

    TITLE = "Loyalty till"
    # Toasts sit above the message line, the status bar (the devices' states) and the footer.
    CSS = "ToastRack { margin-bottom: 3; }"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+r", "print_retry", "Reprint", priority=True),
    ]
    ENABLE_COMMAND_PALETTE = False

    status_text: reactive[str] = reactive("")

    def __init__(
        self,
        ctx: TillContext,
        *,
        sources: Iterable[Source] = (),
        clock: Callable[[], float] | None = None,
        on_ready: Callable[[TillApp], None] | None = None,
        devices: TillDevices | None = None,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.clock = clock
        self.wedge = WedgeDetector.from_config(ctx.config.section("wedge"))
        self.stop_event = threading.Event()
        self._sources = list(sources)
        self._status: dict[str, str] = {}
        self._origin: tuple[Widget | None, str | None, int] = (None, None, 0)
        self._on_ready = on_ready
        self.wiring = DeviceWiring(self, devices)
        self.idle_gc = collector.IdleCollector()

    async def on_mount(self) -> None:
        await self.push_screen(CheckoutScreen())
        self.check_storage()
        self.set_interval(STORAGE_CHECK_S, self.check_storage)  # a background check may stop writing later
        for source in self._sources:
            self.run_worker(lambda s=source: self._drain(s), thread=True, group="devices", name="device source",
                            exit_on_error=False)

    def check_storage(self) -> None:
        """Show the red banner on the current screen while the till has stopped writing (`store.integrity`)."""
        if self.ctx.home is None:
            return
        refusal = integrity.stopped(db_path(self.ctx.home))
        if refusal is None or self.screen.query(StoppedBanner):
            return
        self.screen.mount(StoppedBanner(str(refusal), markup=False))
        log.error("the app shows: %s", refusal)

    def on_ready(self) -> None:
        """The first screen is up: the probe's mark first (what loaded by then), then what can wait for it: the
        devices (readers, backups, the WAL checkpointer, the lookup warm-up: threads that would compete with the
        first screen for the CPU and the GIL, bench `cold_start`), then, in a worker, the upkeep and sync."""
        if self._on_ready is not None:
            self._on_ready(self)
        self.idle_gc.release()  # held by `pos-client` through the start (pos_client.app.collector)
        self.wiring.start()
        self.wiring.start_later()
        self.wiring.warm_printer()

    def open_manager(self, member_id: str | None, after: Callable[[dict | None], None]) -> None:
        """Push the manager's screen (with the member at the till, if any); `after` gets what it hands back.

        Built here, on first use, not imported with the app: behind it are the reports (numpy) and the
        devices screen, which the first screen does not need (bench `cold_start`, ARCHITECTURE.md).
        """
        from pos_client.app.manager_screen import ManagerScreen  # lazy: built on first use (the docstring)

        self.push_screen(ManagerScreen(member_id=member_id), after)

    def on_unmount(self) -> None:
        self.stop_event.set()
        self.wiring.stop()

    # --- printer and sync after a sale (pos_client.app.device_wiring) -----------------------

    def sale_committed(self, sale_id: str) -> None:
        """Called by the checkout once a sale is written: print its receipt and sync, never waiting."""
        self.wiring.sale_committed(sale_id)

    def customer_done(self) -> None:
        """The checkout's customer is done (paid, or cleared): the cyclic collection runs once the screen has
        painted, between customers, not in the next one's swipe (pos_client.app.collector)."""
        self.call_after_refresh(self.idle_gc.customer_done)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "print_retry":  # hidden from the footer on a till without a printer
            return self.wiring.has_printer
        return super().check_action(action, parameters)

    def action_print_retry(self) -> None:
        """Ctrl+R: print the receipts waiting in the queue, or reprint the last one."""
        self.wiring.print_retry()

    def on_printer_report_message(self, message: PrinterReportMessage) -> None:
        self.wiring.show(message)

    # --- device events ---------------------------------------------------------------------

    def post_device_event(self, event: DeviceEventLike) -> None:
        """Thread-safe entry point for drivers: the event is handled on the app's loop."""
        self.post_message(DeviceEventMessage(event))

    def _drain(self, source: Source) -> None:
        """Worker thread: post a source's events; a failing source is reported, never fatal."""
        worker = get_current_worker()
        try:
            events_ = source(self.stop_event) if callable(source) else source
            for event in events_:
                if worker.is_cancelled or self.stop_event.is_set():
                    return
                self.post_device_event(event)
        except Exception as exc:  # broad on purpose: a driver bug of any kind must not take the till down
            log.warning("device source %r stopped", source, exc_info=True)
            self.post_device_event(DeviceEvent.of_error(f"stopped: {type(exc).__name__}: {exc}", "device source"))

    def on_device_event_message(self, message: DeviceEventMessage) -> None:
        # getattr throughout: a driver that breaks the DeviceEventLike promise is reported, never fatal
        event = message.event
        kind = getattr(event, "kind", None)
        device = str(getattr(event, "device", "device"))
        ean = getattr(event, "ean", None)
        if kind == "card":
            read = getattr(event, "card", None)
            if not isinstance(read, CardRead):
                read = parse_card(str(getattr(event, "text", "")), loyalty_prefixes=self.ctx.rules.loyalty_prefixes)
            # a barcode the reader took for a card by its shape may be a product the catalog knows
            self._routed(lambda: scan_routing.reroute_card(self.ctx, read), fallback=read)
        elif kind == "product" and ean:
            # ... and one it took for a product may be a card on file or in the program's ranges
            self._routed(lambda: scan_routing.reroute_product(self.ctx, str(ean)))
        elif kind == "error":
            self.report(f"{device}: {getattr(event, 'text', '')}", error=True)
        elif kind == "state":
            self.set_status(device, str(getattr(event, "text", "")))
        else:
            self.report(f"{device}: unknown event {kind!r}", error=True)

    def set_status(self, part: str, text: str) -> None:
        """Show a device's or the sync's state in the status bar (callable from any thread)."""
        if threading.get_ident() != self._thread_id:  # never block a driver thread
            self.post_message(StatusMessage(part, text))
            return
        if text:
            self._status[part] = scrub(text)
        else:
            self._status.pop(part, None)
        self.status_text = " · ".join(f"{k}: {v}" for k, v in sorted(self._status.items()))

    def on_status_message(self, message: StatusMessage) -> None:
        self.set_status(message.part, message.text)

    def report(self, text: str, *, error: bool = False) -> None:
        say = getattr(self.screen, "say", None)
        if say is not None:
            say(text, error=error)  # a till screen logs the errors it shows
        elif error:
            log.error("cashier saw: %s", text, exc_info=True)
        if error:
            self.notify(screen_safe(text), severity="error", timeout=4)

    # --- scans -----------------------------------------------------------------------------

    def take_card(self, read: CardRead) -> None:
        take = getattr(self.screen, "take_card", None)
        if take is None:
            self.report("close this window before scanning", error=True)
            return
        take(read)

    def take_product(self, ean: str) -> None:
        take = getattr(self.screen, "take_product", None)
        if take is None:
            self.report("close this window before scanning", error=True)
            return
        take(ean)

    def take_scan(self, text: str) -> None:
        """A wedge burst: a coupon, else routed by what the database knows, the card ranges, then shape."""
        if looks_like_coupon(text):
            take_coupon = getattr(self.screen, "take_coupon", None)
            if take_coupon is None:
                self.report("scan coupons on the checkout screen (Esc to go back)", error=True)
            else:
                take_coupon(text.strip())
            return
        self._routed(lambda: scan_routing.route(self.ctx, text))

    def _routed(self, route: Callable[[], Routed | None], fallback: CardRead | None = None) -> None:
        """Hand a routed scan to the screen (`take_routed`); None from `route` means `fallback` stands as a card."""
        try:
            routed = route()
        except PosError as exc:  # a bad [program] card_ranges entry: say so, the sale stays
            self.report(str(exc), error=True)
            return
        if routed is None:
            if fallback is not None:
                self.take_card(fallback)
            return
        take = getattr(self.screen, "take_routed", None)
        if take is None:
            self.report("close this window before scanning", error=True)
            return
        take(routed)

    # --- keyboard wedge --------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and self._wedge_swallows(event):
            event.stop()
            return
        await super().on_event(event)

    def _wedge_swallows(self, event: events.Key) -> bool:
        """Feed the detector; True when the key belongs to a burst and must not reach a widget."""
        # When the driver read the key, not when the app got round to it: keys a person typed
        # while the app was busy must not look like a burst.
        t = self.clock() if self.clock is not None else event.time
        if event.key in _ENTER:
            burst = self.wedge.enter(t)
            if burst is None:
                return False
            if self._typed_here(burst):  # a fast typist: the keys stay, Enter submits the input
                self._origin = (None, None, 0)
                return False
            self._take_back_burst(burst)
            return True
        char = event.character
        if char is None or event.key in _NOT_WEDGE or not (event.is_printable or ord(char[0]) < 32):
            self.wedge.reset()
            return False
        self.wedge.feed(char, t)
        if self.wedge.run_length == 1:
            self._remember_origin()
            return False
        return not event.is_printable  # control characters inside a burst never reach a widget

    def _typed_here(self, burst: str) -> bool:
        """The burst went into the focused input and looks like what that input expects (an amount, ...)."""
        widget = self._origin[0]
        if not isinstance(widget, Input) or widget is not self.focused:
            return False
        expects = getattr(self.screen, "TYPED_INPUTS", {}).get(widget.id or "")
        return stays_typed(burst, expects)

    def _remember_origin(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            self._origin = (focused, focused.value, focused.cursor_position)
        else:
            self._origin = (focused, None, 0)

    def _take_back_burst(self, burst: str) -> None:
        """Restore the input the burst typed into, then route the burst.

        The burst's keys were forwarded to the input's own message queue and may not have been
        applied yet (a terminal hands a whole burst over in one read), so both run as a callback
        queued behind them on that input.
        """
        widget, value, cursor = self._origin
        self._origin = (None, None, 0)

        def restore_and_route() -> None:
            if isinstance(widget, Input) and value is not None and widget.is_attached:
                widget.value = value
                widget.cursor_position = cursor
            self.take_scan(burst)

        if isinstance(widget, Input) and widget.is_attached:
            widget.call_later(restore_and_route)
        else:
            self.call_later(restore_and_route)

"""The till app in demo mode: the normal app, plus keys that drive the simulated hardware and a help line.

The keys only move the simulators (a swipe written on the pty, a card put on the vpcd reader, the
printer's paper roll); what the till then shows comes through the real reader threads and printer.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.binding import Binding
from textual.widgets import Static

from pos_client.app.till_app import TillApp
from pos_client.app.widgets import MessageLine
from pos_client.demo import DemoKeys
from pos_client.services.demo_seed import MANAGER_PIN
from pos_client.store.context import TillContext
from pos_client.till.devices import TillDevices

if TYPE_CHECKING:
    from hw_sim.demo_rig import DemoRig

# One line at 80 columns: the demo keys, and the demo manager's PIN for manager mode (F10).
HELP = f"DEMO ^S Ana ^P scan ^T Bjørn ^B bank card ^O paper ^R print · F10 PIN {MANAGER_PIN}"


class DemoHelp(Static):
    DEFAULT_CSS = """
    DemoHelp { height: 1; padding: 0 1; background: $accent-darken-2; color: $text; }
    """


class DemoTillApp(TillApp):
    """TillApp with the demo keys (shown in the help line above the message line)."""
    TITLE = "Loyalty till (demo)"
    BINDINGS = [
        Binding("ctrl+s", "demo('swipe_ana', 'swipe')", "Swipe Ana", show=False, priority=True),
        Binding("ctrl+p", "demo('scan_product', 'scanner')", "Scan", show=False, priority=True),
        Binding("ctrl+t", "demo('tap_bjorn', 'nfc')", "Tap Bjørn", show=False, priority=True),
        Binding("ctrl+b", "demo('swipe_bank_card', 'swipe')", "Bank card", show=False, priority=True),
        Binding("ctrl+o", "demo('toggle_paper', '')", "Paper", show=False, priority=True),
    ]

    def __init__(self, ctx: TillContext, *, keys: DemoKeys, **kw: Any) -> None:
        super().__init__(ctx, **kw)
        self.keys = keys

    @on(events.Ready)
    async def show_demo_help(self) -> None:
        """Add the help line; TillApp's own `on_ready` runs too (Textual calls a handler per class in the MRO)."""
        screen = self.screen
        await screen.mount(DemoHelp(HELP, id="demo-help"), before=screen.query_one(MessageLine))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal still stops the simulators and pcscd
            try:
                loop.add_signal_handler(sig, self.exit)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
        if self.keys.rig.nfc_problem:
            self.report(f"demo: {self.keys.rig.nfc_problem}", error=True)

    def action_demo(self, what: str, device: str) -> None:
        """Run one demo key; a reader not connected yet would lose the swipe, so say so instead."""
        if device and self.device_state(device) != "ok":
            self.report(f"demo: the {device} reader is not ready yet ({self.device_state(device) or 'starting'})",
                        error=True)
            return
        action: Callable[[], str] = getattr(self.keys, what)
        self.report(action())

    def device_state(self, device: str) -> str | None:
        return self._status.get(device)


def build_demo_app(ctx: TillContext, rig: DemoRig, **kw: Any) -> DemoTillApp:
    """The demo app on a prepared till and a started rig (`pos_client.demo`)."""
    return DemoTillApp(ctx, keys=DemoKeys(rig), devices=TillDevices(ctx), **kw)

"""The manager's Devices screen: what is plugged in, per role; test one, use it (saved to config).

Pushed only by the manager screen once the manager PIN is keyed. Looking for devices and testing
one run in a worker thread (a reader is held open until it reads or times out; a printer may be
slow or gone), so the screen stays live; leaving it cancels a reader test. The choice is saved by
`pos_client.services.device_setup` by its stable identity (by-id link, USB ids, reader name); the
running till keeps its devices until it is restarted, which the message says.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from pos_client.app.base import TillScreen
from pos_client.app.widgets import MessageLine, StatusBar, clip
from pos_client.domain.errors import PosError
from pos_client.services import device_setup
from pos_client.services.errors import USER_ERRORS
from pos_client.store.config import Config, load_config

READ_SECONDS = 10.0
ROLE_WORDS = {"magstripe": "swipe a card", "barcode": "scan a barcode", "nfc": "tap a card"}


def _tail(text: str, width: int) -> str:
    """The end of a path or URL (the part that names the device), with an ellipsis when cut."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


class DevicesScreen(TillScreen[None]):
    """Candidates per role in one table; F5 tests the highlighted one, F6 uses it for its role."""

    BINDINGS = [
        Binding("f5", "test", "Test"),
        Binding("f6", "use", "Use"),
        Binding("f7", "refresh", "Look again"),
        Binding("escape,f10", "leave", "Back"),
    ]

    DEFAULT_CSS = """
    DevicesScreen #current { height: 3; padding: 0 1; background: $primary-background; }
    DevicesScreen #devices { height: 1fr; }
    DevicesScreen #buttons { height: 1; }
    DevicesScreen #buttons Button { margin: 0 1; }
    DevicesScreen #result { height: 3; padding: 0 1; border-top: hkey $primary; }
    """

    def __init__(self, *, by_id: Path | None = None, usb_backend: Any = None, read_seconds: float = READ_SECONDS,
                 probe_hosts: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.by_id, self.usb_backend = by_id, usb_backend
        self.read_seconds, self.probe_hosts = read_seconds, probe_hosts
        self.offered: dict[str, list[device_setup.Candidate]] = {}
        self.notes: list[str] = []
        self.worker: Worker[Any] | None = None
        self.last_result: device_setup.ReaderTest | device_setup.PrinterTest | None = None
        self._cancel = threading.Event()

    @property
    def home(self) -> Path:
        """The till's directory, where config.toml is read and written."""
        if self.ctx.home is None:
            raise PosError("this till has no home directory: devices cannot be saved")
        return self.ctx.home

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def compose(self) -> ComposeResult:
        yield Static(id="current")
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="buttons"):
            yield Button("Test (F5)", id="test", compact=True)
            yield Button("Use (F6)", id="use", compact=True)
        yield Static("Pick a device, F5 tests it, F6 uses it for its role", id="result")
        yield MessageLine(id="message")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#devices", DataTable)
        table.add_column("Role", width=9)
        table.add_column("Device", width=64)
        self.show_current()
        self.action_refresh()
        table.focus()

    # --- rendering -------------------------------------------------------------------------

    def show_current(self) -> None:
        """The devices config.toml names now, one role a line (read from the file: saves show at once)."""
        current = device_setup.current_choices(self.home)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("In use (config.toml)\n", style="italic")
        for i, role in enumerate(device_setup.ROLES):
            out.append("\n" if i == 2 else "  " if i else "")
            out.append(f"{role:>9} ", style="bold")
            out.append(f"{_tail(current[role] or '-', 26):<26}")
        self.query_one("#current", Static).update(out)

    def _fill(self, found: Any) -> None:
        self.offered, self.notes = device_setup.candidates(found), list(found.notes)
        table = self.query_one("#devices", DataTable)
        table.clear()
        for role in device_setup.ROLES:
            for c in self.offered[role]:
                table.add_row(role, clip(c.label, 64), key=f"{role}\t{c.device}")
        total = table.row_count
        self.say(f"{total} choice{'s' if total != 1 else ''} found" + "".join(f" · {n}" for n in self.notes))

    def _chosen(self) -> tuple[str, str] | None:
        table = self.query_one("#devices", DataTable)
        if table.row_count == 0:
            self.say("no device to choose: plug one in, then F7 looks again", error=True)
            return None
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        role, _, device = key.partition("\t")
        return role, device

    # --- actions ---------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_test() if event.button.id == "test" else self.action_use()

    def _config(self) -> Config:
        """config.toml as saved now (a device chosen here a moment ago included), not the running till's."""
        return load_config(self.home)

    def _run(self, work: Any, name: str) -> None:
        self.worker = self.run_worker(work, thread=True, exclusive=True, group="devices", name=name,
                                      exit_on_error=False)

    def action_refresh(self) -> None:
        if self.busy:
            self.say("wait for the test to finish", error=True)
            return
        config = self._config()
        self._run(lambda: ("found", device_setup.discover(config, probe_hosts=self.probe_hosts, by_id=self.by_id,
                                                         usb_backend=self.usb_backend)), "discover")
        self.say("looking for devices…")

    def action_test(self) -> None:
        chosen = self._chosen()
        if chosen is None or self.busy:
            if self.busy:
                self.say("a test is running: wait for it", error=True)
            return
        role, device = chosen
        self._cancel = cancel = threading.Event()
        config, seconds = self._config(), self.read_seconds

        def work() -> tuple[str, Any]:
            if role == "printer":
                return "tested", device_setup.check_printer(config, device, usb_backend=self.usb_backend)
            return "tested", device_setup.check_reader(config, role, device, timeout=seconds, by_id=self.by_id,
                                                       cancel=cancel)

        self._run(work, f"test {role}")
        what = "printing a test receipt" if role == "printer" else f"{ROLE_WORDS[role]} now ({seconds:g} s)"
        self.query_one("#result", Static).update(Text(f"Testing {clip(device, 50)}: {what}…", style="italic"))
        self.say(f"testing {role}: {what}")

    def action_use(self) -> None:
        chosen = self._chosen()
        if chosen is None:
            return
        role, device = chosen
        try:
            saved = device_setup.save(self.home, role, device, by_id=self.by_id)
        except USER_ERRORS as exc:
            self.say(str(exc), error=True)
            return
        self.show_current()
        entry = saved.get("reader") or saved.get("printer") or {}
        what = entry.get("url") or entry.get("reader")
        self.say(f"{role}: {clip(str(what), 40)} saved; the till uses it from its next start")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A search or test came back (on the UI thread)."""
        if event.worker is not self.worker or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.worker = None
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            text = str(error) if isinstance(error, (*USER_ERRORS, PosError)) else f"{type(error).__name__}: {error}"
            self.query_one("#result", Static).update(Text(text, style="bold red"))
            self.say(text, error=True)
            return
        if event.worker.result is None:
            return
        kind, value = event.worker.result
        if kind == "found":
            self._fill(value)
            return
        self.last_result = value
        out = Text(no_wrap=False)
        out.append("Works: " if value.ok else "Not working: ", style="bold green" if value.ok else "bold red")
        out.append(clip(value.text, 200))
        self.query_one("#result", Static).update(out)
        self.say("test passed: F6 uses it" if value.ok else "test failed: check the device, F5 tests again",
                 error=not value.ok)

    def action_leave(self) -> None:
        self._cancel.set()  # a reader under test is closed now, not at the end of its time
        self.dismiss(None)

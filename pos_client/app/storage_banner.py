"""What the app shows when the till's storage fails (issue 11, findings 4 and 8), instead of a traceback.

`StoppedBanner`: a red banner across the top of the screen while the till is in the stopped-writing state
(`store.integrity`): what happened, the latest good backup and the restore commands, in words.
`FaultApp`: the whole screen when the till cannot even open (a damaged database, a read-only or full disk,
a home that is a file): the message, and a key to quit; the traceback is in the till's log.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center
from textual.widgets import Footer, Static

from pos_client.domain.errors import StorageFault

FAULT_EXIT = StorageFault.exit_code


class StoppedBanner(Static):
    """The stopped-writing state in words, red, above everything else on the screen."""

    DEFAULT_CSS = """
    StoppedBanner { dock: top; width: 100%; height: auto; background: $error; color: $text;
                    text-style: bold; padding: 0 1; }
    """


class FaultApp(App[int]):
    """The till could not start because of its storage: say what, what was recorded, what to do."""

    CSS = """
    Screen { align: center middle; }
    #fault { width: 90%; height: auto; background: $error; color: $text; padding: 1 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit_fault", "Quit"),
                                             Binding("escape", "quit_fault", "Quit", show=False)]
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Center():
            yield Static(f"The till cannot start.\n\n{self.message}\n\nPress Q to quit.", id="fault", markup=False)
        yield Footer()

    def action_quit_fault(self) -> None:
        self.exit(FAULT_EXIT, return_code=FAULT_EXIT)

"""`pos-client` with no arguments: open the till and run the app until the cashier quits."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from pos_client.app.till_app import TillApp
from pos_client.store import logsetup
from pos_client.till import open_till
from pos_client.till.devices import TillDevices


def run_app(home: str | None = None, *, headless: bool = False, on_ready: Callable[[TillApp], None] | None = None
            ) -> int:
    """Open the till at `home` (or $POS_CLIENT_HOME / the platform default) and run the app.

    `headless` and `on_ready` exist for the start-up probe; the till itself uses neither.
    """

    ctx = open_till(home)
    if ctx.home is not None:  # the cashier's errors and the devices' troubles go to <home>/logs (or the journal)
        logsetup.configure(ctx.home, ctx.config.section("logging"))
    try:
        app = TillApp(ctx, on_ready=on_ready, devices=TillDevices(ctx))
        app.run(headless=headless)
        return int(app.return_code or 0)
    finally:
        ctx.close()


def _probe_child(home: str) -> None:
    """Run headless until the first screen is ready, print when that was (startup_probe)."""
    marks: dict[str, float | str] = {"imported_at": time.time()}

    def ready(app: TillApp) -> None:
        marks["ready_at"] = time.time()
        marks["screen"] = type(app.screen).__name__
        app.exit()

    run_app(home, headless=True, on_ready=ready)
    print(json.dumps(marks))

"""`pos-client` with no arguments: open the till and run the app until the cashier quits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def run_app(home: str | None = None, *, headless: bool = False, on_ready: Callable[[Any], None] | None = None) -> int:
    """Open the till at `home` (or $POS_CLIENT_HOME / the platform default) and run the app.

    `headless` and `on_ready` exist for the start-up probe; the till itself uses neither.
    """
    from pos_client.app.devices import TillDevices
    from pos_client.app.till_app import TillApp
    from pos_client.store.context import open_till

    ctx = open_till(home)
    try:
        app = TillApp(ctx, on_ready=on_ready, devices=TillDevices(ctx))
        app.run(headless=headless)
        return int(app.return_code or 0)
    finally:
        ctx.close()


def _probe_child(home: str) -> None:
    """Run headless until the first screen is ready, print when that was (startup_probe)."""
    import json
    import time

    marks: dict[str, float] = {"imported_at": time.time()}

    def ready(app: Any) -> None:
        marks["ready_at"] = time.time()
        marks["screen"] = type(app.screen).__name__  # type: ignore[assignment]
        app.exit()

    run_app(home, headless=True, on_ready=ready)
    print(json.dumps(marks))

"""`pos-client` with no arguments: open the till and run the app until the cashier quits."""

from __future__ import annotations


def run_app(home: str | None = None) -> int:
    """Open the till at `home` (or $POS_CLIENT_HOME / the platform default) and run the app."""
    from pos_client.app.till_app import TillApp
    from pos_client.context import open_till

    ctx = open_till(home)
    try:
        app = TillApp(ctx)
        app.run()
        return int(app.return_code or 0)
    finally:
        ctx.close()


def _probe_child(home: str) -> None:
    """Run headless until the first screen is ready, print when that was (startup_probe)."""
    import json
    import time

    imported_at = time.time()
    from pos_client.app.till_app import TillApp
    from pos_client.context import open_till

    ctx = open_till(home)
    marks: dict[str, float] = {"imported_at": imported_at}

    def ready(app: TillApp) -> None:
        marks["ready_at"] = time.time()
        app.exit()

    try:
        TillApp(ctx, on_ready=ready).run(headless=True)
    finally:
        ctx.close()
    print(json.dumps(marks))

"""`pos-client` with no arguments: open the till and run the app until the cashier quits."""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Callable

from pos_client.app import collector
from pos_client.app.storage_banner import FAULT_EXIT, FaultApp
from pos_client.app.till_app import TillApp
from pos_client.domain.errors import StorageFault
from pos_client.store import faults, logsetup
from pos_client.store.home import resolve_home
from pos_client.till import open_till
from pos_client.till.devices import TillDevices


def run_app(home: str | None = None, *, headless: bool = False, on_ready: Callable[[TillApp], None] | None = None
            ) -> int:
    """Open the till at `home` (or $POS_CLIENT_HOME / the platform default) and run the app.

    `headless` and `on_ready` exist for the start-up probe; the till itself uses neither.
    """

    try:
        ctx = open_till(home)
    except (StorageFault, sqlite3.Error, OSError) as exc:  # the till's storage failed: words, not a traceback
        if headless or not (isinstance(exc, StorageFault) or faults.is_storage_error(exc)):
            raise
        message = str(exc) if isinstance(exc, StorageFault) else faults.describe(exc, where=resolve_home(home))
        logging.getLogger("pos_client.app").error("the till cannot start: %s", message, exc_info=True)
        collector.release()  # no first screen of the till's to wait for (pos_client.app.collector)
        FaultApp(message).run()
        return FAULT_EXIT
    if ctx.home is not None:  # the cashier's errors and the devices' troubles go to <home>/logs (or the journal)
        logsetup.configure(ctx.home, ctx.config.section("logging"))
    try:
        app = TillApp(ctx, on_ready=on_ready, devices=TillDevices(ctx))
        app.run(headless=headless)
        return int(app.return_code or 0)
    finally:
        ctx.close()


# Packages the first screen does not need (the manager's reports, the day's upkeep, printing, sync, head office,
# the member screen, the drivers of readers the till does not have): the probe says which of them had loaded by
# then (tests/test_app_startup.py keeps the list empty; its homes configure no reader).
NOT_AT_START = ("numpy", "pandas", "escpos", "PIL", "cryptography", "httpx", "smartcard", "headoffice",
                "pos_client.services.marketing.reports", "pos_client.app.manager_screen", "pos_client.till.scheduler",
                "sync.engine", "wire.batches", "pos_client.app.member_screen", "drivers.serial_reader",
                "drivers.pcsc_reader", "drivers.evdev_reader", "drivers.reader_thread", "serial", "evdev", "tenacity",
                "pos_client.services.printing", "drivers.printer", "drivers.escpos_render")


def _probe_child(home: str) -> None:
    """Run headless until the first screen is ready, print when that was and what had loaded (startup_probe)."""
    marks: dict[str, float | str | bool | list[str]] = {"imported_at": time.time()}

    def ready(app: TillApp) -> None:
        marks["ready_at"] = time.time()
        marks["screen"] = type(app.screen).__name__
        marks["loaded"] = [m for m in NOT_AT_START if m in sys.modules]
        marks["collector_held"] = not gc.isenabled()  # `collector.hold`, as `pos-client` starts (app.boot)
        app.exit()

    run_app(home, headless=True, on_ready=ready)
    print(json.dumps(marks))

"""The app's side of the hardware wiring: start and stop the devices, print after a sale, Ctrl+R.

Kept apart so the app module stays about screens, scans and the status bar. `TillApp` holds one
`DeviceWiring` and forwards its lifecycle, the checkout's `sale_committed`, the Ctrl+R action and
the printer report message to it. The devices themselves (`pos_client.till.devices.TillDevices`)
know nothing of Textual; this part runs their slow calls (the printer) in the app's worker threads
and shows the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.message import Message

from pos_client.till.devices import PrinterReport, TillDevices

if TYPE_CHECKING:
    from pos_client.app.till_app import TillApp

log = logging.getLogger(__name__)


class PrinterReportMessage(Message):
    """What a print or retry in a worker thread came to."""
    def __init__(self, report: PrinterReport, announce: bool = False) -> None:
        super().__init__()
        self.report = report
        self.announce = announce  # the cashier asked (Ctrl+R): say what was printed


class DeviceWiring:
    """The till's devices as the app drives them: `devices` is None on a till run without hardware (tests)."""

    def __init__(self, app: TillApp, devices: TillDevices | None) -> None:
        self.app = app
        self.devices = devices
        self.last_sale_id: str | None = None

    @property
    def has_printer(self) -> bool:
        return self.devices is not None and bool(self.devices.printer_url)

    def start(self) -> None:
        """Once the first screen is up, on the app's thread: readers, backups and the storage's threads start (sync
        and upkeep at `start_later`); a bad reader entry is reported, the till goes on."""
        if self.devices is not None:
            for problem in self.devices.start(self.app):
                self.app.report(problem, error=True)

    def start_later(self) -> None:
        """Once the first screen is up, in a worker: what the till runs beside the app but the first screen does
        not need (the day's upkeep and the sync worker: `TillDevices.start_later`), reported as `start`'s are."""
        devices, app = self.devices, self.app
        if devices is None:
            return

        def start() -> None:
            for problem in devices.start_later(app):
                try:
                    app.call_from_thread(app.report, problem, error=True)
                except RuntimeError:  # the app closed meanwhile: the log keeps it
                    log.warning("%s", problem)

        app.run_worker(start, thread=True, group="devices", name="start later", exit_on_error=False)

    def warm_printer(self) -> None:
        """Once the first screen is up: import escpos and ask the printer its status, in a worker."""
        devices = self.devices
        if devices is None or not devices.printer_url:
            return

        def warm_and_check() -> PrinterReport:
            devices.warm_printer()
            return devices.check_printer()

        self._printer_work(warm_and_check)

    def stop(self) -> None:
        if self.devices is not None:
            self.devices.stop()

    def sale_committed(self, sale_id: str) -> None:
        """A sale is written: print its receipt and sync, never waiting."""
        self.last_sale_id = sale_id
        devices = self.devices
        if devices is None:
            return
        devices.sale_committed()
        if devices.printer_url:
            self.app.set_status("printer", "printing…")
            self._printer_work(lambda: devices.print_sale(sale_id))

    def print_retry(self) -> None:
        """Print the receipts waiting in the queue, or reprint the last one."""
        devices = self.devices
        if devices is None or not devices.printer_url:
            return
        self.app.set_status("printer", "printing…")
        last_sale_id = self.last_sale_id
        self._printer_work(lambda: devices.retry_or_reprint(last_sale_id), announce=True)

    def _printer_work(self, job: Callable[[], PrinterReport], *, announce: bool = False) -> None:
        app = self.app

        def run() -> None:
            try:
                report = job()
            except Exception as exc:  # broad on purpose: the sale is already safe, whatever the printer stack raised
                log.warning("printer job failed", exc_info=True)
                report = PrinterReport(0, 0, f"printing failed: {exc}")
            app.post_message(PrinterReportMessage(report, announce))

        app.run_worker(run, thread=True, group="printer", name="printer", exit_on_error=False)

    def show(self, message: PrinterReportMessage) -> None:
        """A printer report reached the app's thread: the status bar, and a word for the cashier."""
        report = message.report
        self.app.set_status("printer", report.status())
        if message.announce and report.printed:
            self.app.report(f"printer: {report.printed} receipt{'s' if report.printed != 1 else ''} printed")
        elif message.announce and not report.problem and report.warning:
            self.app.report(f"printer: {report.warning}")
        if report.problem and report.waiting:
            n = report.waiting
            self.app.notify(f"{n} receipt{'s' if n != 1 else ''} kept in the queue: {report.problem}. Ctrl+R prints"
                            f" {'them' if n != 1 else 'it'}.", severity="warning", timeout=6)

"""The app's side of the hardware wiring: start and stop the devices, print after a sale, Ctrl+R.

A mixin of `TillApp` (kept apart so the app module stays about screens, scans and the status bar).
The devices themselves (`pos_client.app.devices.TillDevices`) know nothing of Textual; this part
runs their slow calls (the printer) in worker threads and shows the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from pos_client.app.devices import PrinterReport, TillDevices


class PrinterReportMessage(Message):
    """What a print or retry in a worker thread came to."""

    def __init__(self, report: PrinterReport, announce: bool = False) -> None:
        super().__init__()
        self.report = report
        self.announce = announce  # the cashier asked (Ctrl+R): say what was printed


class DeviceWiring:
    """Mixed into TillApp, which provides `devices`, `set_status`, `report`, `run_worker`, `notify`."""

    devices: TillDevices | None = None
    last_sale_id: str | None = None

    def start_devices(self) -> None:
        """On mount: readers and sync start; a bad reader entry is reported, the till goes on."""
        if self.devices is not None:
            for problem in self.devices.start(self):
                self.report(problem, error=True)

    def warm_printer(self) -> None:
        """Once the first screen is up: import escpos and ask the printer its status, in a worker."""
        devices = self.devices
        if devices is None or not devices.printer_url:
            return

        def warm_and_check() -> PrinterReport:
            devices.warm_printer()
            return devices.check_printer()

        self._printer_work(warm_and_check)

    def stop_devices(self) -> None:
        if self.devices is not None:
            self.devices.stop()

    def sale_committed(self, sale_id: str) -> None:
        """Called by the checkout once a sale is written: print its receipt and sync, never waiting."""
        self.last_sale_id = sale_id
        devices = self.devices
        if devices is None:
            return
        devices.sale_committed()
        if devices.printer_url:
            self.set_status("printer", "printing…")
            self._printer_work(lambda: devices.print_sale(sale_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "print_retry":  # hidden from the footer on a till without a printer
            return self.devices is not None and bool(self.devices.printer_url)
        return super().check_action(action, parameters)

    def action_print_retry(self) -> None:
        """Print the receipts waiting in the queue, or reprint the last one."""
        devices = self.devices
        if devices is None or not devices.printer_url:
            return
        self.set_status("printer", "printing…")
        self._printer_work(lambda: devices.retry_or_reprint(self.last_sale_id), announce=True)

    def _printer_work(self, job: Callable[[], PrinterReport], *, announce: bool = False) -> None:
        def run() -> None:
            from pos_client.app.devices import PrinterReport

            try:
                report = job()
            except Exception as exc:  # the sale is already safe; say what went wrong
                report = PrinterReport(0, 0, f"printing failed: {exc}")
            self.post_message(PrinterReportMessage(report, announce))

        self.run_worker(run, thread=True, group="printer", name="printer", exit_on_error=False)

    def on_printer_report_message(self, message: PrinterReportMessage) -> None:
        report = message.report
        self.set_status("printer", report.status())
        if message.announce and report.printed:
            self.report(f"printer: {report.printed} receipt{'s' if report.printed != 1 else ''} printed")
        elif message.announce and not report.problem and report.warning:
            self.report(f"printer: {report.warning}")
        if report.problem and report.waiting:
            n = report.waiting
            self.notify(f"{n} receipt{'s' if n != 1 else ''} kept in the queue: {report.problem}. Ctrl+R prints"
                        f" {'them' if n != 1 else 'it'}.", severity="warning", timeout=6)

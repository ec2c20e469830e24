"""Print a sale's receipt, or queue it: the till never loses a receipt to a printer problem.

The job is queued before the printer is touched. Then: open the printer, ask its status,
send the bytes, ask again (a roll that ends mid-receipt only shows after the data went
out), and only then mark it printed. Anything else leaves it pending with the reason for
the cashier; `retry_pending` prints the queue once the printer is back.

The layout and the queueing run under the till connection's `write_lock` (`print_queue.locked`): the layout's
reads end before a sale can begin on it, and its own writes (an offer presented on the receipt issues its coupon,
in a transaction of its own) and the job's are never joined by a sale. The printer is talked to after that,
outside every lock and transaction, and the outcome is its own short write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from drivers.errors import DeviceError
from drivers.printer import Printer, open_configured
from pos_client.domain.errors import PosError
from pos_client.services.receipt import render_receipt
from pos_client.store import print_queue
from pos_client.store.context import TillContext
from pos_client.store.print_queue import PrintJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrintOutcome:
    job_id: str
    sale_id: str
    printed: bool
    reason: str | None = None
    warning: str | None = None
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "sale_id": self.sale_id, "printed": self.printed, "reason": self.reason,
                "warning": self.warning, "bytes": self.bytes}


def print_receipt(ctx: TillContext, sale_id: str, *, reprint: bool = False) -> PrintOutcome:
    """Render the sale's receipt, queue it, and print it now if the printer lets us."""
    kind = "reprint" if reprint else "receipt"
    with print_queue.locked(ctx.conn):
        job = None if reprint else print_queue.pending_for_sale(ctx.conn, sale_id, "receipt")
        data, error = _render(ctx, sale_id, reprint)
        if job is None:
            job = print_queue.enqueue(ctx.conn, sale_id, data, kind, reason=error)
        elif data is not None:
            print_queue.set_data(ctx.conn, job.job_id, data)
            job = replace(job, data=data)
        if error:
            print_queue.mark_failed(ctx.conn, job.job_id, error)
    if error:
        return PrintOutcome(job.job_id, sale_id, False, error)
    return _print_jobs(ctx, [job])[0]


def _render(ctx: TillContext, sale_id: str, reprint: bool) -> tuple[bytes | None, str | None]:
    """The receipt's bytes, or None and why: a layout bug must not lose a paid sale's receipt."""
    try:
        return render_receipt(ctx, sale_id, reprint=reprint), None
    except PosError:
        raise  # no such sale: nothing to queue
    except Exception as exc:  # any layout bug: the job keeps waiting (rendered again later), the bug is logged
        log.exception("could not lay out the receipt of sale %s", sale_id)
        return None, f"could not lay out the receipt: {exc}"


def retry_pending(ctx: TillContext) -> list[PrintOutcome]:
    """Print the pending jobs oldest first; stop at the first printer problem (the rest keep waiting)."""
    return _print_jobs(ctx, print_queue.pending(ctx.conn))


def _print_jobs(ctx: TillContext, jobs: list[PrintJob]) -> list[PrintOutcome]:
    if not jobs:
        return []
    section = ctx.config.section("printer")
    status_timeout = float(section.get("status_timeout", 2))
    try:
        printer = open_configured(ctx.config)
    except DeviceError as exc:  # not configured, or not reachable: every job waits with the reason
        return [_failed(ctx, job, str(exc)) for job in jobs]
    outcomes: list[PrintOutcome] = []
    try:
        for i, job in enumerate(jobs):
            outcome = _print_one(ctx, printer, job, status_timeout)
            outcomes.append(outcome)
            if not outcome.printed:
                outcomes += [_failed(ctx, rest, outcome.reason or "printer problem") for rest in jobs[i + 1:]]
                break
    finally:
        printer.close()
    return outcomes


def _print_one(ctx: TillContext, printer: Printer, job: PrintJob, status_timeout: float) -> PrintOutcome:
    data = job.data
    if data is None:
        try:
            with print_queue.locked(ctx.conn):
                data, error = _render(ctx, job.sale_id, job.kind == "reprint")
                if data is not None:
                    print_queue.set_data(ctx.conn, job.job_id, data)
        except PosError as exc:  # the job names no sale this till knows: it waits, with the reason
            return _failed(ctx, job, str(exc))
        if data is None:
            return _failed(ctx, job, error or "could not lay out the receipt")
    try:
        before = printer.status(status_timeout)
        if before.problem:
            return _failed(ctx, job, before.problem)
        printer.send(data)
        after = printer.status(status_timeout)
        if after.problem:
            return _failed(ctx, job, after.problem)
    except DeviceError as exc:  # PrinterError: connection lost, stopped taking data; the job waits, with the reason
        return _failed(ctx, job, str(exc) or type(exc).__name__)
    print_queue.mark_printed(ctx.conn, job.job_id)
    return PrintOutcome(job.job_id, job.sale_id, True, None, after.warning, len(data))


def _failed(ctx: TillContext, job: PrintJob, reason: str) -> PrintOutcome:
    print_queue.mark_failed(ctx.conn, job.job_id, reason)
    return PrintOutcome(job.job_id, job.sale_id, False, reason, None, len(job.data or b""))


def printer_status(ctx: TillContext) -> dict[str, Any]:
    """The configured printer's state for the app's status bar and `pos-client printer-status`."""
    url = str(ctx.config.section("printer").get("url", ""))
    try:
        with open_configured(ctx.config) as printer:
            st = printer.status(float(ctx.config.section("printer").get("status_timeout", 2)))
    except DeviceError as exc:
        return {"url": url, "reachable": False, "problem": str(exc), "warning": None}
    return {"url": url, "reachable": True, **st.as_dict(), "pending": len(print_queue.pending(ctx.conn))}

"""Print a sale's receipt, or queue it: the till never loses a receipt to a printer problem.

The job is queued before the printer is touched. Then: open the printer, ask its status,
send the bytes, ask again (a roll that ends mid-receipt only shows after the data went
out), and only then mark it printed. Anything else leaves it pending with the reason for
the cashier; `retry_pending` prints the queue once the printer is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pos_client.domain.errors import PosError
from pos_client.store import print_queue
from pos_client.store.context import TillContext
from pos_client.store.print_queue import PrintJob


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
    from pos_client.services.receipt import render_receipt

    kind = "reprint" if reprint else "receipt"
    job = None if reprint else print_queue.pending_for_sale(ctx.conn, sale_id, "receipt")
    try:
        data: bytes | None = render_receipt(ctx, sale_id, reprint=reprint)
        error = None
    except PosError:
        raise  # no such sale: nothing to queue
    except Exception as exc:  # a rendering bug must not lose the receipt: keep the job, render again later
        data, error = None, f"could not lay out the receipt: {exc}"
    if job is None:
        job = print_queue.enqueue(ctx.conn, sale_id, data, kind, reason=error)
    elif data is not None:
        print_queue.set_data(ctx.conn, job.job_id, data)
        job = print_queue.get(ctx.conn, job.job_id)
    if error:
        print_queue.mark_failed(ctx.conn, job.job_id, error)
        return PrintOutcome(job.job_id, sale_id, False, error)
    return _print_jobs(ctx, [job])[0]


def retry_pending(ctx: TillContext) -> list[PrintOutcome]:
    """Print the pending jobs oldest first; stop at the first printer problem (the rest keep waiting)."""
    return _print_jobs(ctx, print_queue.pending(ctx.conn))


def _print_jobs(ctx: TillContext, jobs: list[PrintJob]) -> list[PrintOutcome]:
    from drivers.printer import open_configured

    if not jobs:
        return []
    section = ctx.config.section("printer")
    status_timeout = float(section.get("status_timeout", 2))
    try:
        printer = open_configured(ctx.config)
    except PosError as exc:
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


def _print_one(ctx: TillContext, printer: Any, job: PrintJob, status_timeout: float) -> PrintOutcome:
    data = job.data
    try:
        if data is None:
            from pos_client.services.receipt import render_receipt

            data = render_receipt(ctx, job.sale_id, reprint=job.kind == "reprint")
            print_queue.set_data(ctx.conn, job.job_id, data)
        before = printer.status(status_timeout)
        if before.problem:
            return _failed(ctx, job, before.problem)
        printer.send(data)
        after = printer.status(status_timeout)
        if after.problem:
            return _failed(ctx, job, after.problem)
    except Exception as exc:  # PrinterError and anything unexpected: the job waits, with the reason
        return _failed(ctx, job, str(exc) or type(exc).__name__)
    print_queue.mark_printed(ctx.conn, job.job_id)
    return PrintOutcome(job.job_id, job.sale_id, True, None, after.warning, len(data))


def _failed(ctx: TillContext, job: PrintJob, reason: str) -> PrintOutcome:
    print_queue.mark_failed(ctx.conn, job.job_id, reason)
    return PrintOutcome(job.job_id, job.sale_id, False, reason, None, len(job.data or b""))


def printer_status(ctx: TillContext) -> dict[str, Any]:
    """The configured printer's state for the app's status bar and `pos-client printer-status`."""
    from drivers.printer import open_configured

    url = str(ctx.config.section("printer").get("url", ""))
    try:
        with open_configured(ctx.config) as printer:
            st = printer.status(float(ctx.config.section("printer").get("status_timeout", 2)))
    except PosError as exc:
        return {"url": url, "reachable": False, "problem": str(exc), "warning": None}
    return {"url": url, "reachable": True, **st.as_dict(), "pending": len(print_queue.pending(ctx.conn))}

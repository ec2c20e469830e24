"""The slip printed for a coupon issued by a manager: header, what it grants, QR token, Code 128 code.

Built from the receipt's own blocks (`pos_client.services.receipt`) and rendered with the same ESC/POS
renderer; printing goes through the reprint queue like a receipt (job kind "coupon", keyed by
"coupon:<code>"), so a printer problem leaves it pending with the reason and never raises. The
printer I/O (`send_to_printer`) touches no database, so the app runs it in a worker thread and
records the outcome on its own thread.
"""

from __future__ import annotations

import logging
from typing import Any

from drivers.errors import DeviceError
from drivers.escpos_render import columns_of, render_blocks
from drivers.printer import open_configured
from drivers.receipt_blocks import QR, Barcode, Block, Feed, Rule, Text
from pos_client.services.marketing.coupons import Coupon, describe
from pos_client.store import print_queue
from pos_client.store.config import Config
from pos_client.store.context import TillContext
from pos_client.store.print_queue import PrintJob

log = logging.getLogger(__name__)


def coupon_blocks(ctx: TillContext, coupon: Coupon, title: str | None = None) -> list[Block]:
    """The slip's blocks: store name, title, what it grants, validity, QR (any till) and Code 128."""
    store = str(ctx.config.raw.get("store_name") or ctx.store_id)
    return [
        Text(store, bold=True, align="center"),
        Text("COUPON", bold=True, size="double", align="center"),
        Rule(),
        Text(title or "Your reward", bold=True),
        Text(describe(coupon.kind, coupon.value, coupon.sku)),
        Text(f"Valid until {coupon.expires}"),
        Text("Scan at the till. One use only."),
        Feed(),
        QR(coupon.token),
        Barcode(coupon.code),
        Rule(),
    ]


def render_coupon(ctx: TillContext, coupon: Coupon, title: str | None = None, profile: str | None = None) -> bytes:
    """ESC/POS bytes of the slip for a printer profile (the configured one by default)."""
    prof = str(profile or ctx.config.section("printer").get("profile") or "TM-T88V")
    return render_blocks(coupon_blocks(ctx, coupon, title), prof, columns=columns_of(prof))


def queue_coupon(ctx: TillContext, coupon: Coupon, title: str | None = None) -> PrintJob:
    """Render the slip and queue it as a print job (before any printer I/O, so it is never lost)."""
    return print_queue.enqueue(ctx.conn, f"coupon:{coupon.code}", render_coupon(ctx, coupon, title), "coupon")


def send_to_printer(config: Config, data: bytes) -> tuple[bool, str | None]:
    """Printer I/O only, no database (safe in a worker thread): status, send, status again.

    Returns (printed, reason); a printer problem (any DeviceError) never raises.
    """
    try:
        status_timeout = float(config.section("printer").get("status_timeout", 2))
        with open_configured(config) as printer:
            before = printer.status(status_timeout)
            if before.problem:
                return False, before.problem
            printer.send(data)
            after = printer.status(status_timeout)
            if after.problem:
                return False, after.problem
    except DeviceError as exc:  # not configured, unreachable, stopped taking data: the job waits, with the reason
        return False, str(exc) or type(exc).__name__
    return True, None


def finish(ctx: TillContext, job_id: str, printed: bool, reason: str | None) -> None:
    """Record the outcome on the job: printed, or pending with the reason (retried with the queue)."""
    if printed:
        print_queue.mark_printed(ctx.conn, job_id)
    else:
        print_queue.mark_failed(ctx.conn, job_id, reason or "printer problem")


def print_coupon(ctx: TillContext, coupon: Coupon, title: str | None = None) -> dict[str, Any]:
    """Queue and print the slip now: {"printed", "reason"}; never raises (the coupon is already issued)."""
    if not str(ctx.config.section("printer").get("url", "")):
        return {"printed": False, "reason": "no printer configured"}
    try:
        job = queue_coupon(ctx, coupon, title)
    except Exception as exc:  # any layout bug must not look like a failed redemption (the coupon is issued): log it
        log.exception("could not lay out the slip of coupon %s", coupon.code)
        return {"printed": False, "reason": f"could not lay out the coupon: {exc}"}
    printed, reason = send_to_printer(ctx.config, job.data or b"")
    finish(ctx, job.job_id, printed, reason)
    return {"printed": printed, "reason": reason}

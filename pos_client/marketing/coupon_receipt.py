"""The slip printed for a coupon issued by a manager: header, what it grants, QR token, Code 128 code.

Built from the receipt's own blocks (`pos_client.receipt`) and rendered with the same ESC/POS
renderer; printing goes through the reprint queue like a receipt (job kind "coupon", keyed by
"coupon:<code>"), so a printer problem leaves it pending with the reason and never raises.
"""

from __future__ import annotations

from typing import Any

from pos_client.context import TillContext
from pos_client.marketing.coupons import Coupon, describe


def coupon_blocks(ctx: TillContext, coupon: Coupon, title: str | None = None) -> list:
    """The slip's blocks: store name, title, what it grants, validity, QR (any till) and Code 128."""
    from pos_client.receipt import QR, Barcode, Feed, Rule, Text

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
    from drivers.escpos_render import columns_of, render_blocks

    prof = profile or ctx.config.section("printer").get("profile") or "TM-T88V"
    return render_blocks(coupon_blocks(ctx, coupon, title), prof, columns=columns_of(prof))


def print_coupon(ctx: TillContext, coupon: Coupon, title: str | None = None) -> dict[str, Any]:
    """Queue and print the slip: {"printed", "reason"}; never raises (the coupon is already issued)."""
    if not str(ctx.config.section("printer").get("url", "")):
        return {"printed": False, "reason": "no printer configured"}
    try:
        from pos_client import print_queue
        from pos_client.printing import _print_jobs  # the queue's one-job printer (status before/after)

        job = print_queue.enqueue(ctx.conn, f"coupon:{coupon.code}", render_coupon(ctx, coupon, title), "coupon")
        outcome = _print_jobs(ctx, [job])[0]
        return {"printed": outcome.printed, "reason": outcome.reason}
    except Exception as exc:  # a printing problem must not look like a failed redemption
        return {"printed": False, "reason": f"coupon not printed: {exc}"}

"""What marketing adds to a printed receipt, as plain blocks the printer capability renders.

`receipt_blocks(ctx, sale_id)` returns a list of {"type": "text", "lines": [...]},
{"type": "qr", "data": ...} and {"type": "code128", "data": ...}; `printable_blocks` is what
the composition root (`pos_client.till`) puts in the till's `receipt_blocks`. Only the tier and
points appear: no name, phone or email.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from drivers.receipt_blocks import QR, Barcode, Block, Text
from pos_client.domain.dates import day_of
from pos_client.services.marketing import coupons, offers
from pos_client.services.marketing.tiers import current_tier
from pos_client.store.context import TillContext


def receipt_blocks(ctx: TillContext, sale_id: str) -> list[dict[str, Any]]:
    """The tier bonus paid on this sale and the best offer (a coupon or a message).

    The receipt's own loyalty block already prints points, balance, tier progress and the
    expiry warning; these blocks add only what marketing knows beyond that.
    """
    sale = ctx.conn.execute("SELECT member_id, points_earned, created_at FROM sales WHERE sale_id = ?",
                            (sale_id,)).fetchone()
    if sale is None or not sale["member_id"]:
        return []
    member_id = sale["member_id"]
    day = day_of(sale["created_at"])
    bonus = ctx.conn.execute("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE sale_id = ? AND kind = 'bonus'",
                             (sale_id,)).fetchone()[0]
    blocks: list[dict[str, Any]] = []
    if bonus:
        blocks.append({"type": "text", "lines": [f"{current_tier(ctx, member_id)} bonus: +{bonus} pts"]})
    shown = offers.present(ctx, member_id, sale_id, day)
    if shown:
        coupon = shown["coupon"]
        if coupon is not None:
            blocks += coupons.blocks(coupon, shown["message"], coupons.describe(coupon.kind, coupon.value, coupon.sku))
        elif shown["type"] == "message":
            blocks.append({"type": "text", "lines": [shown["message"]]})
    return blocks


def printable_blocks(ctx: TillContext, sale_id: str) -> list[Block]:
    """`receipt_blocks` as the receipt's block objects: the till's receipt block source."""
    out: list[Block] = []
    for block in receipt_blocks(ctx, sale_id):
        if block["type"] == "text":
            out += [Text(line) for line in block["lines"]]
        elif block["type"] == "qr":
            out.append(QR(block["data"]))
        elif block["type"] == "code128":
            out.append(Barcode(block["data"]))
    return out


def cashier_prompt(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> str | None:
    """The prompt to show the cashier when a card is scanned (offers whose action is a prompt)."""
    chosen = offers.best_offer(ctx, member_id, as_of)
    return chosen.message if chosen and chosen.offer.action["type"] == "prompt" else None

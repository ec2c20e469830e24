"""Marketing's part of a till: the observers and receipt blocks the composition root installs."""

from __future__ import annotations

from pos_client.services.marketing import coupons, lifecycle, tiers
from pos_client.services.marketing.receipt import printable_blocks
from pos_client.store.context import Extensions


def install(extensions: Extensions) -> Extensions:
    """Add marketing to a till's extension lists (idempotent).

    Order matters: coupon use first (a used coupon refuses the sale before anything else is
    written), then the tier upgrade and bonus, then the lifecycle stage that offers look at.
    """
    for observer in (coupons.on_sale, tiers.on_sale, lifecycle.on_sale):
        if observer not in extensions.sale_observers:
            extensions.sale_observers.append(observer)
    if tiers.on_refund not in extensions.refund_observers:
        extensions.refund_observers.append(tiers.on_refund)
    if printable_blocks not in extensions.receipt_blocks:
        extensions.receipt_blocks.append(printable_blocks)
    return extensions

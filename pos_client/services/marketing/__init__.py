"""Rewards and relationship marketing at the till: tiers, expiry, rewards, coupons, lifecycle,
offers, reports, privacy. Pure logic over SQLite; nothing heavy is imported here.

`install()` registers the sale and refund hooks in `pos_client.services.checkout` and the receipt
blocks (idempotent); `open_till` calls it, so every till the CLI, the app or a test opens runs
the whole program.
"""

from __future__ import annotations


def _hooks() -> tuple[list, list]:
    from pos_client.services.marketing import coupons, lifecycle, tiers

    # Order matters: coupon use first (a used coupon refuses the sale before anything else is
    # written), then the tier upgrade and bonus, then the lifecycle stage that offers look at.
    return [coupons.on_sale, tiers.on_sale, lifecycle.on_sale], [tiers.on_refund]


def install() -> None:
    """Register the marketing hooks with checkout, once."""
    from pos_client.services import checkout, receipt
    from pos_client.services.marketing.receipt import printable_blocks

    if printable_blocks not in receipt.RECEIPT_BLOCKS:
        receipt.RECEIPT_BLOCKS.append(printable_blocks)
    sale_hooks, refund_hooks = _hooks()
    for hook in sale_hooks:
        if hook not in checkout.SALE_HOOKS:
            checkout.SALE_HOOKS.append(hook)
    for hook in refund_hooks:
        if hook not in checkout.REFUND_HOOKS:
            checkout.REFUND_HOOKS.append(hook)


def uninstall() -> None:
    """Remove the hooks (tests that must see checkout alone)."""
    from pos_client.services import checkout, receipt
    from pos_client.services.marketing.receipt import printable_blocks

    receipt.RECEIPT_BLOCKS[:] = [b for b in receipt.RECEIPT_BLOCKS if b is not printable_blocks]
    sale_hooks, refund_hooks = _hooks()
    checkout.SALE_HOOKS[:] = [h for h in checkout.SALE_HOOKS if h not in sale_hooks]
    checkout.REFUND_HOOKS[:] = [h for h in checkout.REFUND_HOOKS if h not in refund_hooks]

"""What the checkout screen shows and accepts, as plain functions the screen only wires up.

`parse_entry` reads the product/amount slot ("12.50", "12.50 grocery", "3*4006381333931"),
`preview_points` answers "how many points will this basket earn?" before anything is written,
and `member_summary` gathers the panel: balance, tier, last visits and what was bought.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pos_client.domain.errors import UsageError
from pos_client.domain.money import parse_amount
from pos_client.domain.rules import earn_points
from pos_client.services import history
from pos_client.services.checkout import Basket, earn_inputs
from pos_client.services.members import get_member
from pos_client.store.context import TillContext

_QTY_CODE = re.compile(r"^\s*(\d{1,3})\s*[*xX]\s*(\d{8,14})\s*$")
_CODE = re.compile(r"^\s*(\d{8,14})\s*$")
_AMOUNT_CAT = re.compile(r"^\s*([-0-9.,]+)\s*([A-Za-z_][A-Za-z_ ]*)?\s*$")


@dataclass(frozen=True)
class Entry:
    """What the cashier keyed: a product code with a quantity, or an amount in a category."""

    code: str | None = None
    qty: int = 1
    amount_cents: int | None = None
    category: str = "general"


def parse_entry(text: str, default_category: str = "general", decimal_separator: str = ".") -> Entry:
    """A code of 8-14 digits (optionally `N*` first) is a product; otherwise an amount and category.

    The amount goes through the CLI's parser (`parse_amount`) with the till's decimal separator.
    """
    m = _QTY_CODE.match(text)
    if m:
        qty = int(m.group(1))
        if qty <= 0:
            raise UsageError("quantity must be at least 1")
        return Entry(code=m.group(2), qty=qty)
    m = _CODE.match(text)
    if m:
        return Entry(code=m.group(1))
    m = _AMOUNT_CAT.match(text)
    if not m:
        raise UsageError("key an amount (12.50, or 12.50 grocery) or scan a product")
    cents = parse_amount(m.group(1), decimal_separator=decimal_separator, positive=True)
    category = (m.group(2) or default_category).strip().lower().replace(" ", "_")
    return Entry(amount_cents=cents, category=category)


def preview_points(ctx: TillContext, basket: Basket, day: date | None = None) -> int:
    """Points the basket would earn if committed now (same rules as commit_sale, nothing written)."""
    if not basket.lines:
        return 0
    lines = earn_inputs(ctx.rules, basket.lines)  # a coupon line lowers the points as at commit
    if not lines:
        return 0
    return earn_points(ctx.rules, lines, day or datetime.now(UTC).date())[0]


@dataclass(frozen=True)
class Visit:
    day: str
    total_cents: int
    points: int
    items: tuple[str, ...]


@dataclass(frozen=True)
class MemberSummary:
    member_id: str
    name: str
    phone: str
    balance: int
    tier: str
    visits: tuple[Visit, ...]


def member_summary(ctx: TillContext, member_id: str, visits: int = 3) -> MemberSummary:
    """The member panel's content: masked phone, balance, tier, last visits with what was bought."""
    public = get_member(ctx, member_id).public()
    out = []
    for sale in history.last_visits(ctx, public["member_id"], limit=visits):
        items = tuple(li["name"] if li["qty"] == 1 else f"{li['qty']}x {li['name']}" for li in sale["lines"])
        out.append(Visit(str(sale["created_at"])[:10], int(sale["total_cents"]), int(sale["points_earned"]), items))
    return MemberSummary(public["member_id"], public["name"] or "(no name)", public["phone"], public["balance"],
                         public["tier"], tuple(out))

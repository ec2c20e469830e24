"""Purchase history at the till: "which oil did I buy last time?"."""

from __future__ import annotations

from typing import Any

from pos_client.store.context import TillContext


def last_visits(ctx: TillContext, member_id: str, limit: int = 5) -> list[dict[str, Any]]:
    """The member's latest sales, newest first, each with its lines (product names)."""
    sales = [dict(r) for r in ctx.conn.execute(
        "SELECT sale_id, created_at, total_cents, points_earned, store_id FROM sales "
        "WHERE member_id = ? ORDER BY created_at DESC LIMIT ?", (member_id, limit))]
    for sale in sales:
        sale["lines"] = [dict(r) for r in ctx.conn.execute(
            "SELECT name, qty, amount_cents, category, ean FROM sale_lines WHERE sale_id = ? ORDER BY line_no",
            (sale["sale_id"],))]
    return sales


def products_bought(ctx: TillContext, member_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """Distinct products the member bought, latest purchase first, with how often."""
    rows = ctx.conn.execute(
        "SELECT l.name, l.ean, l.category, MAX(s.created_at) AS last_bought, SUM(l.qty) AS qty "
        "FROM sale_lines l JOIN sales s ON s.sale_id = l.sale_id WHERE s.member_id = ? AND l.sku IS NOT NULL "
        "GROUP BY l.sku ORDER BY last_bought DESC LIMIT ?", (member_id, limit))
    return [dict(r) for r in rows]

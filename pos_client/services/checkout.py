"""Checkout: a basket of lines, a card attached at any point, then one durable transaction.

`commit_sale` writes the sale, its lines, the ledger entries and the balance together. The
sale id makes it idempotent: the same sale sent again returns the recorded result, while a
different sale under the same id is refused. `refund` reverses exactly the points the
returned lines earned and can never be applied twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pos_client.domain.bounds import CENTS, QUANTITY, require
from pos_client.domain.errors import Conflict, NotFound, RefusedInput, UsageError
from pos_client.domain.rules import LineInput, ProgramRules, earn_points
from pos_client.services.catalog import Product
from pos_client.services.program_settings import tiers
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn


@dataclass(frozen=True)
class Line:
    name: str
    category: str
    qty: int
    unit_cents: int
    sku: str | None = None
    ean: str | None = None
    # What a discount line stands for (a coupon's signed token); not stored on the sale line, it
    # lets a sale observer record the coupon's use in the sale's own transaction.
    ref: str | None = None

    @property
    def amount_cents(self) -> int:
        return self.qty * self.unit_cents

    @classmethod
    def of_product(cls, product: Product, qty: int = 1) -> Line:
        return cls(product.name, product.category, qty, product.price_cents, product.sku, product.ean)

    @classmethod
    def keyed(cls, amount_cents: int, category: str = "general", name: str | None = None) -> Line:
        return cls(name or category.replace("_", " ").capitalize(), category, 1, amount_cents)


@dataclass
class Basket:
    """What is being sold; mutable while the cashier scans, frozen into lines at commit."""

    lines: list[Line] = field(default_factory=list)
    member_id: str | None = None
    card_number: str | None = None
    tender: str = "cash"

    def add(self, line: Line) -> None:
        if line.qty <= 0:
            raise UsageError("quantity must be at least 1")
        if line.unit_cents < 0:
            raise UsageError("price must not be negative")
        require(QUANTITY, line.qty)  # wire.bounds: what head office and the database take
        require(CENTS, line.amount_cents, "the line's amount")
        require(CENTS, self.total_cents + line.amount_cents, "the basket's total")
        self.lines.append(line)

    def add_discount(self, line: Line) -> None:
        """A negative line (coupon, reward): it lowers the total and the spend that earns points."""
        if line.qty != 1 or line.unit_cents >= 0:
            raise UsageError("a discount is one line with a negative amount")
        if -line.unit_cents > self.total_cents:
            raise RefusedInput("the discount is larger than the basket")
        self.lines.append(line)

    def remove_last(self) -> Line | None:
        return self.lines.pop() if self.lines else None

    @property
    def total_cents(self) -> int:
        return sum(li.amount_cents for li in self.lines)


@dataclass(frozen=True)
class SaleResult:
    """`points_earned` is what the sale did to the balance: `points_base` (the earning rules) plus
    `points_bonus` (what the sale observers added on top, the tier bonus)."""

    sale_id: str
    member_id: str | None
    points_earned: int
    balance: int | None
    total_cents: int
    replayed: bool = False
    points_base: int = 0
    points_bonus: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"sale_id": self.sale_id, "member_id": self.member_id, "points_earned": self.points_earned,
                "points_base": self.points_base, "points_bonus": self.points_bonus,
                "balance": self.balance, "total_cents": self.total_cents}


def _sale_points(ctx: TillContext, sale_id: str) -> int:
    """The points a recorded sale's own transaction wrote (its earn and bonus entries; refunds are not it)."""
    row = ctx.conn.execute(
        "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE sale_id = ? AND kind IN ('earn', 'bonus')",
        (sale_id,)).fetchone()
    return int(row[0])


def _hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sale_content_hash(basket: Basket) -> str:
    """What makes two sales "the same" for replay detection: member and priced lines.

    A flat repr rather than JSON: the importer hashes every row, and this is 3x cheaper.
    """
    lines = tuple((li.sku, li.ean, li.category, li.qty, li.unit_cents) for li in basket.lines)
    return hashlib.sha256(repr((basket.member_id, lines)).encode()).hexdigest()


def _day(created_at: str | None) -> date:
    if not created_at:
        return datetime.now(UTC).date()
    return datetime.fromisoformat(created_at).date()


def check_tender(ctx: TillContext, tender: str) -> str:
    """The tender when this till takes it (`[till] tenders`), else a usage error naming the ones it does."""
    if tender not in ctx.config.tenders:
        raise UsageError(f"unknown tender {tender!r}: this till takes {', '.join(ctx.config.tenders)}"
                         " ([till] tenders in config.toml)")
    return tender


def commit_sale(
    ctx: TillContext, basket: Basket, *, sale_id: str | None = None, created_at: str | None = None
) -> SaleResult:
    """Record the sale and its points in one transaction; replays return the first result.

    The program (earning rules, tier ladder: `TillContext.pinned`) is read and the points computed before
    BEGIN IMMEDIATE (no write lock held for them); inside, the sale row goes first (`ON CONFLICT DO NOTHING`:
    a replay is found by the insert itself, no read before it), then one read of the card's status and the
    balance before (bench: sale_commit).
    """
    if not basket.lines:
        raise UsageError("the basket is empty")
    require(CENTS, basket.total_cents, "the sale's total")
    check_tender(ctx, basket.tender)
    with ctx.pinned():  # the program (rules, tier ladder) read here, none of it under the write lock
        if basket.member_id and ctx.extensions.sale_observers:
            tiers(ctx)  # the tier observer's ladder
        return _commit(ctx, basket, sale_id or ledger.new_id(), created_at or now_iso())


def _commit(ctx: TillContext, basket: Basket, sid: str, ts: str) -> SaleResult:
    content = sale_content_hash(basket)
    member = basket.member_id
    points, per_line = (0, [0] * len(basket.lines))
    if member:
        rules = ctx.rules
        points, per_line = earn_points(rules, earn_inputs(rules, basket.lines), _day(ts))
    with write_txn(ctx.conn):
        if not ctx.conn.execute(
            "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned,"
            " content_hash, operator, created_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (sale_id) DO NOTHING",
            (sid, ctx.store_id, ctx.till_id, member, basket.total_cents, basket.tender, points,
             content, ctx.operator, ts),
        ).rowcount:
            return _replayed(ctx, sid, content)
        before = _before_earning(ctx, basket) if member else 0
        ctx.conn.executemany(
            "INSERT INTO sale_lines (sale_id, line_no, sku, ean, name, category, qty, unit_cents, amount_cents,"
            " points) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(sid, i + 1, li.sku, li.ean, li.name, li.category, li.qty, li.unit_cents, li.amount_cents, p)
             for i, (li, p) in enumerate(zip(basket.lines, per_line, strict=True))],
        )
        if member and points:
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                member_id=member, kind="earn", points=points, sale_id=sid,
                amount_cents=basket.total_cents, operator=ctx.operator, created_at=ts)])
        for observer in ctx.extensions.sale_observers:
            observer(ctx, sid, basket)
        balance = None
        if member:  # read after the observers: their entries (tier bonus) belong in the printed balance
            balance = int(ctx.conn.execute(
                "UPDATE sales SET balance_after = COALESCE((SELECT points FROM balances WHERE member_id = ?), 0)"
                " WHERE sale_id = ? RETURNING balance_after", (member, sid)).fetchone()[0])
    earned = balance - before if balance is not None else 0
    return SaleResult(sid, member, earned, balance, basket.total_cents, points_base=points,
                      points_bonus=earned - points)


def _replayed(ctx: TillContext, sid: str, content: str) -> SaleResult:
    """The recorded result of a sale sent again (its insert found the id taken), or Conflict when it differs."""
    existing = ctx.conn.execute("SELECT * FROM sales WHERE sale_id = ?", (sid,)).fetchone()
    if existing["content_hash"] != content:
        raise Conflict(f"sale {sid} was already recorded with different content")
    base = int(existing["points_earned"])
    earned = _sale_points(ctx, sid) if existing["member_id"] else 0
    return SaleResult(sid, existing["member_id"], earned, existing["balance_after"],
                      int(existing["total_cents"]), replayed=True, points_base=base, points_bonus=earned - base)


def earn_inputs(rules: ProgramRules, lines: list[Line]) -> list[LineInput]:
    """Lines as the earning rules see them: discounts spread over the lines that earn points.

    A coupon lowers what the customer paid, so it lowers the qualifying spend; it is spread in
    proportion to each earning line's amount (remainder on the last one) and never below zero.
    """
    discount = -sum(li.amount_cents for li in lines if li.amount_cents < 0)
    amounts = [li.amount_cents for li in lines]
    eligible = [i for i, li in enumerate(lines) if li.amount_cents > 0 and li.category not in rules.excluded_categories]
    base = sum(amounts[i] for i in eligible)
    if discount and base:
        discount = min(discount, base)
        cuts = [amounts[i] * discount // base for i in eligible]
        cuts[-1] += discount - sum(cuts)
        for i, cut in zip(eligible, cuts, strict=True):
            amounts[i] -= cut
    return [LineInput(li.category, max(amount, 0)) for li, amount in zip(lines, amounts, strict=True)]


def _before_earning(ctx: TillContext, basket: Basket) -> int:
    """The member's balance before the sale, in the statement that checks the card can earn (one read, not two).

    Refused (the caller's transaction rolls back) when the card is lost or blocked."""
    status, balance = ctx.conn.execute(
        "SELECT (SELECT status FROM cards WHERE card_number = ?),"
        " COALESCE((SELECT points FROM balances WHERE member_id = ?), 0)",
        (basket.card_number, basket.member_id)).fetchone()
    if status is not None and status != "active":
        raise RefusedInput(f"this card is {status}: it cannot earn points")
    return int(balance)


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    sale_id: str
    points_reversed: int
    balance: int | None
    amount_cents: int
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"refund_id": self.refund_id, "sale_id": self.sale_id, "points_reversed": self.points_reversed,
                "balance": self.balance, "amount_cents": self.amount_cents}


def refund(
    ctx: TillContext,
    sale_id: str,
    items: dict[str, int] | None = None,
    *,
    refund_id: str | None = None,
) -> RefundResult:
    """Return lines of a sale (all of it when `items` is None), reversing the points they earned.

    `items` maps an EAN, SKU or line number (as text) to a quantity. Cumulative rounding up
    means a sale returned in parts gives back exactly what it earned, never less.
    """
    rid = refund_id or ledger.new_id()
    with write_txn(ctx.conn):
        sale = ctx.conn.execute("SELECT * FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
        if sale is None:
            raise NotFound(f"no sale {sale_id}")
        lines = [dict(r) for r in ctx.conn.execute(
            "SELECT l.*, COALESCE((SELECT SUM(qty) FROM refund_lines r WHERE r.sale_id = l.sale_id"
            " AND r.line_no = l.line_no), 0) AS returned, COALESCE((SELECT SUM(points) FROM refund_lines r"
            " WHERE r.sale_id = l.sale_id AND r.line_no = l.line_no), 0) AS reversed"
            " FROM sale_lines l WHERE l.sale_id = ? ORDER BY line_no", (sale_id,))]
        wanted = _wanted_quantities(lines, items)
        content = _hash({"sale": sale_id, "items": sorted(wanted.items())})
        existing = ctx.conn.execute("SELECT * FROM refunds WHERE refund_id = ?", (rid,)).fetchone()
        if existing is not None:
            if existing["sale_id"] != sale_id:
                raise Conflict(f"refund {rid} belongs to another sale")
            return RefundResult(rid, sale_id, int(existing["points_reversed"]), existing["balance_after"],
                                int(existing["amount_cents"]), replayed=True)
        if not wanted:
            raise RefusedInput("this sale has already been fully refunded")
        by_no = {li["line_no"]: li for li in lines}
        rows, total_points, total_amount = [], 0, 0
        for line_no, qty in sorted(wanted.items()):
            li = by_no[line_no]
            left = li["qty"] - li["returned"]
            if qty > left:
                raise RefusedInput(f"line {line_no} ({li['name']}): only {left} left to return")
            cum = li["returned"] + qty
            target = -(-li["points"] * cum // li["qty"])  # ceil
            pts = target - li["reversed"]
            amount = qty * li["unit_cents"]
            rows.append((rid, sale_id, line_no, qty, amount, pts))
            total_points += pts
            total_amount += amount
        ctx.conn.execute(
            "INSERT INTO refunds (refund_id, sale_id, amount_cents, points_reversed, content_hash, operator,"
            " created_at) VALUES (?,?,?,?,?,?,?)",
            (rid, sale_id, total_amount, total_points, content, ctx.operator, now_iso()),
        )
        ctx.conn.executemany(
            "INSERT INTO refund_lines (refund_id, sale_id, line_no, qty, amount_cents, points) VALUES (?,?,?,?,?,?)",
            rows)
        balance = None
        member_id = sale["member_id"]
        if member_id and total_points:
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                member_id=member_id, kind="reverse", points=-total_points, sale_id=sale_id,
                amount_cents=-total_amount, operator=ctx.operator, ref=rid, reason="refund")])
        for observer in ctx.extensions.refund_observers:  # before the balance is read: a tier bonus reversal
            observer(ctx, rid, sale_id)
        if member_id:
            balance = ledger.balance(ctx.conn, member_id)
            ctx.conn.execute("UPDATE refunds SET balance_after = ? WHERE refund_id = ?", (balance, rid))
    return RefundResult(rid, sale_id, total_points, balance, total_amount)


def _wanted_quantities(lines: list[dict[str, Any]], items: dict[str, int] | None) -> dict[int, int]:
    """Map requested EAN/SKU/line-number quantities onto line numbers, earliest lines first."""
    if items is None:
        return {li["line_no"]: li["qty"] - li["returned"] for li in lines if li["qty"] > li["returned"]}
    wanted: dict[int, int] = {}
    for code, qty in items.items():
        if qty <= 0:
            raise UsageError("quantity to return must be at least 1")
        matches = [li for li in lines if code in (li["ean"], li["sku"], str(li["line_no"]))]
        if not matches:
            raise NotFound(f"{code} is not on this sale")
        for li in matches:
            take = min(qty, li["qty"] - li["returned"] - wanted.get(li["line_no"], 0))
            if take > 0:
                wanted[li["line_no"]] = wanted.get(li["line_no"], 0) + take
                qty -= take
        if qty > 0:
            raise RefusedInput(f"{code}: more returned than was sold (or already returned)")
    return wanted

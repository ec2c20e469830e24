"""The receipt of a sale as a list of blocks (text lines, barcodes, QR codes): no I/O, no escpos.

`build_receipt` reads the sale from SQLite and lays it out for a paper width in columns; the
ESC/POS bytes come from `render_receipt`, which hands the blocks to `drivers.escpos_render`.
Other capabilities add blocks (coupons, offers, messages) through the till's own list,
`ctx.extensions.receipt_blocks` (callables `(ctx, sale_id) -> list[Block]`, wired by `pos_client.till`);
they never edit this module.

Privacy: phones are masked, card numbers are never printed, and every text line goes through
`scrub()` so a 12+ digit run (a possible bank card number) cannot reach paper.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cardread.read import scrub
from drivers.escpos_render import columns_of, render_blocks
from drivers.receipt_blocks import QR, Barcode, Block, Feed, Rule, Text, wrap
from pos_client.domain.errors import NotFound
from pos_client.domain.money import format_cents
from pos_client.services.marketing import expiry, tiers
from pos_client.services.members import get_member
from pos_client.store.context import TillContext

log = logging.getLogger(__name__)

CURRENCY_SIGNS = {"EUR": "€", "GBP": "£", "USD": "$", "CHF": "CHF "}


BlockSource = Callable[[TillContext, str], list[Block]]



@dataclass(frozen=True)
class LoyaltySummary:
    tier: str = "Member"
    next_tier: str | None = None
    spend_needed_cents: int | None = None
    expiring_points: int = 0
    expiring_by: str | None = None


@dataclass
class Receipt:
    sale_id: str
    columns: int
    blocks: list[Block] = field(default_factory=list)

    def as_text(self) -> str:
        """A plain-text preview (screens, logs without personal data, tests)."""
        out: list[str] = []
        for b in self.blocks:
            if isinstance(b, Text):
                out += wrap(b.text, self.columns // (2 if b.size in ("wide", "double") else 1))
            elif isinstance(b, Rule):
                out.append(b.char * self.columns)
            elif isinstance(b, Barcode):
                out.append(f"[BARCODE {b.symbology}: {b.data}]")
            elif isinstance(b, QR):
                out.append(f"[QR: {b.data}]")
            elif isinstance(b, Feed):
                out += [""] * b.lines
        return "\n".join(out) + "\n"


def two_cols(left: str, right: str, columns: int) -> list[str]:
    """`left ...... right` on one line, or the left part wrapped above when both do not fit."""
    room = columns - len(right) - 1
    if len(left) <= room:
        return [left + " " * (columns - len(left) - len(right)) + right]
    parts = wrap(left, columns)
    last = parts[-1]
    if len(last) <= room:
        return [*parts[:-1], last + " " * (columns - len(last) - len(right)) + right]
    return [*parts, " " * (columns - len(right)) + right]


def _money(cents: int, currency: str) -> str:
    sign = CURRENCY_SIGNS.get(currency, "")
    return format_cents(cents, sign) if sign else f"{format_cents(cents)} {currency}"


def _mask_phone(phone: str | None) -> str:
    return "*" * max(len(phone) - 3, 0) + phone[-3:] if phone else ""


def _local_time(ts: str) -> str:
    try:
        return datetime.fromisoformat(ts).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ts[:16]


def loyalty_summary(ctx: TillContext, member_id: str) -> LoyaltySummary:
    """Tier, next tier and the spend still needed, and points expiring within 30 days."""
    progress = tiers.tier_progress(ctx, member_id)
    soon = expiry.expiring_soon(ctx, member_id, 30)
    return LoyaltySummary(progress["tier"], progress["next_tier"], progress["spend_needed_cents"],
                          int(soon["points"]), soon["by"])


def build_receipt(ctx: TillContext, sale_id: str, columns: int = 42, *, reprint: bool = False) -> Receipt:
    """Lay out the receipt of a recorded sale for a paper `columns` wide."""
    sale = ctx.conn.execute("SELECT * FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    if sale is None:
        raise NotFound(f"no sale {sale_id}")
    cur = ctx.config.currency
    cfg = ctx.config.section("receipt")
    r = Receipt(sale_id, columns)
    add = r.blocks.append
    if reprint:
        add(Text("*** REPRINT ***", bold=True, align="center"))
    add(Text(str(ctx.config.raw.get("store_name", "")), bold=True, size="double", align="center"))
    for line in cfg.get("header", []):
        add(Text(str(line), align="center"))
    add(Text(f"Store {sale['store_id']} - Till {sale['till_id']}", align="center"))
    add(Text(_local_time(sale["created_at"]), align="center"))
    add(Text(f"Sale {sale_id[:12]}", align="center"))
    add(Rule())
    for line in ctx.conn.execute("SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY line_no", (sale_id,)):
        for text in two_cols(line["name"], format_cents(line["amount_cents"]), columns):
            add(Text(text))
        if line["qty"] > 1:
            add(Text(f"  {line['qty']} x {format_cents(line['unit_cents'])}"))
    add(Rule())
    add(Text(two_cols("TOTAL", _money(sale["total_cents"], cur), columns // 2)[0], bold=True, size="wide"))
    tender = str(sale["tender"] or "cash").replace("_", " ").capitalize()
    add(Text(two_cols(tender, format_cents(sale["total_cents"]), columns)[0]))
    if sale["member_id"]:
        r.blocks += _loyalty_blocks(ctx, sale, columns)
    for source in list(ctx.extensions.receipt_blocks):
        try:
            extra = source(ctx, sale_id) or []
        except Exception:  # a broken extra block must never stop the receipt of a paid sale
            log.warning("receipt: block source %r failed", source, exc_info=True)
            continue
        if extra:
            add(Rule())
            r.blocks += list(extra)
    add(Rule())
    for line in cfg.get("footer", ["Thank you for shopping with us!"]):
        add(Text(str(line), align="center"))
    r.blocks = [_scrubbed(b) for b in r.blocks]
    return r


def _loyalty_blocks(ctx: TillContext, sale: Any, columns: int) -> list[Block]:
    member = get_member(ctx, sale["member_id"])
    summary = loyalty_summary(ctx, member.member_id)
    balance = sale["balance_after"] if sale["balance_after"] is not None else member.balance
    out: list[Block] = [Rule(), Text("LOYALTY", bold=True, align="center")]
    if member.name:
        out.append(Text(f"Member: {member.name.split()[0]}"))
    if member.phone:
        out.append(Text(f"Phone: {_mask_phone(member.phone)}"))
    earned = ctx.conn.execute(  # the sale's points plus any tier bonus paid on it
        "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE sale_id = ? AND kind IN ('earn', 'bonus')",
        (sale["sale_id"],)).fetchone()[0]
    rows = [("Points this sale", f"+{earned}"), ("Balance", f"{balance} pts"), ("Tier", summary.tier)]
    for left, right in rows:
        out += [Text(t, bold=left == "Balance") for t in two_cols(left, right, columns)]
    if summary.next_tier and summary.spend_needed_cents is not None:
        need = _money(summary.spend_needed_cents, ctx.config.currency)
        out.append(Text(f"Spend {need} more to reach {summary.next_tier}"))
    if summary.expiring_points > 0:
        when = f" by {summary.expiring_by}" if summary.expiring_by else " within 30 days"
        out.append(Text(f"{summary.expiring_points} pts expire{when}", bold=True))
    return out


def _scrubbed(block: Block) -> Block:
    if isinstance(block, Text):
        clean = scrub(block.text)
        return block if clean == block.text else Text(clean, block.bold, block.size, block.align, block.underline)
    return block


def render_receipt(ctx: TillContext, sale_id: str, profile: str | None = None, *, reprint: bool = False) -> bytes:
    """The ESC/POS bytes of the sale's receipt for a printer profile (the configured one by default)."""
    prof = profile or ctx.config.section("printer").get("profile") or "TM-T88V"
    receipt = build_receipt(ctx, sale_id, columns_of(prof), reprint=reprint)
    return render_blocks(receipt.blocks, prof, columns=receipt.columns)

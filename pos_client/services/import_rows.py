"""Rows of a sales history file as the importer reads them: where the columns are, and one row to a sale line.

Why a module of its own: this is the per-row half of `import sales` (the importer's is per sale), the part a
100,000-row file runs 100,000 times; what repeats across rows (cards, dates, amounts) is parsed once each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from functools import lru_cache

from cardread import parse_card
from cardread.read import scrub
from pos_client.domain.bounds import QUANTITY
from pos_client.domain.errors import UsageError
from pos_client.domain.money import parse_amount
from pos_client.services.checkout import Line

# sku -> (name, category, ean) of the till's catalog: imported lines take the product's own name.
Products = dict[str, tuple[str, str, str | None]]


@lru_cache(maxsize=65536)
def _when(text: str) -> str:
    """A sale's lines share its time, and a day's sales often their minute: convert each text once."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, 12, tzinfo=UTC).isoformat(timespec="microseconds")
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("date is not ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _derived_id(values: tuple[str, ...]) -> str:
    fields = ("card", "member_id", "date", "amount", "sku", "qty")
    key = "\x1f".join(f"{k}={v.strip()}" for k, v in zip(fields, values, strict=True))
    return "imp-" + hashlib.sha256(key.encode()).hexdigest()[:24]


class Columns:
    """Where each column the importer reads is in a row (-1: not in the file)."""

    def __init__(self, header: list[str]) -> None:
        at = {name: i for i, name in enumerate(header)}  # a repeated name: the last one, as DictReader
        self.card, self.member_id, self.date, self.amount, self.qty, self.sku, self.sale_id = (
            at.get(k, -1) for k in ("card", "member_id", "date", "amount", "qty", "sku", "sale_id"))

    def derived_fields(self, row: list[str]) -> tuple[str, ...]:
        return tuple(row[i] if i >= 0 else "" for i in (self.card, self.member_id, self.date, self.amount,
                                                         self.sku, self.qty))


@lru_cache(maxsize=65536)
def _amount(text: str) -> int:
    """Amounts repeat (a catalog's prices times small quantities): parse each text once."""
    return parse_amount(text)


def forget() -> None:
    """Empty the parse caches above, as in a process that has imported nothing yet (the bench's first run)."""
    for cached in (_when, _amount):
        cached.cache_clear()


# (amount, qty, sku) as the file wrote them -> the line they make: a catalog's prices times small quantities
# repeat across a history, so each combination is checked and built once per import (the importer's dict).
LineCache = dict[tuple[str, str, str], Line]


# What a row parses to: (sale_id, member key, created_at, line, whether the sale_id was derived), or the reason
# the row is skipped.
Parsed = tuple[str, tuple[str, str], str, Line, bool]


def read_rows(rows: Iterable[list[str]], cols: Columns, width: int, prefixes: tuple[str, ...], products: Products
              ) -> Iterator[tuple[int, Parsed | str]]:
    """(line number, parsed row or why it is skipped) for each non-blank row (the header is line 1; blank lines are
    skipped uncounted, as csv.DictReader does). One pass, one generator: the per-row work is inline (a function
    call per row and a generator to pad short rows cost a fifth of the parse), and what repeats is looked up in
    dicts made for this import (cards, lines by (amount, qty, sku)): a first run parses each card once."""
    cards: dict[str, tuple[str, str] | str] = {}  # card as written -> ("card", number), or why it is refused
    lines: LineCache = {}
    c_card, c_member, c_date, c_amount, c_qty, c_sku, c_sid = (
        cols.card, cols.member_id, cols.date, cols.amount, cols.qty, cols.sku, cols.sale_id)
    line_no = 1
    for row in rows:
        if not row:
            continue
        line_no += 1
        if len(row) < width:
            row = row + [""] * (width - len(row))
        try:
            card = row[c_card].strip() if c_card >= 0 else ""
            if card:
                member_key = cards.get(card)
                if member_key is None:
                    member_key = cards[card] = _card_key(card, prefixes)
                if isinstance(member_key, str):
                    yield line_no, member_key
                    continue
            elif c_member >= 0 and (member_id := row[c_member].strip()):
                member_key = ("member", member_id)
            else:
                yield line_no, "no card and no member_id"
                continue
            when = row[c_date].strip()
            if not when:
                yield line_no, "no date"
                continue
            created_at = _when(when)
            key = (row[c_amount], row[c_qty] if c_qty >= 0 else "", row[c_sku] if c_sku >= 0 else "")
            line = lines.get(key)
            if line is None:
                line = lines[key] = _line(*key, products)
        except (ValueError, UsageError) as exc:
            yield line_no, scrub(str(exc))
            continue
        given = row[c_sid].strip() if c_sid >= 0 else ""
        if given:
            yield line_no, (given, member_key, created_at, line, False)
        else:
            yield line_no, (_derived_id(cols.derived_fields(row)), member_key, created_at, line, True)


def _card_key(card: str, prefixes: tuple[str, ...]) -> tuple[str, str] | str:
    """("card", its number) for a card the till reads, else why it does not (a payment card, a bad check digit)."""
    read = parse_card(card, loyalty_prefixes=prefixes)
    if not read.ok:
        return scrub(read.error or "bad card")
    return ("card", read.card_number or "")


def _line(amount_text: str, qty_field: str, sku_field: str, products: Products) -> Line:
    amount = _amount(amount_text)
    qty_text = qty_field.strip() or "1"
    if not qty_text.isdigit() or len(qty_text) > 7 or not QUANTITY.holds(int(qty_text)):
        raise ValueError(f"qty must be a whole number from 1 to {QUANTITY.high:,}")
    qty = int(qty_text)
    sku = sku_field.strip() or None
    name, category, ean = products.get(sku, (sku or "Imported sale", "general", None)) if sku else (
        "Imported sale", "general", None)
    if amount % qty:
        return Line(name, category, 1, amount, sku, ean)  # a total that does not divide: keep it exact
    return Line(name, category, qty, amount // qty, sku, ean)

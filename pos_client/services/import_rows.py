"""Rows of a sales history file as the importer reads them: where the columns are, and one row to a sale line.

Why a module of its own: this is the per-row half of `import sales` (the importer's is per sale), the part a
100,000-row file runs 100,000 times; what repeats across rows (cards, dates, amounts) is parsed once each.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from functools import lru_cache

from cardread import parse_card
from cardread.read import CardRead
from pos_client.domain.bounds import QUANTITY
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


@lru_cache(maxsize=65536)
def _parse_cached(card: str, prefixes: tuple[str, ...]) -> CardRead:
    """History files repeat the same cards many times: parse each once."""
    return parse_card(card, loyalty_prefixes=prefixes)


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
    for cached in (_when, _parse_cached, _amount):
        cached.cache_clear()


# (amount, qty, sku) as the file wrote them -> the line they make: a catalog's prices times small quantities
# repeat across a history, so each combination is checked and built once per import (the importer's dict).
LineCache = dict[tuple[str, str, str], Line]


def parse_row(row: list[str], cols: Columns, prefixes: tuple[str, ...], products: Products, lines: LineCache
              ) -> tuple[str, tuple[str, str], str, Line, bool]:
    card = row[cols.card].strip() if cols.card >= 0 else ""
    member_id = row[cols.member_id].strip() if cols.member_id >= 0 else ""
    if card:
        read = _parse_cached(card, prefixes)
        if not read.ok:
            raise ValueError(read.error or "bad card")
        member_key = ("card", read.card_number or "")
    elif member_id:
        member_key = ("member", member_id)
    else:
        raise ValueError("no card and no member_id")
    when = row[cols.date].strip()
    if not when:
        raise ValueError("no date")
    created_at = _when(when)
    key = (row[cols.amount], row[cols.qty] if cols.qty >= 0 else "", row[cols.sku] if cols.sku >= 0 else "")
    line = lines.get(key)
    if line is None:
        line = lines[key] = _line(*key, products)
    given = row[cols.sale_id].strip() if cols.sale_id >= 0 else ""
    return given or _derived_id(cols.derived_fields(row)), member_key, created_at, line, not given


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

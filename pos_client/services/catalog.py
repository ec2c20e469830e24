"""The local product catalog: products scanned by EAN, priced in cents.

A product's EAN must be a real GTIN (EAN-13, EAN-8 or UPC-A with its check digit): one with a wrong
check digit could never be scanned, and a keyed one would be a typo sold under the wrong code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from cardread.barcode import gtin_valid, is_gtin_shape, normalise_gtin
from pos_client.domain.errors import NotFound, RefusedInput, UsageError
from pos_client.domain.money import MAX_AMOUNT_CENTS
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn


@dataclass(frozen=True)
class Product:
    sku: str
    ean: str | None
    name: str
    category: str
    price_cents: int


def check_product(p: Product) -> Product:
    """The product if it can be sold: a SKU, a name, a price in range and, when given, a valid EAN."""
    if not p.sku or not p.sku.strip():
        raise UsageError("a product needs a SKU")
    if not p.name or not p.name.strip():
        raise UsageError(f"product {p.sku}: a product needs a name")
    if not 0 <= int(p.price_cents) <= MAX_AMOUNT_CENTS:
        raise UsageError(f"product {p.sku}: price out of range")
    if p.ean:
        if not is_gtin_shape(p.ean):
            raise RefusedInput(f"product {p.sku}: EAN {p.ean!r} is not an EAN-13, EAN-8 or UPC-A (8, 12 or 13 digits)")
        if not gtin_valid(p.ean):
            raise RefusedInput(f"product {p.sku}: EAN {p.ean} has a wrong check digit")
    return p


def upsert_products(ctx: TillContext, products: Iterable[Product]) -> int:
    """Insert or update products in one transaction (catalog load); one bad product refuses them all."""
    n = 0
    ts = now_iso()
    with write_txn(ctx.conn):
        for p in map(check_product, products):
            ctx.conn.execute(
                "INSERT INTO products (sku, ean, name, category, price_cents, updated_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(sku) DO UPDATE SET ean=excluded.ean, name=excluded.name, category=excluded.category,"
                " price_cents=excluded.price_cents, updated_at=excluded.updated_at",
                (p.sku, normalise_gtin(p.ean) if p.ean else None, p.name, p.category, int(p.price_cents), ts),
            )
            n += 1
    return n


def _row(row: sqlite3.Row) -> Product:
    return Product(row["sku"], row["ean"], row["name"], row["category"], int(row["price_cents"]))


def by_ean(ctx: TillContext, ean: str) -> Product:
    row = ctx.conn.execute("SELECT * FROM products WHERE ean = ?", (normalise_gtin(ean.strip()),)).fetchone()
    if row is None:
        raise NotFound(f"unknown product {ean}")
    return _row(row)


def by_sku_or_ean(ctx: TillContext, code: str) -> Product:
    row = ctx.conn.execute("SELECT * FROM products WHERE sku = ?", (code,)).fetchone()
    return _row(row) if row else by_ean(ctx, code)


def list_products(ctx: TillContext, query: str | None = None) -> list[Product]:
    """The catalog by SKU; `query` keeps products whose SKU, EAN, name or category contains it."""
    if not query:
        rows = ctx.conn.execute("SELECT * FROM products ORDER BY sku")
    else:
        like = "%" + query.strip().replace("%", "").replace("_", "") + "%"
        rows = ctx.conn.execute("SELECT * FROM products WHERE sku LIKE ? OR ean LIKE ? OR name LIKE ?"
                                " OR category LIKE ? ORDER BY sku", (like, like, like, like))
    return [_row(r) for r in rows]

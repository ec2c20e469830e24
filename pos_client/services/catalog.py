"""The local product catalog: products scanned by EAN, priced in cents."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cardread.barcode import normalise_gtin
from pos_client.domain.errors import NotFound
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn


@dataclass(frozen=True)
class Product:
    sku: str
    ean: str | None
    name: str
    category: str
    price_cents: int


def upsert_products(ctx: TillContext, products: Iterable[Product]) -> int:
    """Insert or update products in one transaction (catalog load, head-office pull)."""
    n = 0
    ts = now_iso()
    with write_txn(ctx.conn):
        for p in products:
            ctx.conn.execute(
                "INSERT INTO products (sku, ean, name, category, price_cents, updated_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(sku) DO UPDATE SET ean=excluded.ean, name=excluded.name, category=excluded.category,"
                " price_cents=excluded.price_cents, updated_at=excluded.updated_at",
                (p.sku, normalise_gtin(p.ean) if p.ean else None, p.name, p.category, int(p.price_cents), ts),
            )
            n += 1
    return n


def _row(row) -> Product:
    return Product(row["sku"], row["ean"], row["name"], row["category"], int(row["price_cents"]))


def by_ean(ctx: TillContext, ean: str) -> Product:
    row = ctx.conn.execute("SELECT * FROM products WHERE ean = ?", (normalise_gtin(ean.strip()),)).fetchone()
    if row is None:
        raise NotFound(f"unknown product {ean}")
    return _row(row)


def by_sku_or_ean(ctx: TillContext, code: str) -> Product:
    row = ctx.conn.execute("SELECT * FROM products WHERE sku = ?", (code,)).fetchone()
    return _row(row) if row else by_ean(ctx, code)

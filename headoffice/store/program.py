"""The loyalty program head office sets for every till: rules (JSON values) and the product list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from headoffice.store.db import Db, marks
from headoffice.store.feed import ChangeFeed

PRODUCT_COLUMNS = ("sku", "ean", "name", "category", "price_cents")


class Program:
    """The `rules` and `products` tables; every change goes out on the feed."""

    def __init__(self, db: Db, feed: ChangeFeed) -> None:
        self._db = db
        self._feed = feed

    def set_rule(self, key: str, value: Any) -> None:
        with self._db.write():
            self._db.execute("INSERT INTO rules (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                             " SET value = excluded.value", (key, json.dumps(value)))
            self._feed.record("rule", [key])

    def upsert_products(self, products: list[dict[str, Any]]) -> int:
        """Add or replace products by sku; prices are integer cents, checked before anything is written."""
        rows = []
        for p in products:
            price = p["price_cents"]
            if not isinstance(price, int) or isinstance(price, bool) or price < 0:
                raise ValueError(f"product {p.get('sku')}: price_cents must be a non-negative integer")
            rows.append((str(p["sku"]), p.get("ean"), str(p["name"]), str(p.get("category", "general")), price))
        with self._db.write():
            self._db.executemany(
                "INSERT INTO products (sku, ean, name, category, price_cents) VALUES (?,?,?,?,?) ON CONFLICT (sku)"
                " DO UPDATE SET ean = excluded.ean, name = excluded.name, category = excluded.category,"
                " price_cents = excluded.price_cents", rows)
            self._feed.record("product", [r[0] for r in rows])
        return len(rows)

    def load_rules(self, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """Rules by key, as a pull sends them (value decoded)."""
        rows = self._db.execute(f"SELECT key, value FROM rules WHERE key IN ({marks(len(keys))})", keys)
        return [(r[0], {"key": r[0], "value": json.loads(r[1])}) for r in rows]

    def load_products(self, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """Products by sku, as a pull sends them."""
        rows = self._db.execute(f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products"
                                f" WHERE sku IN ({marks(len(keys))})", keys)
        return [(r[0], {"sku": r[0], "ean": r[1], "name": r[2], "category": r[3], "price_cents": int(r[4])})
                for r in rows]

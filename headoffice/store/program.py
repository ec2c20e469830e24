"""The loyalty program head office sets for every till: rules (JSON values) and the product list.

Every rule published is a new program version (`program_versions`: the value, who, when, why), stamped on the
rule so tills pull it with the rule and report back the highest version they applied.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from headoffice.store.db import Db, marks, now_iso
from headoffice.store.feed import ChangeFeed

PRODUCT_COLUMNS = ("sku", "ean", "name", "category", "price_cents")


class Program:
    """The `rules` and `products` tables; every change goes out on the feed."""

    def __init__(self, db: Db, feed: ChangeFeed) -> None:
        self._db = db
        self._feed = feed

    def set_rule(self, key: str, value: Any, *, by: str = "headoffice", reason: str = "") -> int:
        """Publish one rule: the next program version, kept with its value, who and why (one transaction)."""
        text = json.dumps(value)
        with self._db.write():
            version = int(self._db.value("SELECT COALESCE(MAX(version), 0) FROM program_versions")) + 1
            self._db.execute("INSERT INTO program_versions (version, rule_key, value, published_at, published_by,"
                             " reason) VALUES (?, ?, ?, ?, ?, ?)", (version, key, text, now_iso(), by, reason))
            self._db.execute("INSERT INTO rules (key, value, version) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                             " SET value = excluded.value, version = excluded.version", (key, text, version))
            self._feed.record("rule", [key])
        return version

    def rules(self) -> dict[str, Any]:
        """Every rule head office sets, by key (a few rows: the console's program page)."""
        with self._db.read():
            rows = self._db.execute("SELECT key, value FROM rules ORDER BY key")
        return {r[0]: json.loads(r[1]) for r in rows}

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        """The published versions, newest first (the console's program page)."""
        with self._db.read():
            rows = self._db.execute("SELECT version, rule_key, value, published_at, published_by, reason"
                                    " FROM program_versions ORDER BY version DESC LIMIT ?", (limit,))
        keys = ("version", "key", "value", "published_at", "published_by", "reason")
        return [dict(zip(keys, r, strict=True)) | {"version": int(r[0]), "value": json.loads(r[2])} for r in rows]

    def record_pull(self, store_id: str, till_id: str, acked: int, served: int) -> None:
        """A till asked for changes after `acked` (so it applied them) and was sent through `served`."""
        with self._db.note():
            self._db.execute(
                "INSERT INTO till_pulls (store_id, till_id, acked, served, pulled_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (store_id, till_id) DO UPDATE SET acked = excluded.acked,"
                " served = excluded.served, pulled_at = excluded.pulled_at",
                (store_id, till_id, acked, served, now_iso()))

    def rule_versions(self) -> dict[str, Any]:
        """The program's version and where each till stands.

        A till that reports the version it applied (`X-Till-Program`, kept in `till_reports.program_version`)
        is "current" once that reaches the program's version. For a till that does not report it, the feed
        position of the latest rule change stands in: it "has" the rules once it asks for changes after
        them (it applied them); "sent" means they went out in its last pull but the till has not confirmed.
        """
        with self._db.read():
            version = int(self._db.value("SELECT COALESCE(MAX(version), 0) FROM program_versions"))
            feed_at = int(self._db.value("SELECT COALESCE(MAX(server_seq), 0) FROM feed WHERE entity = 'rule'"))
            rows = self._db.execute(
                "SELECT t.store_id, t.till_id, p.acked, p.served, p.pulled_at, r.program_version FROM tills t"
                " LEFT JOIN till_pulls p ON p.store_id = t.store_id AND p.till_id = t.till_id"
                " LEFT JOIN till_reports r ON r.store_id = t.store_id AND r.till_id = t.till_id"
                " WHERE t.role = 'till' ORDER BY t.store_id, t.till_id")
        tills = []
        for store_id, till_id, acked, served, pulled_at, applied in rows:
            confirmed = int(applied) >= version if applied is not None else acked is not None and int(acked) >= feed_at
            state = ("current" if confirmed else
                     "sent" if served is not None and int(served) >= feed_at else
                     "never pulled" if acked is None else "behind")
            tills.append({"store_id": store_id, "till_id": till_id, "acked": acked, "served": served,
                          "pulled_at": pulled_at, "applied": None if applied is None else int(applied),
                          "state": state})
        return {"version": version, "tills": tills}

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
        rows = self._db.execute(f"SELECT key, value, version FROM rules WHERE key IN ({marks(len(keys))})", keys)
        return [(r[0], {"key": r[0], "value": json.loads(r[1]), "version": int(r[2])}) for r in rows]

    def load_products(self, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """Products by sku, as a pull sends them."""
        rows = self._db.execute(f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products"
                                f" WHERE sku IN ({marks(len(keys))})", keys)
        return [(r[0], {"sku": r[0], "ean": r[1], "name": r[2], "category": r[3], "price_cents": int(r[4])})
                for r in rows]

"""Head office's cross-aggregate reports: overdrafts, quarantined records, counts, and table exports."""

from __future__ import annotations

import json
from typing import Any

from headoffice.store.db import Db

EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "members": ("member_id", "store_id", "name", "phone", "email", "status", "merged_into", "consent", "created_at",
                "updated_at"),
    "cards": ("card_number", "member_id", "source", "status", "replaced_by", "created_at", "updated_at"),
    "sales": ("sale_id", "store_id", "till_id", "member_id", "total_cents", "tender", "points_earned", "operator",
              "created_at", "lines"),
    "ledger": ("entry_id", "member_id", "store_id", "till_id", "seq", "kind", "points", "sale_id", "amount_cents",
               "created_at", "operator", "reason", "ref"),
    "rules": ("key", "value"),
    "coupon_uses": ("use_id", "code", "store_id", "till_id", "sale_id", "used_at"),
    "offer_targets": ("offer_id", "sale_id", "member_id", "grp", "holdout_bp", "window_days", "coupon_code",
                      "store_id", "till_id", "day", "at"),
    "tier_changes": ("change_key", "store_id", "till_id", "row_no", "member_id", "tier", "prev_tier", "since",
                     "reason", "sale_id", "created_at"),
}

COUNTED = ("ledger", "members", "cards", "sales", "rejects", "feed", "till_keys", "coupon_uses", "erasures",
           "offer_targets", "tier_changes")


class Reports:
    """Read-only views for administrators and the marketing reports' snapshot."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def overdraft_report(self) -> list[dict[str, Any]]:
        """Members whose head-office balance went negative, with the redemptions that did it."""
        db = self._db
        with db.read():
            rows = db.execute("SELECT b.member_id, b.points, m.store_id FROM balances b"
                              " LEFT JOIN members m ON m.member_id = b.member_id WHERE b.points < 0"
                              " ORDER BY b.points, b.member_id")
            out = []
            for member_id, points, store_id in rows:
                redemptions = [
                    {"entry_id": r[0], "store_id": r[1], "till_id": r[2], "points": int(r[3]), "created_at": r[4],
                     "received_at": r[5]}
                    for r in db.execute(
                        "SELECT entry_id, store_id, till_id, points, created_at, received_at FROM ledger"
                        " WHERE member_id = ? AND kind = 'redeem' ORDER BY server_seq", (member_id,))]
                out.append({"member_id": member_id, "balance": int(points), "home_store": store_id,
                            "redemptions": redemptions})
        return out

    def rejects(self) -> list[dict[str, Any]]:
        """Quarantined malformed records with their reasons."""
        with self._db.read():
            rows = self._db.execute("SELECT store_id, till_id, type, seq, reasons, raw, received_at FROM rejects"
                                    " ORDER BY received_at, rkey")
        return [{"store_id": r[0], "till_id": r[1], "type": r[2], "seq": r[3], "reasons": json.loads(r[4]),
                 "raw": r[5], "received_at": r[6]} for r in rows]

    def counts(self) -> dict[str, int]:
        """Row counts, and points in the ledger against points in balances (they must agree)."""
        db = self._db
        with db.read():
            out = {table: int(db.value(f"SELECT COUNT(*) FROM {table}")) for table in COUNTED}
            out["points_total"] = int(db.value("SELECT COALESCE(SUM(points), 0) FROM ledger"))
            out["balance_total"] = int(db.value("SELECT COALESCE(SUM(points), 0) FROM balances"))
        return out

    def export_rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of one of the program's tables, as dicts (head-office marketing reports)."""
        cols = EXPORT_COLUMNS.get(table)
        if cols is None:
            raise ValueError(f"not an exportable table: {table}")
        with self._db.read():
            rows = self._db.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {cols[0]}")
        return [dict(zip(cols, r, strict=True)) for r in rows]

"""What a till restored from a backup gets back: its own entries and sales as head office holds them.

The pull never sends a till its own entries (it wrote them); after a restore from an old backup the
till no longer has the ones it pushed after that backup, so it asks here for its entries above the
highest seq it still holds and for its sales after the newest one it still holds, and learns its high
seq at head office so its next entry is numbered past it.
"""

from __future__ import annotations

import json

from headoffice.store.base import Principal
from headoffice.store.db import Db
from wire.batches import RecoverPage
from wire.protocol import LEDGER_COLUMNS, LedgerRecord, SaleLine, SaleRecord

MAX_LIMIT = 5000
_SALE_COLUMNS = ("sale_id", "store_id", "till_id", "member_id", "total_cents", "tender", "points_earned",
                 "operator", "created_at", "lines")


class Recover:
    """Reads `ledger`, `sales` and `tills` for one till (paged by seq and by (created_at, sale_id))."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def recover(self, principal: Principal, after_seq: int, sales_after: str = "", sales_after_id: str = "",
                limit: int = 1000) -> RecoverPage:
        limit = max(1, min(int(limit), MAX_LIMIT))
        who = (principal.store_id, principal.till_id)
        db = self._db
        with db.read():
            row = db.one("SELECT high_seq FROM tills WHERE store_id = ? AND till_id = ?", who)
            entries = db.execute(
                f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?", (*who, int(after_seq), limit))
            sales = db.execute(
                f"SELECT {', '.join(_SALE_COLUMNS)} FROM sales WHERE store_id = ? AND till_id = ?"
                " AND (created_at > ? OR (created_at = ? AND sale_id > ?)) ORDER BY created_at, sale_id LIMIT ?",
                (*who, sales_after, sales_after, sales_after_id, limit))
        return RecoverPage(
            entries=[LedgerRecord(**dict(zip(LEDGER_COLUMNS, r, strict=True))) for r in entries],
            sales=[_sale(r) for r in sales], high_seq=int(row[0]) if row else 0,
            more=len(entries) == limit or len(sales) == limit)


def _sale(row: tuple[object, ...]) -> SaleRecord:
    data = dict(zip(_SALE_COLUMNS, row, strict=True))
    lines = [SaleLine(**li) for li in json.loads(str(data.pop("lines") or "[]"))]
    return SaleRecord(**data, lines=lines)  # type: ignore[arg-type]

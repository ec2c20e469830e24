"""`idx_ledger_created` made covering for the points-liability report: (created_at, member_id, kind, points).

The report reads the ledger's rows of the part months at its window's ends (`services.marketing.liability`):
about 280k rows at chain scale, dated together but lying all over the table, each a page read of its own
through the old index. With kind and points in the index they are read from it alone, in date order. Same
name and same leading columns: the expiry pass's lookups by date (m0450) use it as before, and a sale still
pays one index on this date (no new index: the same count of index writes per ledger row).
"""

from __future__ import annotations

import sqlite3

DDL = (
    "DROP INDEX IF EXISTS idx_ledger_created",
    "CREATE INDEX idx_ledger_created ON ledger(created_at, member_id, kind, points)",
)


def apply(db: sqlite3.Connection) -> None:
    for statement in DDL:
        db.execute(statement)

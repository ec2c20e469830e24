"""The day's upkeep at a million members: where yesterday's expiry pass stopped, and the ledger by date.

`upkeep_runs.ledger_mark` (the ledger's last rowid when the day's expiry pass began) and `expiry_rule`
(the rule it ran under) let the next day's pass look only at the members whose points could have come
due since (`expiry.run_expiry`): entries dated in the day's window twelve months back, found through
`idx_ledger_created`, and entries written since the mark. A day recorded without them (before this
migration, or by the importer's replay) makes the next pass a full one.
"""

from __future__ import annotations

import sqlite3

DDL = (
    "ALTER TABLE upkeep_runs ADD COLUMN ledger_mark INTEGER",
    "ALTER TABLE upkeep_runs ADD COLUMN expiry_rule TEXT",
    "CREATE INDEX IF NOT EXISTS idx_ledger_created ON ledger(created_at, member_id)",
)


def apply(db: sqlite3.Connection) -> None:
    for statement in DDL:
        db.execute(statement)

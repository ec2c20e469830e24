"""The day's upkeep (expiry, tier review, lifecycle stages): one row per day it ran.

Upkeep runs for a day once: a catch-up starts the day after the last row, and `pos-client upkeep
--status` reads what ran when from here. Rows are never updated or deleted, like the ledger.
"""

from __future__ import annotations

import sqlite3

DDL = (
    """CREATE TABLE upkeep_runs (
    day             TEXT PRIMARY KEY,
    source          TEXT NOT NULL,
    expired_members INTEGER NOT NULL DEFAULT 0,
    expired_points  INTEGER NOT NULL DEFAULT 0,
    tier_changes    INTEGER NOT NULL DEFAULT 0,
    stage_changes   INTEGER NOT NULL DEFAULT 0,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL
)""",
    "CREATE TRIGGER upkeep_runs_no_update BEFORE UPDATE ON upkeep_runs"
    " BEGIN SELECT RAISE(ABORT, 'upkeep_runs is append-only'); END",
    "CREATE TRIGGER upkeep_runs_no_delete BEFORE DELETE ON upkeep_runs"
    " BEGIN SELECT RAISE(ABORT, 'upkeep_runs is append-only'); END",
)


def apply(db: sqlite3.Connection) -> None:
    for statement in DDL:
        db.execute(statement)

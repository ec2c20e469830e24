"""Devices: the reprint queue. A receipt that did not print waits here; the sale itself is never touched."""

from __future__ import annotations

import sqlite3

DDL = (
    """CREATE TABLE print_jobs (
    job_id     TEXT PRIMARY KEY,
    sale_id    TEXT NOT NULL,
    kind       TEXT NOT NULL DEFAULT 'receipt',
    data       BLOB,
    status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','printed','failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    printed_at TEXT
)""",
    "CREATE INDEX idx_print_jobs_status ON print_jobs(status, created_at)",
    "CREATE INDEX idx_print_jobs_sale ON print_jobs(sale_id)",
)


def apply(db: sqlite3.Connection) -> None:
    for statement in DDL:
        db.execute(statement)

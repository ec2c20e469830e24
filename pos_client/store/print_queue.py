"""The reprint queue: every receipt is a job first, then printed; a failed print waits here.

A job holds the ESC/POS bytes (or none, to be rendered again from the sale), its status
(pending -> printed, or failed when given up), the number of attempts and the last reason,
in words the app can show ("printer out of paper"). Writes are single transactions.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from pos_client.domain.errors import NotFound
from pos_client.store.db import now_iso, write_txn


@dataclass(frozen=True)
class PrintJob:
    job_id: str
    sale_id: str
    kind: str
    data: bytes | None
    status: str
    attempts: int
    last_error: str | None
    created_at: str
    updated_at: str
    printed_at: str | None

    def public(self) -> dict[str, Any]:
        """For screens and --json: everything but the bytes."""
        return {"job_id": self.job_id, "sale_id": self.sale_id, "kind": self.kind, "status": self.status,
                "attempts": self.attempts, "last_error": self.last_error, "bytes": len(self.data or b""),
                "created_at": self.created_at, "printed_at": self.printed_at}


def _job(row: sqlite3.Row) -> PrintJob:
    data = row["data"]
    return PrintJob(row["job_id"], row["sale_id"], row["kind"], bytes(data) if data is not None else None,
                    row["status"], int(row["attempts"]), row["last_error"], row["created_at"], row["updated_at"],
                    row["printed_at"])


def enqueue(conn: sqlite3.Connection, sale_id: str, data: bytes | None, kind: str = "receipt",
            reason: str | None = None) -> PrintJob:
    """Record a receipt to print (before any printer I/O, so a crash mid-print loses nothing)."""
    job_id, ts = uuid.uuid4().hex, now_iso()
    with write_txn(conn):
        conn.execute(
            "INSERT INTO print_jobs (job_id, sale_id, kind, data, status, attempts, last_error, created_at,"
            " updated_at) VALUES (?,?,?,?, 'pending', 0, ?, ?, ?)",
            (job_id, sale_id, kind, data, reason, ts, ts))
    return get(conn, job_id)


def get(conn: sqlite3.Connection, job_id: str) -> PrintJob:
    row = conn.execute("SELECT * FROM print_jobs WHERE job_id = ?", (job_id,)).fetchone()
    if row is None:
        raise NotFound(f"no print job {job_id}")
    return _job(row)


def set_data(conn: sqlite3.Connection, job_id: str, data: bytes) -> None:
    with write_txn(conn):
        conn.execute("UPDATE print_jobs SET data = ?, updated_at = ? WHERE job_id = ?", (data, now_iso(), job_id))


def mark_printed(conn: sqlite3.Connection, job_id: str) -> None:
    ts = now_iso()
    with write_txn(conn):
        conn.execute("UPDATE print_jobs SET status = 'printed', attempts = attempts + 1, last_error = NULL,"
                     " updated_at = ?, printed_at = ? WHERE job_id = ?", (ts, ts, job_id))


def mark_failed(conn: sqlite3.Connection, job_id: str, reason: str, *, final: bool = False) -> None:
    """Count a failed attempt; the job stays pending (to retry) unless `final` gives it up."""
    with write_txn(conn):
        conn.execute("UPDATE print_jobs SET status = ?, attempts = attempts + 1, last_error = ?, updated_at = ?"
                     " WHERE job_id = ?", ("failed" if final else "pending", reason, now_iso(), job_id))


def pending(conn: sqlite3.Connection, limit: int = 100) -> list[PrintJob]:
    """Jobs still to print, oldest first (the order the receipts were due)."""
    rows = conn.execute("SELECT * FROM print_jobs WHERE status = 'pending' ORDER BY created_at, rowid LIMIT ?",
                        (limit,))
    return [_job(r) for r in rows]


def pending_for_sale(conn: sqlite3.Connection, sale_id: str, kind: str | None = None) -> PrintJob | None:
    sql = "SELECT * FROM print_jobs WHERE sale_id = ? AND status = 'pending'"
    args: tuple[str, ...] = (sale_id,)
    if kind:
        sql, args = sql + " AND kind = ?", (sale_id, kind)
    row = conn.execute(sql + " ORDER BY created_at LIMIT 1", args).fetchone()
    return _job(row) if row else None


def jobs_for_sale(conn: sqlite3.Connection, sale_id: str) -> list[PrintJob]:
    rows = conn.execute("SELECT * FROM print_jobs WHERE sale_id = ? ORDER BY created_at, rowid", (sale_id,))
    return [_job(r) for r in rows]

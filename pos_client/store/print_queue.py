"""The reprint queue: every receipt is a job first, then printed; a failed print waits here.

A job holds the ESC/POS bytes (or none, to be rendered again from the sale), its status
(pending -> printed, or failed when given up), the number of attempts and the last reason,
in words the app can show ("printer out of paper"). Writes are single transactions.

The app's printer worker uses the till's own connection (`till.devices` says why), from its own thread. So every
function here runs under the connection's `write_lock` (`store.db.write_txn` for the writes, the lock alone for the
reads, which are fetched whole before it is released): a sale on the app's thread never shares a transaction with
a queue write, and never begins while a read of the printer's is still stepping (that read would hold the
connection at an older snapshot and the sale's BEGIN IMMEDIATE would fail at once, SQLITE_BUSY_SNAPSHOT).
The reverse, a read of the app's still stepping when the printer's write begins, is waited out (`write_txn`).
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import AbstractContextManager, nullcontext
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


def locked(conn: sqlite3.Connection) -> AbstractContextManager[object]:
    """The connection's `write_lock` (nothing for a connection without one): held, no sale begins on it."""
    lock = getattr(conn, "write_lock", None)
    return lock if lock is not None else nullcontext()


def enqueue(conn: sqlite3.Connection, sale_id: str, data: bytes | None, kind: str = "receipt",
            reason: str | None = None) -> PrintJob:
    """Record a receipt to print (before any printer I/O, so a crash mid-print loses nothing); the job as written."""
    job_id, ts = uuid.uuid4().hex, now_iso()
    with write_txn(conn):
        conn.execute(
            "INSERT INTO print_jobs (job_id, sale_id, kind, data, status, attempts, last_error, created_at,"
            " updated_at) VALUES (?,?,?,?, 'pending', 0, ?, ?, ?)",
            (job_id, sale_id, kind, data, reason, ts, ts))
    return PrintJob(job_id, sale_id, kind, data, "pending", 0, reason, ts, ts, None)


def get(conn: sqlite3.Connection, job_id: str) -> PrintJob:
    with locked(conn):
        row = conn.execute("SELECT * FROM print_jobs WHERE job_id = ?", (job_id,)).fetchall()
    if not row:
        raise NotFound(f"no print job {job_id}")
    return _job(row[0])


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
    with locked(conn):
        rows = conn.execute("SELECT * FROM print_jobs WHERE status = 'pending' ORDER BY created_at, rowid LIMIT ?",
                            (limit,)).fetchall()
    return [_job(r) for r in rows]


def pending_for_sale(conn: sqlite3.Connection, sale_id: str, kind: str | None = None) -> PrintJob | None:
    sql = "SELECT * FROM print_jobs WHERE sale_id = ? AND status = 'pending'"
    args: tuple[str, ...] = (sale_id,)
    if kind:
        sql, args = sql + " AND kind = ?", (sale_id, kind)
    with locked(conn):
        rows = conn.execute(sql + " ORDER BY created_at LIMIT 1", args).fetchall()
    return _job(rows[0]) if rows else None


def jobs_for_sale(conn: sqlite3.Connection, sale_id: str) -> list[PrintJob]:
    with locked(conn):
        rows = conn.execute("SELECT * FROM print_jobs WHERE sale_id = ? ORDER BY created_at, rowid",
                            (sale_id,)).fetchall()
    return [_job(r) for r in rows]

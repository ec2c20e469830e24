"""What every soak check asserts of a till after the abuse: sound file, balances, whole sales."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def integrity_ok(db_path: Path) -> None:
    """SQLite's full integrity check on the file itself, on a connection of its own."""
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def balances_equal_ledger(conn: sqlite3.Connection) -> None:
    """Every balance equals the sum of its member's ledger rows and its opening balance's rows (a first
    pull's snapshot, then each balance head office sent)."""
    bad = conn.execute(
        "SELECT member_id, points, total FROM (SELECT b.member_id, b.points,"
        " COALESCE((SELECT SUM(points) FROM ledger l WHERE l.member_id = b.member_id), 0)"
        " + COALESCE((SELECT SUM(points) FROM opening_balances o WHERE o.member_id = b.member_id), 0) AS total"
        " FROM balances b) WHERE points != total").fetchall()
    assert [tuple(r) for r in bad] == []


def sales_whole(conn: sqlite3.Connection, store_id: str, till_id: str) -> None:
    """No half-written sale: lines add up to the total, earned points are in the ledger, no orphans.

    A sale's points_earned is its earn and offer-bonus entries; a tier's bonus (reason `tier:...`)
    rides on the sale that crossed the threshold but is not part of what the sale earned. Entries
    pulled from other tills come without their sales: only this till's own entries must have theirs.
    """
    no_lines = conn.execute("SELECT s.sale_id FROM sales s LEFT JOIN sale_lines l ON l.sale_id = s.sale_id"
                            " WHERE l.sale_id IS NULL").fetchall()
    assert [tuple(r) for r in no_lines] == []
    totals = conn.execute("SELECT s.sale_id FROM sales s JOIN sale_lines l ON l.sale_id = s.sale_id"
                          " GROUP BY s.sale_id HAVING SUM(l.amount_cents) != MAX(s.total_cents)").fetchall()
    assert [tuple(r) for r in totals] == []
    points = conn.execute(
        "SELECT s.sale_id, s.points_earned, (SELECT COALESCE(SUM(points), 0) FROM ledger e WHERE e.sale_id = s.sale_id"
        " AND (e.kind = 'earn' OR (e.kind = 'bonus' AND COALESCE(e.reason, '') NOT LIKE 'tier:%')))"
        " AS booked FROM sales s WHERE s.member_id IS NOT NULL"
        " AND s.points_earned != booked").fetchall()
    assert [tuple(r) for r in points] == []
    orphan_lines = conn.execute("SELECT COUNT(*) FROM sale_lines WHERE sale_id NOT IN (SELECT sale_id FROM sales)")
    assert orphan_lines.fetchone()[0] == 0
    orphan_entries = conn.execute("SELECT COUNT(*) FROM ledger WHERE sale_id IS NOT NULL AND sale_id != ''"
                                  " AND store_id = ? AND till_id = ? AND sale_id NOT IN (SELECT sale_id FROM sales)",
                                  (store_id, till_id))
    assert orphan_entries.fetchone()[0] == 0

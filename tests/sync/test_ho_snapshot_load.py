"""Head office's marketing snapshot built by SQL (`headoffice.snapshot_load`, a SQLite head office) holds the
same rows, in the same order, as the row-by-row build (`export_rows`, what a PostgreSQL head office uses),
on a chain synced by real tills plus the odd rows a push may leave (consent values, missing card dates and
tenders, sale lines with and without points, tier changes on one day, a coupon use sent twice)."""

from __future__ import annotations

import json
import sqlite3

from headoffice import snapshot_load
from headoffice.marketing_reports import HO_REPORTS, snapshot
from pos_client.services.marketing.reports import run_report
from tests.sync.test_headoffice_upkeep import OPTIONS, chain

TS = "2026-03-02T10:00:00.000000+00:00"
COMPARED = (*snapshot_load.TABLES, "redemptions", "member_purchase_days")


class RowsOnly:
    """Head office seen only through `export_rows` (no file to attach): the row-by-row build."""

    def __init__(self, store) -> None:
        self.export_rows = store.export_rows


def odd_rows(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    consent = json.dumps({"email": True, "sms": False, "post": None, "push": 1, "app": "", "web": "yes"})
    conn.execute("INSERT INTO members (member_id, store_id, name, phone, email, status, merged_into, consent,"
                 " created_at, updated_at, received_at) VALUES ('mx', 'S9', 'Odd', NULL, NULL, 'merged', 'my', ?,"
                 " ?, ?, ?), ('my', 'S9', 'Even', '+3312', NULL, 'active', NULL, '', ?, ?, ?)",
                 (consent, TS, TS, TS, TS, TS, TS))
    conn.execute("INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at, updated_at)"
                 " VALUES ('9990001', 'mx', 'barcode', 'lost', '9990002', NULL, ?),"
                 " ('9990002', 'my', 'nfc', 'active', NULL, '', ?)", (TS, TS))
    lines = json.dumps([{"line_no": 1, "sku": "A1", "ean": "123", "name": "Tea", "category": "food", "qty": 2,
                         "unit_cents": 250, "amount_cents": 500, "points": 5},
                        {"line_no": 2, "name": "Keyed", "category": "misc", "qty": 1, "unit_cents": 90,
                         "amount_cents": 90}])
    conn.execute("INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned,"
                 " operator, created_at, received_at, lines) VALUES ('sx1', 'S9', 'T1', 'my', 590, NULL, 5, NULL,"
                 " ?, ?, ?), ('sx0', 'S9', 'T1', NULL, 100, '', 0, 'op', ?, ?, '')", (TS, TS, lines, TS, TS))
    for use_id in ("u2", "u1"):  # the same use sent twice: the till's table keeps the first in use-id order
        conn.execute("INSERT INTO coupon_uses (use_id, code, store_id, till_id, sale_id, used_at, received_at)"
                     " VALUES (?, 'C1', 'S9', 'T1', 'sx1', ?, ?)", (use_id, f"{TS}{use_id}", TS))
    for key, row_no, tier in (("k2", 2, "gold"), ("k1", 1, "silver"), ("k3", 1, "bronze")):
        conn.execute("INSERT INTO tier_changes (change_key, store_id, till_id, row_no, member_id, tier, prev_tier,"
                     " since, reason, sale_id, created_at, received_at) VALUES (?, 'S9', 'T1', ?, 'my', ?, NULL,"
                     " '2026-03-02', 'sale', 'sx1', ?, ?)", (key, row_no, tier, TS, TS))
    conn.execute("INSERT INTO offer_targets (offer_id, member_id, sale_id, grp, holdout_bp, window_days, coupon_code,"
                 " store_id, till_id, day, at, received_at) VALUES ('o1', 'my', 'sx1', 'treated', 1000, 14, 'C1',"
                 " 'S9', 'T1', '2026-03-02', ?, ?)", (TS, TS))
    conn.close()


def rows_of(ctx, table: str) -> list[tuple]:
    return [tuple(r) for r in ctx.conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]


def test_sql_snapshot_has_the_rows_of_the_row_by_row_build(make_till, ho_store, headoffice, tmp_path):
    chain(make_till, ho_store, headoffice)
    odd_rows(ho_store.path)
    by_sql = snapshot(ho_store, tmp_path / "sql.db")
    by_rows = snapshot(RowsOnly(ho_store), tmp_path / "rows.db")
    try:
        for table in COMPARED:
            ours = rows_of(by_sql, table)
            assert ours == rows_of(by_rows, table), table
            assert ours or table in ("redemptions",), table  # every table has something to compare
        balances = "SELECT member_id, points FROM balances ORDER BY rowid"
        assert by_sql.conn.execute(balances).fetchall() == by_rows.conn.execute(balances).fetchall()
        indexes = ("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name <> 'ho_snapshot_meta'"
                   " ORDER BY name")  # the SQL build also keeps how far it read head office
        assert by_sql.conn.execute(indexes).fetchall() == by_rows.conn.execute(indexes).fetchall()
        assert by_sql.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        granted = [r[0] for r in by_sql.conn.execute("SELECT granted FROM member_consent WHERE member_id = 'mx'"
                                                     " ORDER BY rowid")]
        assert granted == [1, 0, 0, 1, 0, 1]  # Python's bool() of true, false, null, 1, "" and "yes"
        assert [tuple(r) for r in by_sql.conn.execute("SELECT use_id FROM coupon_uses WHERE code = 'C1'")] == [("u1",)]
        assert [r[0] for r in by_sql.conn.execute("SELECT tier FROM member_tiers WHERE member_id = 'my'"
                                                  " ORDER BY rowid")] == ["silver", "bronze", "gold"]
        for name in HO_REPORTS:  # and every report reads the same figures off either
            assert run_report(by_sql, name, **OPTIONS) == run_report(by_rows, name, **OPTIONS), name
    finally:
        by_sql.close()
        by_rows.close()

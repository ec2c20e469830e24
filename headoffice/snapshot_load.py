"""Head office's marketing snapshot filled by SQL from a SQLite head office (ATTACH + INSERT ... SELECT).

Why: copying the chain as Python rows (`Store.export_rows` then `executemany`) cost ~77 s at 10k members
and hours at a million; here SQLite moves every row itself, reading the head-office file opened read-only
inside the snapshot's one write transaction (one consistent read of head office while tills push), and the
snapshot's indexes are dropped before the load and created after it (one sort each instead of ten million
B-tree inserts). Sales and ledger are read in their table's order and sorted (`ORDER BY +id`: the `+` keeps
SQLite from walking head office's id index, one random page read per row: 32 s against 24 s at 1M entries).
Each statement reproduces `marketing_reports._load_rows` exactly (same columns, same
defaults, same row order): tests/sync/test_ho_snapshot_load.py compares the two builds table by table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# Page cache while loading, in KiB (negative: a size, not pages): the ledger's unique (store, till, seq) index is
# filled in entry-id order, i.e. at random; with SQLite's 2 MB default each insert re-read its page from disk
# (50 s of a 100 s build at 1M entries). 1 GB holds that index at 10M entries; the file is written once.
CACHE_KIB = -1_048_576
# The snapshot tables the load fills (their indexes are rebuilt after it).
TABLES = ("members", "member_consent", "cards", "sales", "sale_lines", "ledger", "coupon_uses", "offer_targets",
          "member_tiers")
# Python's bool() of a JSON value (the Python build's `int(bool(g))`), from json_each's type.
_TRUTHY = """CASE j.type WHEN 'true' THEN 1 WHEN 'false' THEN 0 WHEN 'null' THEN 0
    WHEN 'integer' THEN j.value <> 0 WHEN 'real' THEN j.value <> 0 WHEN 'text' THEN j.value <> ''
    WHEN 'array' THEN json_array_length(j.value) > 0 ELSE j.value <> '{}' END"""
_LOAD = (
    "INSERT INTO members (member_id, name, phone, email, store_id, status, merged_into, created_at, updated_at)"
    " SELECT member_id, name, phone, email, store_id, status, merged_into, created_at, updated_at"
    " FROM ho.members ORDER BY member_id",
    "INSERT INTO member_consent (member_id, channel, granted, at)"
    f" SELECT m.member_id, j.key, {_TRUTHY}, m.updated_at"
    " FROM ho.members m, json_each(COALESCE(NULLIF(m.consent, ''), '{}')) j ORDER BY m.member_id, j.id",
    "INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at, updated_at)"
    " SELECT card_number, member_id, source, status, replaced_by, COALESCE(NULLIF(created_at, ''), updated_at),"
    " updated_at FROM ho.cards ORDER BY card_number",
    "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned, content_hash,"
    " operator, created_at) SELECT sale_id, store_id, till_id, member_id, total_cents,"
    " COALESCE(NULLIF(tender, ''), 'cash'), points_earned, '', operator, created_at FROM ho.sales ORDER BY +sale_id",
    "INSERT INTO sale_lines (sale_id, line_no, sku, ean, name, category, qty, unit_cents, amount_cents, points)"
    " SELECT s.sale_id, j.value ->> 'line_no', j.value ->> 'sku', j.value ->> 'ean', j.value ->> 'name',"
    " j.value ->> 'category', j.value ->> 'qty', j.value ->> 'unit_cents', j.value ->> 'amount_cents',"
    " CASE WHEN json_type(j.value, '$.points') IS NULL THEN 0 ELSE j.value ->> 'points' END"
    " FROM ho.sales s, json_each(COALESCE(NULLIF(s.lines, ''), '[]')) j"
    " WHERE s.lines NOT IN ('', '[]') ORDER BY s.sale_id, j.id",
    "INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, sale_id, amount_cents,"
    " created_at, operator, reason, ref) SELECT entry_id, member_id, store_id, till_id, seq, kind, points, sale_id,"
    " amount_cents, created_at, operator, reason, ref FROM ho.ledger ORDER BY +entry_id",
)
# Members, consent and cards as a till stores them: also the till's directory file (headoffice/directory_file.py).
DIRECTORY_LOAD = _LOAD[:3]
# After balances and redemptions (`marketing_reports` fills those from the snapshot's own ledger).
_LOAD_DOCS = (
    # a till's table keeps one use per (code, store, till, sale): here the first in use-id order
    "INSERT OR IGNORE INTO coupon_uses (use_id, code, store_id, till_id, sale_id, used_at)"
    " SELECT use_id, code, store_id, till_id, sale_id, used_at FROM ho.coupon_uses ORDER BY use_id",
    "INSERT INTO offer_targets (offer_id, member_id, sale_id, grp, holdout_bp, window_days, coupon_code, store_id,"
    " till_id, day, at) SELECT offer_id, member_id, sale_id, grp, holdout_bp, window_days, coupon_code, store_id,"
    " till_id, day, at FROM ho.offer_targets ORDER BY offer_id, sale_id",
    # in date order: a member's tier on a day is the last change any till recorded by then
    "INSERT INTO member_tiers (member_id, tier, prev_tier, since, reason, sale_id, created_at)"
    " SELECT member_id, tier, prev_tier, since, reason, sale_id, created_at FROM ho.tier_changes"
    " ORDER BY since, created_at, row_no, change_key",
)


def drop_indexes(conn: sqlite3.Connection) -> list[str]:
    """Drop the snapshot tables' indexes (their CREATE statements returned, to run after the load)."""
    marks = ",".join("?" * len(TABLES))
    rows = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                        f" AND tbl_name IN ({marks})", TABLES).fetchall()
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def attach(conn: sqlite3.Connection, ho_path: str | Path) -> None:
    """Head office's file, read-only, as schema `ho` (the caller's transaction makes the read consistent)."""
    conn.execute("ATTACH DATABASE ? AS ho", (f"file:{Path(ho_path).resolve()}?mode=ro",))


def detach(conn: sqlite3.Connection) -> None:
    conn.execute("DETACH DATABASE ho")


def load_rows(conn: sqlite3.Connection) -> None:
    """Members to ledger from the attached head office, in the caller's transaction."""
    for sql in _LOAD:
        conn.execute(sql)


def load_docs(conn: sqlite3.Connection) -> None:
    """Coupon uses, offer targetings and tier changes from the attached head office."""
    for sql in _LOAD_DOCS:
        conn.execute(sql)

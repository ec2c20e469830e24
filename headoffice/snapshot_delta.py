"""The daily refresh of head office's marketing snapshot in place: only what changed since the last build.

Why: the full rebuild copies every row of the chain (73-109 s at 100k members, ten times that at a million)
while a day adds a sliver of it. Inside the caller's one write transaction, with head office attached
read-only (`snapshot_load.attach`: one consistent read of it): members and cards that differ column by column
are upserted (a card head office purged is deleted); ledger rows past the last `server_seq` held, sales past
the last sales rowid, and coupon uses, offer targetings and tier changes past their last rowid are appended;
balances and redemptions are recomputed for the members and refs those ledger rows touch; the new sales'
per-member day totals are merged into the purchase summary (`snapshot_summary`). The marks (`MARKS`) are kept in
`ho_snapshot_meta` and written by every build, full or delta, in its own transaction.

`apply` says None (the caller rebuilds in full) when the result could differ from a full rebuild's: no marks
(a first build, a PostgreSQL head office), another program, a tier change that sorts before the last one held
(the tier on a day is the last change in date order), or a coupon use that would displace the one kept (a
till's table keeps the first per code, store, till and sale in use-id order). A consent change is seen through
the member's `updated_at`, which head office sets on every change of a member (`store.members`). A refund's
`reward-restored` entry reaches head office after its redemption (the refunding till learned it by pull).
tests/sync/test_snapshot_refresh.py compares a refreshed snapshot with a full rebuild table by table.
"""

from __future__ import annotations

import json
import sqlite3
import time
from bisect import bisect_right
from functools import partial
from typing import Any

from headoffice import snapshot_summary
from pos_client.services.marketing import purchase_table

META = "CREATE TABLE IF NOT EXISTS ho_snapshot_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
MARKS = ("ledger_seq", "sales_rowid", "coupon_rowid", "target_rowid", "tier_rowid", "tier_last", "program")
_MEMBER_COLS = ("name", "phone", "email", "store_id", "status", "merged_into", "created_at", "updated_at")
_CARD_COLS = ("member_id", "source", "status", "replaced_by", "created_at", "updated_at")
_TIER_KEY = "since, created_at, row_no, change_key"
# Python's bool() of a JSON value (`snapshot_load._TRUTHY`).
_TRUTHY = """CASE j.type WHEN 'true' THEN 1 WHEN 'false' THEN 0 WHEN 'null' THEN 0
    WHEN 'integer' THEN j.value <> 0 WHEN 'real' THEN j.value <> 0 WHEN 'text' THEN j.value <> ''
    WHEN 'array' THEN json_array_length(j.value) > 0 ELSE j.value <> '{}' END"""


def mark(conn: sqlite3.Connection, program: dict[str, Any]) -> None:
    """Record how far the attached head office was read (in the build's transaction)."""
    one = conn.execute
    last = one(f"SELECT {_TIER_KEY} FROM ho.tier_changes ORDER BY {_TIER_KEY} DESC LIMIT 1").fetchone()
    marks = {
        "ledger_seq": one("SELECT COALESCE(MAX(server_seq), 0) FROM ho.ledger").fetchone()[0],
        "sales_rowid": one("SELECT COALESCE(MAX(rowid), 0) FROM ho.sales").fetchone()[0],
        "coupon_rowid": one("SELECT COALESCE(MAX(rowid), 0) FROM ho.coupon_uses").fetchone()[0],
        "target_rowid": one("SELECT COALESCE(MAX(rowid), 0) FROM ho.offer_targets").fetchone()[0],
        "tier_rowid": one("SELECT COALESCE(MAX(rowid), 0) FROM ho.tier_changes").fetchone()[0],
        "tier_last": list(last) if last else None,
        "program": program,
    }
    conn.execute(META)
    conn.executemany("INSERT OR REPLACE INTO ho_snapshot_meta (key, value) VALUES (?, ?)",
                     [(k, json.dumps(v)) for k, v in marks.items()])


def _marks(conn: sqlite3.Connection) -> dict[str, Any] | None:
    try:
        rows = dict(conn.execute("SELECT key, value FROM ho_snapshot_meta").fetchall())
    except sqlite3.OperationalError:
        return None
    if any(k not in rows for k in MARKS):
        return None
    return {k: json.loads(rows[k]) for k in MARKS}


def _ordered(conn: sqlite3.Connection, marks: dict[str, Any]) -> bool:
    """Appending keeps the full rebuild's order (tier changes) and choice (coupon uses)."""
    first = conn.execute(f"SELECT {_TIER_KEY} FROM ho.tier_changes WHERE rowid > ? ORDER BY {_TIER_KEY} LIMIT 1",
                         (marks["tier_rowid"],)).fetchone()
    if first is not None and marks["tier_last"] is not None and list(first) < marks["tier_last"]:
        return False
    displaced = conn.execute(
        "SELECT 1 FROM ho.coupon_uses h JOIN coupon_uses c ON c.code = h.code AND c.store_id = h.store_id"
        " AND c.till_id = h.till_id AND c.sale_id = h.sale_id WHERE h.rowid > ? AND h.use_id < c.use_id LIMIT 1",
        (marks["coupon_rowid"],)).fetchone()
    return displaced is None


def apply(conn: sqlite3.Connection, program: dict[str, Any], valued: list[str], ts: str) -> dict[str, float] | None:
    """Bring the snapshot up to the attached head office in the caller's write transaction: the seconds
    each step took (the bench reports where a refresh spends its time), or None: nothing done, rebuild in full."""
    marks = _marks(conn)
    if marks is None or marks["program"] != program or not _ordered(conn, marks):
        return None
    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    for name, step in (("members", _members), ("cards", _cards), ("appends", partial(_appends, marks=marks)),
                       ("balances", partial(_balances_and_redemptions, marks=marks, valued=valued, ts=ts)),
                       ("summary", partial(_summary, sales_rowid=marks["sales_rowid"])),
                       ("marks", partial(mark, program=program))):
        step(conn)
        steps[name], t0 = round(time.perf_counter() - t0, 3), time.perf_counter()
    return steps


def _members(conn: sqlite3.Connection) -> None:
    differs = " OR ".join(f"h.{c} IS NOT m.{c}" for c in _MEMBER_COLS)
    conn.execute("CREATE TEMP TABLE delta_members AS SELECT h.member_id, h.consent, h.updated_at FROM ho.members h"
                 f" LEFT JOIN members m ON m.member_id = h.member_id WHERE m.member_id IS NULL OR {differs}")
    cols = ", ".join(_MEMBER_COLS)
    conn.execute(f"INSERT INTO members (member_id, {cols}) SELECT member_id, {cols} FROM ho.members"
                 " WHERE member_id IN (SELECT member_id FROM temp.delta_members) ORDER BY member_id"
                 f" ON CONFLICT (member_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _MEMBER_COLS)}")
    conn.execute("DELETE FROM member_consent WHERE member_id IN (SELECT member_id FROM temp.delta_members)")
    conn.execute(f"INSERT INTO member_consent (member_id, channel, granted, at) SELECT d.member_id, j.key, {_TRUTHY},"
                 " d.updated_at FROM temp.delta_members d, json_each(COALESCE(NULLIF(d.consent, ''), '{}')) j"
                 " ORDER BY d.member_id, j.id")
    conn.execute("DROP TABLE temp.delta_members")


def _cards(conn: sqlite3.Connection) -> None:
    differs = " OR ".join(f"h.{c} IS NOT c.{c}" for c in _CARD_COLS if c != "created_at")
    cols = ", ".join(_CARD_COLS)
    conn.execute(
        f"INSERT INTO cards (card_number, {cols}) SELECT h.card_number, h.member_id, h.source, h.status,"
        " h.replaced_by, COALESCE(NULLIF(h.created_at, ''), h.updated_at), h.updated_at FROM ho.cards h"
        f" LEFT JOIN cards c ON c.card_number = h.card_number WHERE c.card_number IS NULL OR {differs}"
        " OR COALESCE(NULLIF(h.created_at, ''), h.updated_at) IS NOT c.created_at ORDER BY h.card_number"
        f" ON CONFLICT (card_number) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _CARD_COLS)}")
    # purged: every head-office card is held now, so holding more than head office has means a purge (two counts
    # of a covering index, not a lookup of every held card: 2-3 s at 1.5M cards)
    held, theirs = (conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("cards", "ho.cards"))
    if held != theirs:
        conn.execute("DELETE FROM cards WHERE card_number NOT IN (SELECT card_number FROM ho.cards)")


def _appends(conn: sqlite3.Connection, marks: dict[str, Any]) -> None:
    """The rows head office took since the marks, in the full rebuild's statements' order."""
    sales = marks["sales_rowid"]
    conn.execute(
        "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned, content_hash,"
        " operator, created_at) SELECT sale_id, store_id, till_id, member_id, total_cents,"
        " COALESCE(NULLIF(tender, ''), 'cash'), points_earned, '', operator, created_at FROM ho.sales"
        " WHERE rowid > ? ORDER BY sale_id", (sales,))
    conn.execute(
        "INSERT INTO sale_lines (sale_id, line_no, sku, ean, name, category, qty, unit_cents, amount_cents, points)"
        " SELECT s.sale_id, j.value ->> 'line_no', j.value ->> 'sku', j.value ->> 'ean', j.value ->> 'name',"
        " j.value ->> 'category', j.value ->> 'qty', j.value ->> 'unit_cents', j.value ->> 'amount_cents',"
        " CASE WHEN json_type(j.value, '$.points') IS NULL THEN 0 ELSE j.value ->> 'points' END"
        " FROM ho.sales s, json_each(COALESCE(NULLIF(s.lines, ''), '[]')) j"
        " WHERE s.rowid > ? AND s.lines NOT IN ('', '[]') ORDER BY s.sale_id, j.id", (sales,))
    conn.execute(
        "INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, sale_id, amount_cents,"
        " created_at, operator, reason, ref) SELECT entry_id, member_id, store_id, till_id, seq, kind, points,"
        " sale_id, amount_cents, created_at, operator, reason, ref FROM ho.ledger WHERE server_seq > ?"
        " ORDER BY entry_id", (marks["ledger_seq"],))
    conn.execute("INSERT OR IGNORE INTO coupon_uses (use_id, code, store_id, till_id, sale_id, used_at)"
                 " SELECT use_id, code, store_id, till_id, sale_id, used_at FROM ho.coupon_uses WHERE rowid > ?"
                 " ORDER BY use_id", (marks["coupon_rowid"],))
    conn.execute("INSERT INTO offer_targets (offer_id, member_id, sale_id, grp, holdout_bp, window_days, coupon_code,"
                 " store_id, till_id, day, at) SELECT offer_id, member_id, sale_id, grp, holdout_bp, window_days,"
                 " coupon_code, store_id, till_id, day, at FROM ho.offer_targets WHERE rowid > ?"
                 " ORDER BY offer_id, sale_id", (marks["target_rowid"],))
    conn.execute("INSERT INTO member_tiers (member_id, tier, prev_tier, since, reason, sale_id, created_at)"
                 " SELECT member_id, tier, prev_tier, since, reason, sale_id, created_at FROM ho.tier_changes"
                 f" WHERE rowid > ? ORDER BY {_TIER_KEY}", (marks["tier_rowid"],))


def _balances_and_redemptions(conn: sqlite3.Connection, marks: dict[str, Any], valued: list[str], ts: str) -> None:
    """Balances of the members the new ledger rows touch; redemptions of the refs they touch."""
    seq = marks["ledger_seq"]
    conn.execute("INSERT OR REPLACE INTO balances (member_id, points, updated_at) SELECT member_id, SUM(points), ?"
                 " FROM ledger WHERE member_id IN (SELECT member_id FROM ho.ledger WHERE server_seq > ?)"
                 " GROUP BY member_id", (ts, seq))
    new = "SELECT entry_id, member_id, kind, points, amount_cents, created_at, reason, ref FROM ho.ledger" \
          " WHERE server_seq > :seq AND ref IS NOT NULL"
    # a new redemption, restored by the first `reward-restored` entry for it (all arrive after it)
    conn.execute(
        "INSERT INTO redemptions (redemption_id, member_id, reward_id, points, value, coupon_code, entry_id,"
        " approval_id, restored_entry_id, created_at) SELECT l.ref, l.member_id, substr(l.reason, 8), -l.points,"
        " CASE WHEN substr(l.reason, 8) IN (SELECT value FROM json_each(:valued)) THEN l.amount_cents ELSE 0 END,"
        f" '', l.entry_id, '', NULL, l.created_at FROM ({new}) l"
        " WHERE l.kind = 'redeem' AND l.reason LIKE 'reward:%' AND l.points < 0",
        {"seq": seq, "valued": json.dumps(valued)})
    conn.execute(
        "UPDATE redemptions SET restored_entry_id = back.entry_id FROM (SELECT ref, MIN(entry_id) AS entry_id"
        f" FROM ({new}) WHERE kind = 'reverse' AND reason = 'reward-restored' GROUP BY ref) back"
        " WHERE redemptions.redemption_id = back.ref"
        " AND (redemptions.restored_entry_id IS NULL OR back.entry_id < redemptions.restored_entry_id)", {"seq": seq})


def _summary(conn: sqlite3.Connection, sales_rowid: int) -> None:
    """Merge the new sales' per-member day totals into the summary (`snapshot_summary`); where that cannot stay
    exact, rebuild the chunks that hold a member with a new sale (a new member goes to the chunk whose range
    holds its id), each from that range's sales; members stay in id order across chunks."""
    summary, meta = purchase_table.SUMMARY, purchase_table.SUMMARY_META
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (meta,)).fetchone():
        return  # the full build found a sale it cannot encode: no summary, as a rebuild would find again
    conn.execute("SAVEPOINT summary_merge")
    if snapshot_summary.merge(conn):  # the day's per-member totals spliced in: cost follows the day's sales
        conn.execute("RELEASE summary_merge")
        return
    conn.execute("ROLLBACK TO summary_merge")
    conn.execute("RELEASE summary_merge")
    touched = [r[0] for r in conn.execute("SELECT DISTINCT member_id FROM ho.sales WHERE rowid > ?"
                                          " AND member_id IS NOT NULL", (sales_rowid,))]
    chunks = conn.execute(f"SELECT chunk, substr(ids, 1, instr(ids || char(10), char(10)) - 1) FROM {summary}"
                          " ORDER BY chunk").fetchall()
    if touched and not chunks:
        purchase_table.build_summary(conn)
        return
    starts = [r[1] for r in chunks]
    for i in sorted({max(bisect_right(starts, m) - 1, 0) for m in touched}):
        low = None if i == 0 else starts[i]
        high = starts[i + 1] if i + 1 < len(starts) else None
        if not purchase_table.rebuild_chunk(conn, chunks[i][0], low, high):
            conn.execute(f"DROP TABLE {summary}")
            conn.execute(f"DROP TABLE {meta}")
            return
    conn.execute(f"UPDATE {meta} SET sales_rowid = (SELECT COALESCE(MAX(rowid), 0) FROM sales)")

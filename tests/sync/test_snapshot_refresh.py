"""Head office's daily refresh in place (`headoffice.snapshot_delta`): after rounds of real syncs (real tills,
the real server on loopback) and the odd rows a push may leave, the refreshed snapshot holds what a full
rebuild holds, table by table (the purchase summary merged with the day's sales, `snapshot_summary`, by what it
decodes to), and every report reads the same figures off either; when appending would
change what a rebuild keeps (a tier change dated before the last one held) the refresh rebuilds in full."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

from headoffice import snapshot_load, upkeep
from headoffice.marketing_reports import HO_REPORTS, snapshot
from pos_client.services.marketing import purchase_table
from pos_client.services.marketing.reports import run_report
from sync.engine import sync_once
from tests.sync.test_headoffice_upkeep import OPTIONS, chain, sale_on
from tests.sync.test_ho_snapshot_load import odd_rows
from tests.sync.tillkit import enrol

TS = "2026-03-05T10:00:00.000000+00:00"
DAY = date(2026, 3, 31)
# Compared by content (a refresh appends where a rebuild sorts); the summary by what it decodes to.
TABLES = (*snapshot_load.TABLES, "redemptions")
KEYS = {"balances": "member_id, points"}


def content(conn: sqlite3.Connection, table: str) -> list[tuple]:
    cols = KEYS.get(table, "*")
    return sorted((tuple(r) for r in conn.execute(f"SELECT {cols} FROM {table}")), key=repr)


def summary_of(conn: sqlite3.Connection) -> list[tuple]:
    """Each member's purchase days, counts and spend as the reports read them."""
    if not purchase_table.has_summary(conn):
        return []
    rows = conn.execute(f"SELECT ids, counts, days, amounts FROM {purchase_table.SUMMARY} ORDER BY chunk").fetchall()
    ids = "\n".join(r[0] for r in rows).split("\n")
    counts = [ord(c) for r in rows for c in r[1]]
    days = [ord(c) for r in rows for c in r[2]]
    amounts = [ord(c) for r in rows for c in r[3]]
    out, at = [], 0
    for member, n in zip(ids, counts, strict=True):
        out.append((member, days[at:at + n], amounts[4 * at:4 * (at + n)]))
        at += n
    return out


def assert_same_as_rebuild(ho_store, path: Path, tmp_path: Path, name: str) -> None:
    ctx = upkeep.open_snapshot(path)
    assert ctx is not None
    rebuilt = snapshot(ho_store, tmp_path / f"{name}.db")
    try:
        for table in (*TABLES, "balances"):
            assert content(ctx.conn, table) == content(rebuilt.conn, table), (name, table)
        assert summary_of(ctx.conn) == summary_of(rebuilt.conn), name
        assert summary_of(ctx.conn), name
        ids = [m for m, _, _ in summary_of(ctx.conn)]
        assert ids == sorted(ids), name  # members stay in id order across the rebuilt chunks
        for report in HO_REPORTS:
            assert run_report(ctx, report, **OPTIONS) == run_report(rebuilt, report, **OPTIONS), (name, report)
    finally:
        ctx.close()
        rebuilt.close()


def more_odd_rows(path: str) -> None:
    """A consent change, a purged card, a redemption and its refund, a later tier change, a coupon use."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE members SET consent = ?, updated_at = ? WHERE member_id = 'my'",
                 (json.dumps({"email": True}), TS))
    conn.execute("DELETE FROM cards WHERE card_number = '9990001'")
    top = conn.execute("SELECT MAX(server_seq), MAX(seq) FROM ledger").fetchone()
    pair = (("redeem", -50, "reward:five-off"), ("reverse", 50, "reward-restored"))
    for i, (kind, points, reason) in enumerate(pair):
        conn.execute("INSERT INTO ledger (server_seq, entry_id, member_id, store_id, till_id, seq, kind, points,"
                     " amount_cents, created_at, reason, ref, received_at) VALUES (?, ?, 'my', 'S9', 'T9', ?, ?, ?,"
                     " 500, ?, ?, 'rd1', ?)", (top[0] + 1 + i, f"e-odd-{i}", top[1] + 1 + i, kind, points, TS, reason,
                                               TS))
    conn.execute("INSERT INTO tier_changes (change_key, store_id, till_id, row_no, member_id, tier, prev_tier,"
                 " since, reason, sale_id, created_at, received_at) VALUES ('k9', 'S9', 'T1', 9, 'my', 'platinum',"
                 " 'gold', '2026-03-05', 'sale', NULL, ?, ?)", (TS, TS))
    conn.execute("INSERT INTO coupon_uses (use_id, code, store_id, till_id, sale_id, used_at, received_at)"
                 " VALUES ('u3', 'C1', 'S9', 'T1', 'sx1', ?, ?), ('u0', 'C2', 'S9', 'T1', 'sx1', ?, ?)",
                 (TS, TS, TS, TS))
    conn.close()


def inode(path: Path) -> int:
    return path.stat().st_ino


def test_refresh_in_place_equals_a_full_rebuild(make_till, ho_store, headoffice, tmp_path):
    s1, s2 = chain(make_till, ho_store, headoffice)
    path = tmp_path / "snap" / "ho.marketing.db"
    first = upkeep.refresh(ho_store, path, DAY)
    assert first is not None and first.days == [DAY.isoformat()]
    assert_same_as_rebuild(ho_store, path, tmp_path, "first")
    built = inode(path)

    # round 2: a new member, sales at both stores by real tills, synced
    enrol(s2, 6)
    sync_once(s2)
    for till, card, cents, day in [(s1, 6, 900, "2026-03-30"), (s2, 1, 700, "2026-03-31"), (s1, 3, 800, "2026-04-01")]:
        sync_once(till)
        sale_on(till, card, cents, day)
        sync_once(till)
    second = upkeep.refresh(ho_store, path, date(2026, 4, 1))
    assert second is not None and second.days == ["2026-04-01"]
    assert inode(path) == built, "refreshed in place"
    assert {"members", "appends", "summary", "stages", "commit"} <= set(second.steps)  # timed per step, in place
    assert first.steps == {}  # a full build has no steps of its own
    assert_same_as_rebuild(ho_store, path, tmp_path, "second")

    # round 3: the odd rows a push may leave, then changes to them
    odd_rows(ho_store.path)
    upkeep.refresh(ho_store, path, date(2026, 4, 2))
    assert_same_as_rebuild(ho_store, path, tmp_path, "third")
    more_odd_rows(ho_store.path)
    upkeep.refresh(ho_store, path, date(2026, 4, 3))
    assert inode(path) == built
    assert_same_as_rebuild(ho_store, path, tmp_path, "fourth")
    ctx = upkeep.open_snapshot(path)
    assert ctx is not None
    try:
        restored = ctx.conn.execute("SELECT restored_entry_id FROM redemptions WHERE redemption_id = 'rd1'")
        assert [tuple(r) for r in restored] == [("e-odd-1",)]
        assert [r[0] for r in ctx.conn.execute("SELECT day FROM upkeep_runs ORDER BY day")] == [
            "2026-03-31", "2026-04-01", "2026-04-02", "2026-04-03"]
    finally:
        ctx.close()

    # a tier change dated before the last one held: appending would misorder it, so a full rebuild
    conn = sqlite3.connect(ho_store.path, isolation_level=None)
    conn.execute("INSERT INTO tier_changes (change_key, store_id, till_id, row_no, member_id, tier, prev_tier,"
                 " since, reason, sale_id, created_at, received_at) VALUES ('k0', 'S9', 'T1', 1, 'my', 'bronze',"
                 " NULL, '2026-01-02', 'sale', NULL, ?, ?)", (TS, TS))
    conn.close()
    late = upkeep.refresh(ho_store, path, date(2026, 4, 4))
    assert late is not None and late.days == ["2026-04-04"]
    assert inode(path) != built, "rebuilt in full and renamed over"
    assert_same_as_rebuild(ho_store, path, tmp_path, "fifth")


def test_a_reader_keeps_its_state_while_a_refresh_commits(make_till, ho_store, headoffice, tmp_path):
    s1, _ = chain(make_till, ho_store, headoffice)
    path = tmp_path / "ho.marketing.db"
    upkeep.refresh(ho_store, path, DAY)
    reader = upkeep.open_snapshot(path)
    assert reader is not None
    before = reader.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
    sale_on(s1, 1, 500, "2026-04-01")
    sync_once(s1)
    reader.close()  # a reader ends its read transaction; the refresh then commits
    assert upkeep.refresh(ho_store, path, date(2026, 4, 1)) is not None
    after = upkeep.open_snapshot(path)
    assert after is not None
    try:
        assert after.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == before + 1
    finally:
        after.close()

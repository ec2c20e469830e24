"""The till's marketing reports, across every store, at head office.

Head office holds members (with consent), cards, every till's sales with their lines, every
till's ledger, coupon uses and offer targetings: the same data a till's reports read, for the whole
chain. Rather than a second implementation of each report, head office loads that data into a
till-schema SQLite snapshot and runs `pos_client.services.marketing.reports` on it, so a figure at head
office means exactly what it means at a till (offer-lift included: a member targeted at one store who
bought at another bought). Rewards redeemed is rebuilt from the tills' ledger (`_redemptions`). Tier
migration reads the tier changes every till pushes (`member_tiers`, in date order: a member's tier on a day is
the last change any till recorded by then).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from headoffice import snapshot_delta, snapshot_load
from headoffice.store.base import Store
from pos_client.domain.errors import UsageError
from pos_client.services.marketing import purchase_table
from pos_client.services.marketing.reports import run_report
from pos_client.services.marketing.rewards import catalog
from pos_client.store import point_months
from pos_client.store.config import Config, from_mapping
from pos_client.store.context import TillContext
from pos_client.store.db import connect, now_iso, write_txn

HO_REPORTS = ("new-customers", "lifecycle", "rfm", "points-liability", "contact-list", "second-purchase",
              "reactivation", "retention", "offer-lift", "rewards-redeemed", "tier-migration")
TILL_ONLY: dict[str, str] = {}  # reports a till has and head office cannot run (none since tier changes sync)
# A till's redemption, from what sync carries: its `redeem` ledger entry (reason "reward:ID", ref = the
# redemption id, amount_cents = its value) and the "reward-restored" entry a refund may add (same ref).
_REDEMPTIONS = """
INSERT INTO redemptions (redemption_id, member_id, reward_id, points, value, coupon_code, entry_id, approval_id,
                         restored_entry_id, created_at)
SELECT l.ref, l.member_id, substr(l.reason, 8), -l.points,
       CASE WHEN substr(l.reason, 8) IN (SELECT value FROM json_each(:valued)) THEN l.amount_cents ELSE 0 END,
       '', l.entry_id, '', back.entry_id, l.created_at
FROM ledger l LEFT JOIN (SELECT ref, MIN(entry_id) AS entry_id FROM ledger
                         WHERE kind = 'reverse' AND reason = 'reward-restored' GROUP BY ref) back ON back.ref = l.ref
WHERE l.kind = 'redeem' AND l.reason LIKE 'reward:%' AND l.ref IS NOT NULL AND l.points < 0
"""


def snapshot(store: Store, path: str | Path) -> TillContext:
    """A TillContext over a till-schema copy of head office's program data (members to offer targetings):
    by SQL from a SQLite head office (`snapshot_load`), row by row from any other."""
    program = program_of(store)
    ctx = TillContext(connect(path), config_for(program))
    conn, ts = ctx.conn, now_iso()
    conn.execute("PRAGMA foreign_keys=OFF")  # merged and erased members keep rows that refer to each other
    ho_path = getattr(store, "path", None)  # a SqliteStore's file
    if ho_path is not None:
        conn.execute("PRAGMA journal_mode=OFF")  # a new file, deleted if the build fails: no journal to keep
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute(f"PRAGMA cache_size = {snapshot_load.CACHE_KIB}")
        snapshot_load.attach(conn, ho_path)
    try:
        with write_txn(conn):
            conn.execute("UPDATE sync_apply SET applying = 1")  # a snapshot queues nothing for sync
            indexes = snapshot_load.drop_indexes(conn) if ho_path is not None else []
            with point_months.bulk_load(conn):  # the points-by-month summary made once, after the load
                if ho_path is not None:
                    snapshot_load.load_rows(conn)
                else:
                    _load_rows(conn, store)
            conn.execute("INSERT INTO balances (member_id, points, updated_at) SELECT member_id, SUM(points), ?"
                         " FROM ledger GROUP BY member_id", (ts,))
            conn.execute(_REDEMPTIONS, {"valued": json.dumps(valued_rewards(ctx))})
            if ho_path is not None:
                snapshot_load.load_docs(conn)
                snapshot_delta.mark(conn, program)  # how far head office was read: the next refresh goes on
            else:
                _load_docs(conn, store)
            for sql in indexes:
                conn.execute(sql)
            purchase_table.build_summary(conn)  # the reports read each member's purchase days from it
            conn.execute("UPDATE sync_apply SET applying = 0")
    finally:
        if ho_path is not None:
            snapshot_load.detach(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA cache_size = -2000")  # SQLite's default again
    return ctx


def program_of(store: Store) -> dict[str, Any]:
    """The program (tiers, rewards) head office's rules hold: what a snapshot's reports read."""
    rules = {r["key"]: json.loads(r["value"]) for r in store.export_rows("rules")}
    return {k: rules[k] for k in ("tiers", "rewards") if k in rules}


def config_for(program: dict[str, Any]) -> Config:
    return from_mapping({"store_id": "HO", "till_id": "HO", "program": program, "reports": {"chain_wide": True}})


def valued_rewards(ctx: TillContext) -> list[str]:
    """The rewards whose redemption has a value in cents (the redeem entry's amount_cents)."""
    return [r.id for r in catalog(ctx) if r.kind in ("amount_off", "gift_certificate")]


def _load_rows(conn: sqlite3.Connection, store: Store) -> None:
    """Members to ledger as Python rows (a PostgreSQL head office); `snapshot_load` is the same in SQL."""
    members = store.export_rows("members")
    conn.executemany(
        "INSERT INTO members (member_id, name, phone, email, store_id, status, merged_into, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [(m["member_id"], m["name"], m["phone"], m["email"], m["store_id"], m["status"], m["merged_into"],
          m["created_at"], m["updated_at"]) for m in members])
    conn.executemany(
        "INSERT INTO member_consent (member_id, channel, granted, at) VALUES (?,?,?,?)",
        [(m["member_id"], ch, int(bool(g)), m["updated_at"])
         for m in members for ch, g in json.loads(m["consent"] or "{}").items()])
    conn.executemany(
        "INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?)",
        [(c["card_number"], c["member_id"], c["source"], c["status"], c["replaced_by"],
          c["created_at"] or c["updated_at"], c["updated_at"]) for c in store.export_rows("cards")])
    sales = store.export_rows("sales")
    conn.executemany(
        "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned,"
        " content_hash, operator, created_at) VALUES (?,?,?,?,?,?,?,'',?,?)",
        [(s["sale_id"], s["store_id"], s["till_id"], s["member_id"], s["total_cents"], s["tender"] or "cash",
          s["points_earned"], s["operator"], s["created_at"]) for s in sales])
    conn.executemany(
        "INSERT INTO sale_lines (sale_id, line_no, sku, ean, name, category, qty, unit_cents, amount_cents,"
        " points) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [(s["sale_id"], li["line_no"], li.get("sku"), li.get("ean"), li["name"], li["category"], li["qty"],
          li["unit_cents"], li["amount_cents"], li.get("points", 0))
         for s in sales for li in json.loads(s["lines"] or "[]")])
    conn.executemany(
        "INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, sale_id, amount_cents,"
        " created_at, operator, reason, ref) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [tuple(e[c] for c in ("entry_id", "member_id", "store_id", "till_id", "seq", "kind", "points",
                              "sale_id", "amount_cents", "created_at", "operator", "reason", "ref"))
         for e in store.export_rows("ledger")])


def _load_docs(conn: sqlite3.Connection, store: Store) -> None:
    """Coupon uses, offer targetings and tier changes as Python rows (`snapshot_load.load_docs` in SQL)."""
    # a till's table keeps one use per (code, store, till, sale): here the first in use-id order
    conn.executemany(
        "INSERT OR IGNORE INTO coupon_uses (use_id, code, store_id, till_id, sale_id, used_at)"
        " VALUES (?,?,?,?,?,?)",
        [tuple(u[c] for c in ("use_id", "code", "store_id", "till_id", "sale_id", "used_at"))
         for u in store.export_rows("coupon_uses")])
    targets = ("offer_id", "member_id", "sale_id", "grp", "holdout_bp", "window_days", "coupon_code", "store_id",
               "till_id", "day", "at")
    conn.executemany(f"INSERT INTO offer_targets ({', '.join(targets)}) VALUES ({', '.join('?' * len(targets))})",
                     [tuple(t[c] for c in targets) for t in store.export_rows("offer_targets")])
    conn.executemany(
        "INSERT INTO member_tiers (member_id, tier, prev_tier, since, reason, sale_id, created_at)"
        " VALUES (?,?,?,?,?,?,?)",
        [tuple(t[c] for c in ("member_id", "tier", "prev_tier", "since", "reason", "sale_id", "created_at"))
         for t in sorted(store.export_rows("tier_changes"), key=lambda t: (t["since"], t["created_at"],
                                                                            t["row_no"]))])


def run(store: Store, name: str, **options: Any) -> dict[str, Any]:
    """Run one of the till's marketing reports over the whole chain's data."""
    if name in TILL_ONLY:
        raise UsageError(f"{name} is not available at head office: {TILL_ONLY[name]}")
    if name not in HO_REPORTS:
        raise UsageError(f"unknown report {name!r}: one of {', '.join(HO_REPORTS)}")
    with tempfile.TemporaryDirectory(prefix="ho-report-") as tmp:
        ctx = snapshot(store, Path(tmp) / "snapshot.db")
        try:
            return run_report(ctx, name, **options)
        finally:
            ctx.close()

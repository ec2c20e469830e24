"""A till adopting the system: the generated chain's members, cards, products and program, and no history.

Why: issue 15 states the import target for the first run into a fresh till (a store bringing its past sales
in before it sells), which is where the importer replays the whole till's upkeep (`services.importer`); the
generated till already holds a year of its own sales, which turns the import into the other case (a till
in use). Built once per bench run from the cached dataset (read-only) with SQL only: tables, then their
rows, then indexes and triggers, as `bench.generate` loads; each sample then starts from a file copy.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from bench.env import BenchEnv

# History and what is derived from it: left empty (balances are kept at zero for every member).
HISTORY = frozenset({
    "sales", "sale_lines", "ledger", "point_months", "point_irregular", "member_tiers", "member_stages",
    "upkeep_runs", "refunds", "refund_lines", "redemptions", "coupon_uses", "offer_log", "sync_outbox",
    "print_jobs", "security_events", "opening_balances", "balances", "approvals",
})


def build(env: BenchEnv, dest: Path) -> Path:
    """The fresh till's database at `dest` (replaced), WAL, every index and trigger of the generated one."""
    for suffix in ("", "-wal", "-shm"):
        dest.with_name(dest.name + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(str(dest), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("ATTACH ? AS src", (f"file:{env.db}?mode=ro",))
        objects = conn.execute("SELECT type, name, sql FROM src.sqlite_master WHERE sql IS NOT NULL"
                               " AND name NOT LIKE 'sqlite_%' ORDER BY rowid").fetchall()
        conn.execute("BEGIN")
        tables = [name for kind, name, sql in objects if kind == "table"]
        for kind, _name, sql in objects:
            if kind == "table":
                conn.execute(sql)
        for name in tables:
            if name not in HISTORY:
                conn.execute(f'INSERT INTO main."{name}" SELECT * FROM src."{name}"')
        conn.execute("INSERT INTO balances (member_id, points, updated_at) SELECT member_id, 0, created_at"
                     " FROM members")
        for kind, _name, sql in objects:
            if kind in ("index", "trigger", "view"):
                conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("DETACH src")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return dest


def copy_home(template: Path, home: Path) -> Path:
    """A till home at `home` (replaced) whose database is a copy of the template's file."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copyfile(template, home / "till.db")
    fd = os.open(home / "till.db", os.O_RDONLY)
    try:
        os.fsync(fd)  # the copy's writeback is not the sample's: it would land in the first commit's fsync
    finally:
        os.close(fd)
    return home

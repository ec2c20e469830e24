"""A writable copy of the generated till home, for figures that write (sales, device config).

Why: the cached dataset is shared by every bench run on the machine and reused for days; a figure
that commits sales into it changes what the next run measures. The copy is made once per run with
SQLite's backup API (a consistent snapshot even if another process has the file open) into the run's
scratch directory, on the same filesystem as the cache, so it sees the same disk.

The copy is a kept till, as a real one is when it opens in the morning: it has made its backup (one real
`pos-client backup` of the copy at setup, untimed, by the till's own `store.backup.back_up`, into the copy's
backup directory, deleted with the scratch dir) and carries the cache's chain mark (`till.db.checked`,
`store.chain_mark`) when the cache has one. Without the backup every app start on a 5 GB copy began a 5 GB
backup in the background of the timed start (`till.backup_scheduler`: none yet is due at once). It has also
run its day's upkeep through the day the app finds due (the dataset ends weeks before today): without it,
each app start began a month's catch-up in the background, and the swipes waited on it.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from datetime import UTC, date, datetime
from pathlib import Path

from bench.env import BenchEnv
from pos_client.services.marketing import upkeep
from pos_client.store import chain_mark
from pos_client.store.backup import back_up
from pos_client.store.chain_mark import mark_file
from pos_client.store.config import load_config
from pos_client.till import open_till
from pos_client.till.scheduler import closing_time, due_through

COPY = "writable-home"
SETUP_NOTE = "setup.txt"  # what making the copy did, for the figures' notes


def writable_home(env: BenchEnv) -> Path:
    """The run's writable copy of the home (made on first use; later figures share it)."""
    home = env.scratch / COPY
    db = home / "till.db"
    if db.exists():
        return home
    building = home.with_name(COPY + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    meta = env.home / "generated.json"  # only the till's files: the cache dir also holds other figures' databases
    if meta.exists():
        shutil.copy2(meta, building / meta.name)
    src = sqlite3.connect(f"file:{env.db}?mode=ro", uri=True)
    dst = sqlite3.connect(str(building / "till.db"))
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        dst.close()
        src.close()
    mark = mark_file(env.db)
    if mark.exists():  # same rows, same rowids: the mark stays valid (`chain_mark.valid` checks the entry)
        shutil.copy2(mark, mark_file(building / "till.db"))
    notes = [_upkeep(building), _back_up(building)]
    (building / SETUP_NOTE).write_text("\n".join(notes), encoding="utf-8")
    building.rename(home)
    return home


def _upkeep(home: Path) -> str:
    """The till's own day's upkeep through the day the app would find due, so a timed app start does not
    begin a month's catch-up in the background (the dataset ends weeks before today) and the copy is a
    till kept day by day. Its opening check runs meanwhile and is waited for (both untimed)."""
    t0 = time.perf_counter()
    ctx = open_till(home)
    try:
        through = due_through(datetime.now(UTC), closing_time(ctx))
        first = ""
        if upkeep.last_run(ctx) is None:  # generated without upkeep: its first (full) pass on the history's last
            row = ctx.conn.execute("SELECT MAX(created_at) FROM ledger").fetchone()  # day, as `figures.upkeep`
            if row and row[0]:  # does, instead of replaying years of days the generator never ran
                day = date.fromisoformat(str(row[0])[:10])
                upkeep.run_day(ctx, day, source="bench setup")
                first = f"the first (full) pass on {day.isoformat()}, then "
        days = upkeep.catch_up(ctx, through, source="bench setup")
    finally:
        ctx.close()
    with chain_mark.checking(home / "till.db"):  # the opening check open_till began: finished first
        pass
    return (f"setup upkeep (untimed): {first}{len(days)} day(s) through {through.isoformat()},"
            f" {time.perf_counter() - t0:.1f} s")


def _back_up(home: Path) -> str:
    """The till's own backup of the copy, so the app finds a recent one and does not start its own."""
    t0 = time.perf_counter()
    conn = sqlite3.connect(str(home / "till.db"))
    try:
        report = back_up(conn, home, load_config(home))
    finally:
        conn.close()
    return (f"setup backup (untimed): {report.path.name}, {report.size / 2**20:,.0f} MB, verified,"
            f" {time.perf_counter() - t0:.1f} s")


def setup_note(env: BenchEnv) -> str:
    """What making the writable copy did (its backup), or that no copy was made in this run."""
    path = env.scratch / COPY / SETUP_NOTE
    return "; ".join(path.read_text(encoding="utf-8").splitlines()) if path.exists() else "no writable copy in this run"

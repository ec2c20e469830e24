"""Head office's scheduled upkeep (`headoffice.upkeep.refresh`: the marketing snapshot brought up to head
office's data, the due days' lifecycle stages recorded) at the dataset's scale.

On a scratch copy of the bench's head-office store (`console_data.ho_db`, cached beside the dataset): the first
refresh (no snapshot yet: a full build, the day due only) timed apart, then the daily refreshes as the
scheduler runs them, each after a day of traffic reached head office (`a_day`: 1/365 of the dataset's sales
and ledger rows again under new ids, and 1 in 1000 members changed), applied in place (`snapshot_delta`) and
recording one more day. The day's rows are dated after every day measured, so the stages of the days
measured do not depend on them. Baseline, interleaved: the lifecycle step in pandas on the published
snapshot (the changes to record), which must count what the refresh records.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from datetime import date, timedelta
from pathlib import Path

from bench.env import BenchEnv
from bench.figures.console_data import ho_db
from bench.figures.upkeep import pandas_changes
from bench.stats import Figure, Measure, verdict
from headoffice import upkeep as ho_upkeep
from headoffice.store import open_store
from pos_client.services.marketing.lifecycle import stage_rules

KEY = "ho_upkeep"
TITLE = "Head office's daily upkeep (snapshot refresh with the day's stages)"
TARGET = "< 60 s per refresh"
LIMIT_S = 60.0
FIRST_DAY = date(2026, 11, 1)
# The snapshot was re-inserted row by row in Python (76.8 s at 10k members): it is now filled by SQL
# (`headoffice.snapshot_load`), so the figure runs at every scale, full included.


def run(env: BenchEnv) -> Figure:
    runs = env.samples(3, 2)
    work = env.scratch / "ho-upkeep"
    work.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    db = work / "ho.db"
    shutil.copyfile(ho_db(env), db)
    copy_s = time.perf_counter() - t0
    snap = work / "ho.marketing.db"
    store = open_store(f"sqlite:///{db}")
    ours: list[float] = []
    theirs: list[float] = []
    wrong: list[str] = []
    added = ""
    try:
        t0 = time.perf_counter()
        ho_upkeep.refresh(store, snap, FIRST_DAY)
        first_s = time.perf_counter() - t0
        for i in range(1, runs + 1):
            day = FIRST_DAY + timedelta(days=i)
            expected, spent = _pandas_on(snap, day)
            theirs.append(spent)
            added = a_day(db, i, FIRST_DAY + timedelta(days=60 + i))
            t0 = time.perf_counter()
            result = ho_upkeep.refresh(store, snap, day)
            ours.append(time.perf_counter() - t0)
            if result is None or result.stage_changes != expected:
                wrong.append(f"{day}: refresh recorded {result and result.stage_changes}, pandas finds {expected}")
    finally:
        store.close()
    m = Measure.of("headoffice.upkeep.refresh (the day's rows applied in place + one day's stages)", "s", ours)
    b = Measure.of("the day's lifecycle stage changes in pandas on the snapshot (read + compute)", "s", theirs)
    notes = [f"head-office store copied in {copy_s:.0f} s; first refresh (no snapshot yet: full build) {first_s:.1f} s",
             f"each daily refresh applies a day's traffic in place: {added}",
             "the baseline covers the stage step only; the refresh also applies the day's rows"]
    extra = {"first_refresh_s": round(first_s, 2), "per_refresh_s": [round(t, 2) for t in ours]}
    if wrong:
        return Figure(KEY, TITLE, TARGET, "ERROR", measure=m, baseline=b, reason="; ".join(wrong), notes=notes,
                      extra=extra)
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 < LIMIT_S), measure=m, baseline=b, notes=notes, extra=extra)


def a_day(db: Path, i: int, day: date) -> str:
    """A day of traffic written into head office's store: the last 1/365 of its sales and ledger rows again
    under new ids (seq shifted past every till's), dated `day`, and 1 in 1000 members' details changed."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        tag, when = f"-d{i}", day.isoformat()
        conn.execute("BEGIN IMMEDIATE")
        top_sale = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM sales").fetchone()[0]
        top_seq = conn.execute("SELECT COALESCE(MAX(server_seq), 0) FROM ledger").fetchone()[0]
        n_sales, n_entries = max(top_sale // 365, 1), max(top_seq // 365, 1)
        conn.execute("INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned,"
                     " operator, created_at, received_at, lines) SELECT sale_id || :tag, store_id, till_id, member_id,"
                     " total_cents, tender, points_earned, operator, :day || substr(created_at, 11),"
                     " :day || substr(created_at, 11), lines FROM sales WHERE rowid > :top - :n ORDER BY rowid",
                     {"tag": tag, "day": when, "top": top_sale, "n": n_sales})
        conn.execute("INSERT INTO ledger (server_seq, entry_id, member_id, store_id, till_id, seq, kind, points,"
                     " sale_id, amount_cents, created_at, operator, reason, ref, received_at)"
                     " SELECT server_seq + :n, entry_id || :tag, member_id, store_id, till_id, seq + :shift, kind,"
                     " points, sale_id || :tag, amount_cents, :day || substr(created_at, 11), operator, reason,"
                     " ref || :tag, :day || substr(created_at, 11) FROM ledger WHERE server_seq > :top - :n"
                     " ORDER BY server_seq", {"tag": tag, "day": when, "top": top_seq, "n": n_entries,
                                              "shift": i * 10 ** 12})
        changed = conn.execute("UPDATE members SET name = COALESCE(name, '') || :tag, updated_at = :day || 'T09:00:00Z'"
                               " WHERE rowid % 1000 = :i", {"tag": tag, "day": when, "i": i}).rowcount
        conn.execute("COMMIT")
    finally:
        conn.close()
    return f"{n_sales:,} sales, {n_entries:,} ledger entries, {changed:,} members changed"


def _pandas_on(snap: Path, day: date) -> tuple[int, float]:
    """The stage changes pandas finds on the published snapshot for `day`, and how long it took."""
    ctx = ho_upkeep.open_snapshot(snap)
    if ctx is None:
        raise RuntimeError(f"no snapshot published at {snap}")
    try:
        rules = stage_rules(ctx)
        t0 = time.perf_counter()
        return pandas_changes(ctx.conn, day, rules), time.perf_counter() - t0
    finally:
        ctx.close()

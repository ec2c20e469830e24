"""Head office's scheduled upkeep (`headoffice.upkeep.refresh`: the marketing snapshot brought up to head
office's data, the due days' lifecycle stages recorded) at the dataset's scale, against the same day's
computation in pandas, interleaved in the same run (`bench.method`).

On a scratch copy of the bench's head-office store (`console_data.ho_db`, cached beside the dataset): the first
refresh (no snapshot yet: a full build, the day due only) timed apart, then rounds of one day each. Before each
round, untimed, a day of traffic reaches head office (`a_day`: 1/365 of the dataset's sales and ledger rows again
under new ids, and 1 in 1000 members changed). Measured: the daily refresh as the scheduler runs it, applied in
place (`snapshot_delta`) and recording one more day. Baseline: the same day's computation in pandas: the rows
head office took since the snapshot's marks read and totalled per member (the balance moves and each member's
sale count and spend per day, which the refresh merges into the purchase summary), then the day's lifecycle
stage changes from every sale on the snapshot against the stages recorded before that day (so the order of the
pair in a round does not change what either computes). The two must agree on the stage changes and on the
day's sales. The day's rows are dated after every day measured, so the stages measured do not depend on them.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.env import BenchEnv
from bench.figures.console_data import ho_db
from bench.method import interleave, judge
from bench.stats import Figure
from headoffice import snapshot_delta
from headoffice import upkeep as ho_upkeep
from headoffice.store import open_store
from headoffice.upkeep import RefreshResult
from pos_client.services.marketing.lifecycle import stage_rules

KEY = "ho_upkeep"
TITLE = "Head office's daily upkeep (snapshot refresh with the day's stages)"
TARGET = "< 60 s per refresh at full scale"
LIMIT_S = 60.0
FIRST_DAY = date(2026, 11, 1)


def run(env: BenchEnv) -> Figure:
    n = env.samples(3, 2)
    work = env.scratch / "ho-upkeep"
    work.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    db = work / "ho.db"
    shutil.copyfile(ho_db(env), db)
    copy_s = time.perf_counter() - t0
    snap = work / "ho.marketing.db"
    store = open_store(f"sqlite:///{db}")
    results: dict[int, RefreshResult | None] = {}
    pandas: dict[int, tuple[int, int, int, int]] = {}
    marks: dict[int, dict[str, Any]] = {}
    added: dict[int, str] = {}

    def between(i: int) -> None:  # untimed: the day's traffic reaches head office
        marks[i] = _marks_of(snap)
        added[i] = a_day(db, i + 1, FIRST_DAY + timedelta(days=61 + i))

    def ours(i: int) -> float:
        t = time.perf_counter()
        results[i] = ho_upkeep.refresh(store, snap, FIRST_DAY + timedelta(days=i + 1))
        return time.perf_counter() - t

    def theirs(i: int) -> float:
        t = time.perf_counter()
        pandas[i] = pandas_day(db, snap, marks[i], FIRST_DAY + timedelta(days=i + 1))
        return time.perf_counter() - t

    try:
        t0 = time.perf_counter()
        ho_upkeep.refresh(store, snap, FIRST_DAY)
        first_s = time.perf_counter() - t0
        rounds = interleave(ours, theirs, n, between)
    finally:
        store.close()
    v = judge(rounds, lambda m, b: m.tail_value < LIMIT_S, at_this_scale=not env.quick, unit="s",
              measured="headoffice.upkeep.refresh (the day's rows applied in place + one day's stages)",
              baseline="the same day in pandas (the day's rows totalled per member + the day's stage changes)")
    wrong = [f"day {i + 1}: refresh recorded {r and r.stage_changes} stage changes and {r and r.steps and 'in place'}"
             f", pandas finds {pandas[i][0]}" for i, r in results.items()
             if r is None or r.stage_changes != pandas[i][0] or not r.steps]
    wrong += [f"day {i + 1}: pandas totals {pandas[i][1]:,} sales, the day had {added[i]}" for i in pandas
              if not added[i].startswith(f"{pandas[i][1]:,} sales")]
    notes = [f"head-office store copied in {copy_s:.0f} s; first refresh (no snapshot yet: full build) {first_s:.1f} s",
             f"each round first adds a day of traffic (untimed): {added.get(0, '')}; pandas totals it as "
             + (f"{pandas[0][2]:,} balance moves and {pandas[0][3]:,} member-days of sales" if 0 in pandas else "-"),
             "refresh steps (s): " + "; ".join(f"day {i + 1} " + ", ".join(f"{k} {t:.1f}" for k, t in r.steps.items())
                                               for i, r in sorted(results.items()) if r is not None)]
    extra = {"first_refresh_s": round(first_s, 2), "per_refresh_s": [round(t, 2) for t in rounds.all_measured],
             "pandas_s": [round(t, 2) for t in rounds.all_baseline],
             "steps": [r.steps for _, r in sorted(results.items()) if r is not None]}
    return Figure(KEY, TITLE, TARGET, "ERROR" if wrong else v.status, measure=v.measure, baseline=v.baseline,
                  judged=v.judged, reason="; ".join(wrong) or None, notes=notes, extra=extra)


def _marks_of(snap: Path) -> dict[str, Any]:
    """How far the published snapshot has read head office (`snapshot_delta.MARKS`)."""
    conn = sqlite3.connect(f"file:{snap}?mode=ro", uri=True)
    try:
        return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM ho_snapshot_meta")
                if k in snapshot_delta.MARKS}
    finally:
        conn.close()


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


def pandas_day(db: Path, snap: Path, marks: dict[str, Any], day: date) -> tuple[int, int, int, int]:
    """The day's computation in pandas: (stage changes at the end of `day`, sales in the day's rows, members
    whose balance moved, member-days of sales)."""
    import pandas as pd  # lazy: pandas is a bench/test-only dependency

    from bench.figures import _reports_pandas as pdr  # lazy: it imports pandas

    ho = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        entries = pd.read_sql_query("SELECT member_id, points FROM ledger WHERE server_seq > ?", ho,
                                    params=(marks["ledger_seq"],))
        sales = pd.read_sql_query("SELECT member_id, substr(created_at, 1, 10) AS day, total_cents FROM sales"
                                  " WHERE rowid > ?", ho, params=(marks["sales_rowid"],))
    finally:
        ho.close()
    moves = entries.groupby("member_id")["points"].sum()  # the balance moves
    per_day = sales.dropna(subset=["member_id"]).groupby(["member_id", "day"])["total_cents"].agg(["size", "sum"])
    ctx = ho_upkeep.open_snapshot(snap)
    if ctx is None:
        raise RuntimeError(f"no snapshot published at {snap}")
    try:
        rules = stage_rules(ctx)
        held = pdr.load_sales(ctx.conn, day)
        st = pdr.stages(pdr.purchase_days(held), day.toordinal(), rules)
        recorded = pd.read_sql_query(
            "SELECT member_id, stage FROM member_stages WHERE rowid IN (SELECT MAX(rowid) FROM member_stages"
            " WHERE since < ? GROUP BY member_id)", ctx.conn, params=(day.isoformat(),)).set_index("member_id")["stage"]
    finally:
        ctx.close()
    codes = held.drop_duplicates("m").set_index("m")["member_id"]
    now = pd.Series(pdr.STAGE_NAMES[st.to_numpy()], index=codes.reindex(st.index).to_numpy())
    return int((recorded.reindex(now.index) != now).sum()), len(sales), len(moves), len(per_day)

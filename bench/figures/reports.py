"""The marketing reports at chain scale, at a till and at head office, against the same reports in pandas.

At the till: `run_report` on the generated till (its own sales: this till's share of the chain's). At head
office: the reports run on a till-schema snapshot of the whole chain's data, which is what
`headoffice.marketing_reports.run` does after `snapshot(store)`; loading 10M rows into a head-office store
and exporting them again would take longer than the whole benchmark, so the snapshot is built here straight
from the same dataset by SQL (every earn entry of every till is a member sale), once, cached beside it.

Baseline, in the same run and interleaved with ours (`bench.method`: A/B then B/A rounds, halves judged
apart, `_series`): the same report in pandas (`_reports_pandas`), reading the same sales from the same
database (once per round; each report's pandas time includes that read). Head
office's reports read the snapshot's purchase summary (`purchase_table.build_summary`), built once per snapshot
refresh; its build time is in the notes. Each pair is checked for equal figures before its time counts: a
fast wrong answer is an ERROR, not a PASS.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from bench.env import BenchEnv
from bench.figures._series import judge_all, opening_check_done, pair
from bench.generate import build_lock
from bench.method import Rounds
from bench.stats import Figure
from pos_client.services.marketing import purchase_table
from pos_client.services.marketing.lifecycle import stage_rules
from pos_client.services.marketing.reports import run_report
from pos_client.services.program_settings import rfm as rfm_rules
from pos_client.services.program_settings import tiers as tier_ladder
from pos_client.store.config import from_mapping
from pos_client.store.context import TillContext
from pos_client.store.db import connect, write_txn
from pos_client.till import open_till

KEY = "reports"
TITLE = ("Marketing reports (lifecycle, second purchase, reactivation, retention, rfm, new customers, tier"
         " migration)")
TARGET = "each < 5 s at till and head office"
LIMIT_S = 5.0
START, END = date(2026, 5, 1), date(2026, 10, 31)  # the last six months of the generated history
NAMES = ("lifecycle", "second-purchase", "reactivation", "retention", "rfm", "new-customers", "tier-migration")


def chain_db(env: BenchEnv) -> Path:
    """The head-office snapshot of the dataset: every member, every till's sales (cached beside the dataset)."""
    path = env.home / "chain.db"
    with build_lock(path):
        if not path.exists():
            _build_chain(env, path)
    _summary(path)  # as `snapshot` ends
    return path


def _build_chain(env: BenchEnv, path: Path) -> None:
    tmp = env.home / "chain.db.building"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    conn = connect(tmp)  # the real till schema, as headoffice.marketing_reports.snapshot makes it
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("ATTACH DATABASE ? AS src", (f"file:{env.db}?mode=ro",))
    conn.execute("DROP INDEX idx_sales_member")
    conn.execute("BEGIN")
    conn.execute("UPDATE sync_apply SET applying = 1")  # a snapshot queues nothing for sync
    conn.execute("INSERT INTO members SELECT * FROM src.members")
    conn.execute(
        "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned, content_hash,"
        " operator, created_at) SELECT sale_id, store_id, till_id, member_id, amount_cents, 'card', points, '',"
        " operator, created_at FROM src.ledger WHERE kind = 'earn' ORDER BY sale_id")
    conn.execute("UPDATE sync_apply SET applying = 0")
    conn.execute("COMMIT")
    conn.execute("CREATE INDEX idx_sales_member ON sales(member_id, created_at)")
    conn.execute("DETACH DATABASE src")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    os.replace(tmp, path)


def _summary(path: Path) -> None:
    """Build the purchase summary `snapshot` builds (also into a chain.db cached before it had one), and
    keep how long it took beside it: a cost of each head-office snapshot refresh, not of a report."""
    conn = connect(path, migrate=False)
    try:
        if purchase_table.has_summary(conn):
            return
        conn.execute("PRAGMA busy_timeout = 3600000")  # another figure building it: wait, then take theirs
        t0 = time.perf_counter()
        with write_txn(conn):
            if purchase_table.has_summary(conn):
                return
            purchase_table.build_summary(conn)
        Path(f"{path}.summary-seconds").write_text(f"{time.perf_counter() - t0:.1f}\n")
    finally:
        conn.close()


def _summary_seconds(path: Path) -> str:
    seconds = Path(f"{path}.summary-seconds")
    return f"{seconds.read_text().strip()} s" if seconds.exists() else "unknown (built elsewhere)"


def _pandas_load(conn: sqlite3.Connection) -> tuple[Any, Any]:
    """pandas' read of the sales (and refunds) the reports need, up to the period's end."""
    from bench.figures import _reports_pandas as pdr  # lazy: pandas is a test-extra dependency

    sales = pdr.load_sales(conn, END)
    return sales, pdr.load_refunds(conn, sales, END)


def _pandas(name: str, conn: sqlite3.Connection, ctx: TillContext, frames: tuple[Any, Any]) -> dict[Any, Any]:
    """The report's figures computed in pandas from the frames of `_pandas_load` (bench-only dependency)."""
    from bench.figures import _reports_pandas as pdr  # lazy: pandas is a test-extra dependency

    sales, refunds = frames
    rules = stage_rules(ctx)
    if name == "lifecycle":
        return pdr.lifecycle(sales, START, END, rules)
    if name == "second-purchase":
        return pdr.second_purchase(sales, START, END)
    if name == "reactivation":
        return pdr.reactivation(sales, START, END, rules)
    if name == "retention":
        return pdr.retention(sales, START, END)
    if name == "new-customers":
        return pdr.new_customers(sales, START, END)
    if name == "tier-migration":
        return pdr.tier_migration(conn, sales, START, END, tier_ladder(ctx)[0].name)
    return pdr.rfm(sales, refunds, END, rfm_rules(ctx))


def _ours(report: dict[str, Any]) -> dict[Any, Any]:
    """The same figures read from the till's report, for the equality check."""
    s = report["summary"]
    name = report["report"]
    if name == "lifecycle":
        return {k: s[k] for k in ("stages", "members", "moved", "moves")}
    if name == "second-purchase":
        return {"first_buyers": s["first_buyers"], "bought_again": s["bought_again"], "still_open": s["still_open"],
                "cohorts": [r[1] for r in report["rows"]]}
    if name == "reactivation":
        return {k: s[k] for k in ("members", "came_back", "spent_cents")}
    if name == "retention":
        cells = {}
        for row in report["rows"]:
            year, month = map(int, row[0].split("-"))
            cells.update({(year * 12 + month - 1, k): v for k, v in enumerate(row[2:]) if v})
        return {"members": s["members"], "cohorts": s["cohorts"], "cells": cells}
    if name == "new-customers":
        return {"new": s["new"], "active": s["active"]}
    if name == "tier-migration":
        return {(a, b): n for a, row in s["matrix"].items() for b, n in row.items() if n}
    return {k: v for k, v in s["segments"].items() if v}


def _time(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _site(ctx: TillContext, db: Path, runs: int, site: str, series: dict[str, tuple[Rounds, str, str]],
          wrong: list[str]) -> None:
    """Each report at one site, against pandas, in `runs` rounds (A/B then B/A, `_series.pair`)."""
    from bench.figures import _reports_pandas  # noqa: F401  lazy (test extra); imported here so no round times it
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rounds = {name: Rounds() for name in NAMES}
    reports: dict[str, Any] = {}
    refs: dict[str, Any] = {}
    frames: dict[str, Any] = {}

    def ours(name: str) -> float:
        t, reports[name] = _time(partial(run_report, ctx, name, start=START, end=END))
        return t

    def theirs(name: str) -> float:
        if "sales" not in frames:  # pandas reads the sales once a round; each report's pandas time counts it
            frames["read_s"], frames["sales"] = _time(partial(_pandas_load, conn))
        t, refs[name] = _time(partial(_pandas, name, conn, ctx, frames["sales"]))
        return float(frames["read_s"]) + t

    try:
        for i in range(runs):
            for name in NAMES:
                pair(rounds[name], i, runs, partial(ours, name), partial(theirs, name))
            frames.clear()
    finally:
        conn.close()
    for name in NAMES:
        if _ours(reports[name]) != refs[name]:
            wrong.append(f"{site} {name}: ours {_ours(reports[name])!r:.300} != pandas {refs[name]!r:.300}")
        series[f"{site}: {name}"] = (rounds[name], f"{name} at {site}", f"{name} in pandas at {site}")


def run(env: BenchEnv) -> Figure:
    runs = env.samples(5, 3)
    series: dict[str, tuple[Rounds, str, str]] = {}
    wrong: list[str] = []
    t_chain, chain = _time(lambda: chain_db(env))
    till = open_till(env.home, create=False)
    waited = opening_check_done()
    try:
        _site(till, env.db, runs, "till", series, wrong)
    finally:
        till.close()
    ho = TillContext(connect(chain), from_mapping({"store_id": "HO", "till_id": "HO"}))
    try:
        sales = ho.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
        _site(ho, chain, runs, "head office", series, wrong)
    finally:
        ho.close()
    status, verdicts, judged = judge_all(series, lambda m, b: m.p99 < LIMIT_S, unit="s",
                                         at_this_scale=not env.quick)
    extra = {name: (f"median {v.measure.median:.2f} s, p99 {v.measure.p99:.2f} s; pandas median"
                    f" {v.baseline.median:.2f} s, p99 {v.baseline.p99:.2f} s;"
                    f" ratio {v.measure.median / v.baseline.median:.2f}x") for name, v in verdicts.items()}
    worst = max(verdicts.values(), key=lambda v: v.measure.p99)
    notes = [f"period {START} to {END}; {runs} rounds per report and site, A/B then B/A (`bench.method`'s rule,"
             f" `_series.pair`); head-office snapshot {sales:,} sales (built in {t_chain:.0f} s, or taken from the"
             " cache)",
             f"the till's opening check (background quick_check of `open_till`) let finish first: {waited:.0f} s,"
             " once per till start, not per report",
             "the 5 s target is judged on each report's p99 (with fewer than 100 samples its maximum: stricter than"
             " the claim); the ratio is of medians",
             "head office reads each member's purchase days from the snapshot's purchase summary"
             " (`purchase_table.build_summary`), built once per snapshot by head office's upkeep, not per report: "
             + f"building it on this snapshot took {_summary_seconds(chain)} (a cost of each snapshot refresh)",
             "the till reads its own sales (no summary: a till's sales change with every sale)",
             "points-liability at the till: its own figure, `liability` (pandas over the whole ledger: ~100 s"
             " a round); not at head office: the bench's snapshot holds no ledger",
             "measure and baseline shown: the slowest report (by p99); every report is in the details",
             "pandas' time per report = its read of the sales and refunds (once per round and site, counted in"
             " full in each report) + its computation"]
    if wrong:
        return Figure(KEY, TITLE, TARGET, "ERROR", measure=worst.measure, baseline=worst.baseline,
                      reason="reports differ from pandas: " + "; ".join(wrong), notes=notes, extra=extra)
    return Figure(KEY, TITLE, TARGET, status, measure=worst.measure, baseline=worst.baseline, judged=judged,
                  notes=notes, extra=extra)

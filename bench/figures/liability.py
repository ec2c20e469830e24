"""Points liability at the till as of a day, at chain scale, against the same computation in pandas.

Measured: `run_report(ctx, "points-liability", end=day)` on the generated till (its month summary
`store.point_months`, the ledger's part months), as of the history's last day (a month's end: no ledger row
read) and a past day mid-month (a part month at both ends). Baseline, in the same run: pandas over the whole
ledger (`_liability_pandas`, written from docs/marketing.md, not from the till's code), reading it once per
round from the same database; that read is counted in full in each day's pandas time. Both answers are
checked equal first: a fast wrong answer is an ERROR.

The method (`bench.method`): rounds A/B then B/A (`_series.pair`), halves judged apart. pandas takes minutes
a round at full scale, so it gets few rounds (2: one A/B, one B/A) and the ratio is of medians; our report
runs many times in each round (100 samples a day at full scale), and the 5 s target is judged on our p99.
A figure of its own (not a row of `reports`): ~15 minutes at full scale (pandas ~100 s a round at load 1).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import date
from functools import partial
from typing import Any

from bench.env import BenchEnv
from bench.figures._series import judge_all, opening_check_done, pair
from bench.method import Rounds
from bench.stats import Figure, Measure
from pos_client.services.marketing.reports import run_report
from pos_client.services.program_settings import expiry as expiry_rules
from pos_client.till import open_till

KEY = "liability"
TITLE = "Points liability at the till as of a day (month end, mid-month)"
TARGET = "p99 < 5 s at full scale, each day; pandas over the same ledger in the same run"
LIMIT_S = 5.0
DAYS = (date(2026, 10, 31), date(2026, 3, 15))  # the history's last day; a past day mid-month


def run(env: BenchEnv) -> Figure:
    from bench.figures import _liability_pandas as pdl  # lazy: pandas is a test-extra dependency

    rounds, per_round = 2, env.samples(50, 3)
    till = open_till(env.home, create=False)
    waited = opening_check_done()
    months = int(expiry_rules(till)["months"])
    conn = sqlite3.connect(f"file:{env.db}?mode=ro", uri=True)
    series = {day: Rounds() for day in DAYS}
    cpu: dict[date, list[float]] = {day: [] for day in DAYS}
    answers: dict[date, set[tuple[int, int]]] = {day: set() for day in DAYS}
    refs: dict[date, set[tuple[int, int]]] = {day: set() for day in DAYS}
    reads: list[float] = []
    frame: dict[str, Any] = {}

    def ours(day: date) -> list[float]:
        out = []
        for _ in range(per_round):
            t0, c0 = time.perf_counter(), time.process_time()
            s = run_report(till, "points-liability", end=day)["summary"]
            out.append(time.perf_counter() - t0)
            cpu[day].append(time.process_time() - c0)
            answers[day].add((s["members"], s["points"]))
        return out

    def theirs(day: date) -> float:
        if "ledger" not in frame:  # once a round, counted in each day's pandas time
            t0 = time.perf_counter()
            frame["ledger"] = pdl.load_ledger(conn)
            reads.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = pdl.liability(frame["ledger"], day, months)
        t = reads[-1] + time.perf_counter() - t0
        refs[day].add(ref)
        return t

    try:
        for i in range(rounds):
            for day in DAYS:
                pair(series[day], i, rounds, partial(ours, day), partial(theirs, day))
            frame.clear()
    finally:
        conn.close()
        till.close()
    status, verdicts, judged = judge_all(
        {str(day): (series[day], f"points-liability as of {day} at the till",
                    f"points-liability as of {day} in pandas over the ledger") for day in DAYS},
        lambda m, b: m.p99 < LIMIT_S, unit="s", at_this_scale=not env.quick)
    wrong = [f"as of {day}: ours {sorted(answers[day])} != pandas {sorted(refs[day])}" for day in DAYS
             if len(answers[day] | refs[day]) != 1]
    extra: dict[str, Any] = {}
    for day in DAYS:
        v = verdicts[str(day)]
        members, points = min(answers[day])
        pandas = ", ".join(f"{x:.0f}" for x in series[day].all_baseline)
        extra[f"as of {day}"] = (f"median {v.measure.median:.2f} s, p99 {v.measure.p99:.2f} s ({v.measure.n} runs),"
                                 f" CPU median {Measure.of('cpu', 's', cpu[day]).median:.2f} s; pandas {pandas} s;"
                                 f" ratio of medians {v.measure.median / v.baseline.median:.3f}x;"
                                 f" {members:,} members, {points:,} points")
    worst = max(verdicts.values(), key=lambda v: v.measure.p99)
    notes = [f"{rounds} rounds (A/B, B/A) per day; in each, {per_round} runs of ours and one of pandas",
             f"the till's opening check (background quick_check of `open_till`) let finish first: {waited:.0f} s,"
             " once per till start, not per report",
             "pandas' time = its read of the whole ledger (once a round: "
             + ", ".join(f"{x:.0f} s" for x in reads) + ") + its computation for the day",
             f"the 5 s target is judged on our p99 ({per_round * rounds} runs a day); pandas' {rounds} samples support"
             " its median only, so the ratio is of medians",
             "ours runs on the page cache its earlier runs warmed (a report asked twice), as a till's would"]
    if wrong:
        return Figure(KEY, TITLE, TARGET, "ERROR", measure=worst.measure, baseline=worst.baseline, notes=notes,
                      extra=extra, reason="ours differs from pandas: " + "; ".join(wrong))
    return Figure(KEY, TITLE, TARGET, status, measure=worst.measure, baseline=worst.baseline, judged=judged,
                  notes=notes, extra=extra)

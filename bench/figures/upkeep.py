"""The day's upkeep for every member (expiry, tier review on review days, lifecycle stages), on the till.

Measured on the figure's own copy of the generated till (the cached dataset stays as generated), opened as
the app opens it (`open_till`: its check runs in the background and leaves the mark the upkeep's own check
starts from, `store.chain_mark`). Four kinds of day, in a till's order:
1. the first upkeep after the upgrade (`WARM_DAY`): the one-off full expiry pass over every home member;
2. normal days right after the history ends (the samples): each pass starts where the previous one stopped;
3. a two-week catch-up (`upkeep.catch_up`: a till that was off), its database check before the first day
   included (it waits for the opening check if that is still running);
4. a quarter end on its own (the tier review runs).
Baseline (bench/method.py): the same computation in pandas on the same data in the same run
(`_upkeep_pandas`: every home member's FIFO expiry due, the stage changes, on a review day the tier changes),
interleaved A/B then B/A with the upkeep, each reading the tables as they stood before the day ran. The pandas
results must equal what the upkeep wrote (members and points expired, stages, tier changes) or the figure is
ERROR. A sale on another connection takes the write lock every 20 ms beside every phase (`LockProbe`); its
longest wait is the second target.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.env import BenchEnv
from bench.figures import _upkeep_pandas as pdu
from bench.method import Rounds, Verdict, interleave, judge
from bench.stats import MISS, NOISY, NOT_JUDGED, PASS, Figure, Measure
from pos_client.domain.lifecycle import StageRules
from pos_client.services.marketing import tiers, upkeep
from pos_client.services.marketing.lifecycle import stage_rules
from pos_client.services.program_settings import expiry as expiry_rules
from pos_client.store import chain_mark
from pos_client.till import open_till

KEY = "upkeep"
TITLE = "Day's upkeep for every member (run_day / catch_up), against the same computation in pandas"
TARGET = "< 60 s per day (first full pass, normal day, quarter end, a day of a catch-up); a sale waits <= 0.5 s"
LIMIT_S = 60.0
WAIT_LIMIT_S = 0.5
WARM_DAY = date(2026, 10, 31)  # the first upkeep on this till: the full pass
FIRST_DAY = date(2026, 11, 1)
CATCH_UP_DAYS = 14  # a till off for two weeks: `catch_up` runs each day in order
QUARTER_END = date(2026, 12, 31)


def pandas_changes(conn: sqlite3.Connection, day: date, rules: StageRules) -> int:
    """Stage changes at the end of `day` in pandas against every stage recorded (head office's figure)."""
    return pdu.stage_changes(conn, day, rules, None)


class LockProbe:
    """A till's sale on another connection: takes the write lock every 20 ms, records how long it waited."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.waits: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        try:
            while not self.stop.wait(0.02):
                t0 = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                self.waits.append(time.perf_counter() - t0)
                conn.execute("COMMIT")
        finally:
            conn.close()

    def __enter__(self) -> LockProbe:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


@dataclass
class Phase:
    """One kind of day: its rounds (upkeep vs pandas), the sale's waits, what did not match."""

    name: str
    rounds: Rounds = field(default_factory=Rounds)
    waits: list[float] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    verdict: Verdict | None = None


class Bench:
    """The till copy, its read-only twin for pandas, and the rules both sides use."""

    def __init__(self, env: BenchEnv, work: Path) -> None:
        self.work = work
        self.ctx = open_till(work, create=False)
        self.ro = sqlite3.connect(f"file:{work / 'till.db'}?mode=ro", uri=True)
        ladder = sorted(tiers.tiers(self.ctx), key=lambda t: t.min_spend_cents)
        self.rules = pdu.Rules(self.ctx.store_id, int(expiry_rules(self.ctx)["months"]), stage_rules(self.ctx),
                               ladder, sorted(self.ctx.rules.excluded_categories))
        self.review = tiers.review_period(self.ctx)

    def close(self) -> None:
        self.ro.close()
        self.ctx.close()

    def phase(self, name: str, days: list[list[date]], ours: Callable[[list[date]], list[upkeep.DayResult]]
              ) -> Phase:
        """Interleave `ours(days[i])` with pandas on the same days, each round from the state before it."""
        ph = Phase(name)
        marks: list[pdu.Marks] = []

        def between(i: int) -> None:
            marks.append(pdu.marks(self.ro))

        def a(i: int) -> float:
            with LockProbe(str(self.work / "till.db")) as probe:
                t0 = time.perf_counter()
                done = ours(days[i])
                seconds = time.perf_counter() - t0
            ph.waits += probe.waits
            ph.results += [d.public() for d in done]
            ph.results[-1]["seconds"] = round(seconds, 2)
            return seconds

        def b(i: int) -> float:
            t0 = time.perf_counter()
            review = [tiers.is_review_day(d, self.review) for d in days[i]]
            data = pdu.load(self.ro, days[i][-1], self.rules, marks[i], any(review))
            found = [pdu.compute(data, d, self.rules, r) for d, r in zip(days[i], review, strict=True)]
            seconds = time.perf_counter() - t0
            ph.results.append({"pandas": [(d.isoformat(), len(f.due), int(f.due.sum()), f.stage_changes,
                                           f.tier_changes) for d, f in zip(days[i], found, strict=True)]})
            return seconds

        ph.rounds = interleave(a, b, len(days), between)
        return ph


def _check(ph: Phase) -> None:
    """Each day the upkeep ran alone must match pandas' day exactly; a catch-up's points in total."""
    ours = [r for r in ph.results if "pandas" not in r]
    theirs = [p for r in ph.results if "pandas" in r for p in r["pandas"]]
    if ph.name == "catch-up":  # pandas computed each day from the state before the catch-up: totals only
        got, want = sum(r["expired_points"] for r in ours), theirs[-1][2] if theirs else 0
        if got != want:
            ph.wrong.append(f"catch-up: expired {got} points, pandas finds {want} due by its last day")
        return
    by_day = {p[0]: p for p in theirs}
    for r in ours:
        p = by_day.get(r["day"])
        if p is None:
            continue
        mine = (r["expired_members"], r["expired_points"], r["stage_changes"])
        if mine != tuple(p[1:4]) or (p[4] is not None and r["tier_changes"] != p[4]):
            ph.wrong.append(f"{r['day']}: upkeep expired/points/stages/tiers {(*mine, r['tier_changes'])},"
                            f" pandas {tuple(p[1:])}")


def _copy(env: BenchEnv, work: Path) -> float:
    t0 = time.perf_counter()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    src, dst = sqlite3.connect(f"file:{env.db}?mode=ro", uri=True), sqlite3.connect(str(work / "till.db"))
    src.backup(dst)
    src.close()
    dst.close()
    return time.perf_counter() - t0


def _overall(statuses: list[str], waited: float, quick: bool) -> str:
    if quick:
        return NOT_JUDGED
    if waited > WAIT_LIMIT_S:
        statuses.append(NOISY if (os.getloadavg()[0] > (os.cpu_count() or 1)) else MISS)
    for s in (MISS, NOISY):
        if s in statuses:
            return s
    return PASS


def run(env: BenchEnv) -> Figure:
    runs = env.samples(5, 3)
    work = env.scratch / "upkeep-till"
    copy_s = _copy(env, work)
    normal = [FIRST_DAY + timedelta(days=i) for i in range(runs)]
    catch_from = normal[-1] + timedelta(days=1)
    catch = [catch_from + timedelta(days=i) for i in range(CATCH_UP_DAYS)]
    bench = Bench(env, work)
    opened = time.perf_counter()
    try:
        def one_day(days: list[date]) -> list[upkeep.DayResult]:
            return [upkeep.run_day(bench.ctx, days[0], source="bench")]

        def catch_up(days: list[date]) -> list[upkeep.DayResult]:
            return upkeep.catch_up(bench.ctx, days[-1], source="bench")

        first = bench.phase("first full pass", [[WARM_DAY]], one_day)
        days = bench.phase("normal day", [[d] for d in normal], one_day)
        marked = chain_mark.valid(work / "till.db", bench.ro) is not None
        mark_at = time.perf_counter() - opened
        caught = bench.phase("catch-up", [catch], catch_up)
        quarter = bench.phase("quarter end", [[QUARTER_END]], one_day)
    finally:
        bench.close()
    phases = [first, days, caught, quarter]
    for ph in phases:
        _check(ph)
        limit = LIMIT_S * (len(catch) if ph is caught else 1)  # a catch-up: under the limit per day it ran

        def ok(m: Measure, b: Measure, limit: float = limit) -> bool:
            return m.tail_value < limit

        ph.verdict = judge(ph.rounds, ok, unit="s", measured=f"upkeep, {ph.name}", baseline=f"pandas, {ph.name}",
                           at_this_scale=not env.quick)
    shutil.rmtree(work, ignore_errors=True)
    longest = {ph.name: max(ph.waits, default=0.0) for ph in phases}
    waited = max(longest.values())
    wrong = [w for ph in phases for w in ph.wrong]
    summary: dict[str, dict[str, Any]] = {ph.name: {
        "status": ph.verdict.status, "seconds": [round(x, 2) for x in ph.rounds.all_measured],
                         "pandas_s": [round(x, 2) for x in ph.rounds.all_baseline],
                         "ratio_median": round(ph.verdict.measure.median / ph.verdict.baseline.median, 2),
                         "longest_sale_wait_s": round(longest[ph.name], 4), "sale_takes": len(ph.waits)}
               for ph in phases if ph.verdict is not None}
    notes = [f"till copied in {copy_s:.0f} s; normal days {normal[0]}..{normal[-1]}; catch-up {catch[0]}..{catch[-1]}"
             f" ({len(catch)} days); quarter end {QUARTER_END}"]
    notes += [f"{name}: upkeep {', '.join(f'{x:.1f}' for x in s['seconds'])} s vs pandas "
              f"{', '.join(f'{x:.1f}' for x in s['pandas_s'])} s (median ratio {s['ratio_median']}x),"
              f" {s['status']}; a sale waited at most {s['longest_sale_wait_s']:.3f} s ({s['sale_takes']} takes)"
              for name, s in summary.items()]
    notes.append(f"the opening check's mark {'was' if marked else 'was NOT yet'} there when the catch-up began"
                 f" ({mark_at:.0f} s after the till opened); the catch-up's time includes its check")
    extra = {"phases": summary, "max_lock_wait_s": round(waited, 4),
             "results": {ph.name: ph.results for ph in phases}}
    main = days.verdict
    assert main is not None
    status = "ERROR" if wrong else _overall([ph.verdict.status for ph in phases if ph.verdict], waited, env.quick)
    judged = {**main.judged, "phases": {k: v["status"] for k, v in summary.items()},
              "longest_sale_wait_s": round(waited, 4), "wait_limit_s": WAIT_LIMIT_S}
    return Figure(KEY, TITLE, TARGET, status, measure=main.measure, baseline=main.baseline, judged=judged,
                  reason="; ".join(wrong) or None, notes=notes, extra=extra)

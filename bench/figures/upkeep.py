"""The day's upkeep for every member (expiry, tier review on review days, lifecycle stages), on the till.

`upkeep.run_day` is timed on a copy of the generated till (the cached dataset stays as generated): normal
days (the samples) right after the history ends, then a two-week catch-up (`upkeep.catch_up`: a till that was
off), then a quarter end on its own (the tier review runs). A sale taking the write lock every 20 ms runs
beside each phase: its longest wait is reported per phase.
Baseline, interleaved, on the same copy just before each day: the lifecycle step in pandas (every member's
stage as of the day against the last recorded one: the changes to record), which must find the same number
of changes as `record_stages` then records. Expiry and the tier review have no pandas twin here and are
included in the measured day only.

The generated till has no upkeep recorded, so its first day is the one-off full expiry pass a till makes
after the upgrade (every member with points): timed on its own (`first_day_s`), not in the samples. The
samples are the days after, as a till lives them: each expiry pass starts where the previous day's stopped.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict
from pos_client.services.marketing import upkeep
from pos_client.services.marketing.lifecycle import stage_rules
from pos_client.till import open_till

KEY = "upkeep"


def probe_for(work: Path) -> LockProbe:
    return LockProbe(str(work / "till.db"))

TITLE = "Day's upkeep for every member (run_day)"
TARGET = "< 60 s per day (normal day, quarter end, a day of a catch-up)"
LIMIT_S = 60.0
WARM_DAY = date(2026, 10, 31)  # the first upkeep on this till: the full pass, timed apart
FIRST_DAY = date(2026, 11, 1)
CATCH_UP_DAYS = 14  # a till off for two weeks: `catch_up` runs each day in order
QUARTER_END = date(2026, 12, 31)


def pandas_changes(conn: sqlite3.Connection, day: date, rules: Any) -> int:
    """How many members' stage at the end of `day` differs from their last recorded one (pandas)."""
    import pandas as pd  # lazy: pandas is a bench/test-only dependency

    from bench.figures import _reports_pandas as pdr  # lazy: it imports pandas

    sales = pdr.load_sales(conn, day)
    st = pdr.stages(pdr.purchase_days(sales), day.toordinal(), rules)
    recorded = pd.read_sql_query(
        "SELECT member_id, stage FROM member_stages WHERE rowid IN (SELECT MAX(rowid) FROM member_stages"
        " GROUP BY member_id)", conn).set_index("member_id")["stage"]
    codes = sales.drop_duplicates("m").set_index("m")["member_id"]
    now = pd.Series(pdr.STAGE_NAMES[st.to_numpy()], index=codes.reindex(st.index).to_numpy())
    return int((recorded.reindex(now.index) != now).sum())


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


def _copy(env: BenchEnv, work: Path) -> float:
    t0 = time.perf_counter()
    src, dst = sqlite3.connect(str(env.db)), sqlite3.connect(str(work / "till.db"))
    src.backup(dst)
    src.close()
    dst.close()
    return time.perf_counter() - t0


def _timed(work: Path, fn: Callable[[], Any]) -> tuple[float, list[float], Any]:
    """fn's time, and the waits of a sale beside it (`LockProbe`)."""
    with probe_for(work) as probe:
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
    return seconds, probe.waits, out


def run(env: BenchEnv) -> Figure:
    runs = env.samples(5, 3)
    work = env.scratch / "upkeep-till"
    work.mkdir(exist_ok=True)
    copy_s = _copy(env, work)
    days = [FIRST_DAY + timedelta(days=i) for i in range(runs)]
    catch_up_to = days[-1] + timedelta(days=CATCH_UP_DAYS)
    ours: list[float] = []
    theirs: list[float] = []
    results: list[dict[str, Any]] = []
    wrong: list[str] = []
    waits: dict[str, list[float]] = {}
    ctx = open_till(work, create=False)
    ro = sqlite3.connect(f"file:{work / 'till.db'}?mode=ro", uri=True)
    try:
        rules = stage_rules(ctx)
        first_s, waits["first"], warm = _timed(work, partial(upkeep.run_day, ctx, WARM_DAY, source="bench"))
        waits["normal"] = []
        for day in days:
            t0 = time.perf_counter()
            expected = pandas_changes(ro, day, rules)
            theirs.append(time.perf_counter() - t0)
            t, w, done = _timed(work, partial(upkeep.run_day, ctx, day, source="bench"))
            ours.append(t)
            waits["normal"] += w
            results.append(done.public())
            if done.stage_changes != expected:
                wrong.append(f"{day}: record_stages recorded {done.stage_changes}, pandas finds {expected}")
        catch_s, waits["catch-up"], caught = _timed(work, partial(upkeep.catch_up, ctx, catch_up_to, source="bench"))
        expected = pandas_changes(ro, QUARTER_END, rules)
        quarter_s, waits["quarter end"], quarter = _timed(
            work, partial(upkeep.run_day, ctx, QUARTER_END, source="bench"))
        if quarter.stage_changes != expected:
            wrong.append(f"{QUARTER_END}: record_stages recorded {quarter.stage_changes}, pandas finds {expected}")
    finally:
        ro.close()
        ctx.close()
    m = Measure.of("upkeep.run_day on a normal day (expiry since yesterday, lifecycle stages), till copy", "s", ours)
    b = Measure.of("lifecycle stage changes for every member in pandas (read + compute)", "s", theirs)
    per_catch_day = catch_s / max(1, len(caught))
    longest = {k: max(v, default=0.0) for k, v in waits.items()}
    notes = [f"normal days {', '.join(d.isoformat() for d in days)}; till copied in {copy_s:.0f} s",
             f"first upkeep on the till ({WARM_DAY}, the full expiry pass, not in the samples): {first_s:.1f} s",
             f"catch-up of {len(caught)} days (through {catch_up_to}, `upkeep.catch_up`, its integrity check"
             f" included): {catch_s:.1f} s, {per_catch_day:.1f} s a day",
             f"quarter-end day {QUARTER_END} (tier review; expiry and stages since {catch_up_to}): {quarter_s:.1f} s",
             "a sale taking the write lock every 20 ms beside it waited at most "
             + ", ".join(f"{v:.3f} s ({k}, {len(waits[k])} takes)" for k, v in longest.items()),
             "the baseline covers the lifecycle step only (see the module docstring)"]
    extra = {"per_day_s": [round(t, 2) for t in ours], "pandas_per_day_s": [round(t, 2) for t in theirs],
             "first_day_s": round(first_s, 2), "catch_up_days": len(caught), "catch_up_s": round(catch_s, 2),
             "quarter_end_s": round(quarter_s, 2), "max_lock_wait_s": {k: round(v, 4) for k, v in longest.items()},
             "first_day": warm.public(), "quarter_end": quarter.public(), "results": results}
    if wrong:
        return Figure(KEY, TITLE, TARGET, "ERROR", measure=m, baseline=b, reason="; ".join(wrong), notes=notes,
                      extra=extra)
    ok = max(m.p99, quarter_s, per_catch_day) < LIMIT_S
    return Figure(KEY, TITLE, TARGET, verdict(ok), measure=m, baseline=b, notes=notes, extra=extra)

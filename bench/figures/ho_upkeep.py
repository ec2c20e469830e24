"""Head office's scheduled upkeep (`headoffice.upkeep.refresh`: a fresh marketing snapshot of the whole chain,
the stages carried over, the due days' lifecycle stages recorded) at the dataset's scale.

On a scratch copy of the bench's head-office store (`console_data.ho_db`, cached beside the dataset): the first
refresh (no snapshot yet: the day due only) timed apart, then the daily refreshes as the scheduler runs them,
each carrying the previous snapshot over and recording one more day. Baseline, interleaved: the lifecycle
step in pandas on the published snapshot (the changes to record), which must count what the refresh records.
"""

from __future__ import annotations

import shutil
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
    try:
        t0 = time.perf_counter()
        ho_upkeep.refresh(store, snap, FIRST_DAY)
        first_s = time.perf_counter() - t0
        for i in range(1, runs + 1):
            day = FIRST_DAY + timedelta(days=i)
            expected, spent = _pandas_on(snap, day)
            theirs.append(spent)
            t0 = time.perf_counter()
            result = ho_upkeep.refresh(store, snap, day)
            ours.append(time.perf_counter() - t0)
            if result is None or result.stage_changes != expected:
                wrong.append(f"{day}: refresh recorded {result and result.stage_changes}, pandas finds {expected}")
    finally:
        store.close()
    m = Measure.of("headoffice.upkeep.refresh (snapshot + carry-over + one day's stages)", "s", ours)
    b = Measure.of("the day's lifecycle stage changes in pandas on the snapshot (read + compute)", "s", theirs)
    notes = [f"head-office store copied in {copy_s:.0f} s; first refresh (no snapshot yet) {first_s:.1f} s",
             "the baseline covers the stage step only; the refresh also rebuilds the whole snapshot"]
    extra = {"first_refresh_s": round(first_s, 2), "per_refresh_s": [round(t, 2) for t in ours]}
    if wrong:
        return Figure(KEY, TITLE, TARGET, "ERROR", measure=m, baseline=b, reason="; ".join(wrong), notes=notes,
                      extra=extra)
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 < LIMIT_S), measure=m, baseline=b, notes=notes, extra=extra)


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

"""The day's upkeep for every member (expiry, tier review on review days, lifecycle stages), on the till.

`upkeep.run_day` is timed on a copy of the generated till (the cached dataset stays as generated), for
consecutive days after the history ends, the last of them a quarter end so the tier review runs too.
Baseline, interleaved, on the same copy just before each day: the lifecycle step in pandas (every member's
stage as of the day against the last recorded one: the changes to record), which must find the same number
of changes as `record_stages` then records. Expiry and the tier review are single SQL passes already; they
have no pandas twin here and are included in the measured day only.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import date, timedelta
from typing import Any

from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict
from pos_client.services.marketing import upkeep
from pos_client.services.marketing.lifecycle import stage_rules
from pos_client.till import open_till

KEY = "upkeep"
TITLE = "Day's upkeep for every member (run_day)"
TARGET = "< 60 s per day"
LIMIT_S = 60.0
FIRST_DAY = date(2026, 11, 1)
QUARTER_END = date(2026, 12, 31)


def _pandas_changes(conn: sqlite3.Connection, day: date, rules: Any) -> int:
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


def run(env: BenchEnv) -> Figure:
    runs = env.samples(5, 3)
    work = env.scratch / "upkeep-till"
    work.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    src, dst = sqlite3.connect(str(env.db)), sqlite3.connect(str(work / "till.db"))
    src.backup(dst)
    src.close()
    dst.close()
    copy_s = time.perf_counter() - t0
    days = [FIRST_DAY + timedelta(days=i) for i in range(runs - 1)] + [QUARTER_END]
    ours: list[float] = []
    theirs: list[float] = []
    results: list[dict[str, Any]] = []
    wrong: list[str] = []
    ctx = open_till(work, create=False)
    ro = sqlite3.connect(f"file:{work / 'till.db'}?mode=ro", uri=True)
    try:
        rules = stage_rules(ctx)
        for day in days:
            t0 = time.perf_counter()
            expected = _pandas_changes(ro, day, rules)
            theirs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            done = upkeep.run_day(ctx, day, source="bench")
            ours.append(time.perf_counter() - t0)
            results.append(done.public())
            if done.stage_changes != expected:
                wrong.append(f"{day}: record_stages recorded {done.stage_changes}, pandas finds {expected}")
    finally:
        ro.close()
        ctx.close()
    m = Measure.of("upkeep.run_day (expiry, tier review on 12-31, lifecycle stages) on a till copy", "s", ours)
    b = Measure.of("lifecycle stage changes for every member in pandas (read + compute)", "s", theirs)
    notes = [f"days {', '.join(d.isoformat() for d in days)}; till copied in {copy_s:.0f} s",
             "the baseline covers the lifecycle step only (see the module docstring)"]
    extra = {"per_day_s": [round(t, 2) for t in ours], "pandas_per_day_s": [round(t, 2) for t in theirs],
             "results": results}
    if wrong:
        return Figure(KEY, TITLE, TARGET, "ERROR", measure=m, baseline=b, reason="; ".join(wrong), notes=notes,
                      extra=extra)
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 < LIMIT_S), measure=m, baseline=b, notes=notes, extra=extra)

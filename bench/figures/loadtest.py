"""The chain load test (issue 15): 200 tills in 50 stores against `headoffice serve --workers N` on a private
PostgreSQL, at 1, 2 and 4 workers (`bench.loadtest`). Target: 0 errors, head office's ledger equal to the
sum of the tills' own, sync lag p99 <= 10 s (a sale at one till to applied at another store's till). The
measure is the sync lag of the last worker count; the curve of requests/s by workers is in the notes, each
with the load average, since the load generators share the machine with head office. The quick run takes
20 tills at 1 and 2 workers and says so.
"""

from __future__ import annotations

from bench.env import BenchEnv
from bench.loadtest import markdown, run_load
from bench.stats import Figure, Measure, verdict
from headoffice import pgcluster as pg

KEY = "loadtest"
TITLE = "200 tills selling, pushing and pulling against head office on PostgreSQL (1/2/4 workers)"
TARGET = "0 errors, equal totals, sync lag p99 <= 10 s"
LAG_P99_S = 10.0


def run(env: BenchEnv) -> Figure:
    reason = pg.available()
    if reason:
        return Figure.skipped(KEY, TITLE, TARGET, reason)
    tills, stores, workers = (20, 5, (1, 2)) if env.quick else (200, 50, (1, 2, 4))
    runs = [run_load(env.scratch / "loadtest", workers=w, tills=tills, stores=stores,
                     seconds=20 if env.quick else 60) for w in workers]
    last = runs[-1]
    lags = [r["lag_p99_s"] for r in runs if r["lag_p99_s"] is not None]
    m = Measure("sync lag, sale to applied at another store's till", "s", float(last["lag_p50_s"] or 0),
                float(last["lag_p99_s"] or 0), int(last["lag_n"]))
    notes = [f"{r['workers']} worker(s): {r['requests_per_s']} req/s, {r['errors']} errors, lag p50/p99"
             f" {r['lag_p50_s']}/{r['lag_p99_s']} s, totals equal {r['totals_equal']}, load"
             f" {r['loadavg_start']} -> {r['loadavg_end']}" for r in runs]
    if env.quick:
        notes.append(f"quick run: {tills} tills, not 200; the target is judged at full scale")
    ok = all(r["errors"] == 0 and r["totals_equal"] for r in runs) and bool(lags) and max(lags) <= LAG_P99_S
    return Figure(KEY, TITLE, TARGET, verdict(ok), measure=m, notes=notes,
                  extra={"runs": runs, "table": markdown(runs)})

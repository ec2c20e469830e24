"""The chain load test (issue 15): 200 tills in 50 stores against `headoffice serve --workers N` on a private
PostgreSQL, at 1, 2 and 4 workers (`bench.loadtest`). Target: 0 errors, head office's ledger equal to the
sum of the tills' own, sync lag p99 <= 10 s (a sale at one store to applied at a till of another store that
follows its member: the tills pull their own view), the tills on a sync worker's schedule (a round after each
sale and every 5 s). Then, per worker count, the saturation run (the same tills syncing back to back and
selling every ~2 s, ten times as often, 30 s):
the requests/s the machine can serve, reported as the curve, not judged (no target; on 2 CPUs head office,
PostgreSQL and the 200 tills share them, so the run records each one's CPU).

On the bench method (`bench.method`): per worker count the measure is every lag sample and the baseline,
from the same run and the same pairs, is each sample's floor, the lag an instantly answering head office
would have given on that schedule (the sale to the receiving till's next round). The samples are split by
sale time into the window's halves: a floor whose halves disagree (the tills themselves starved) or a
target met in one half only is NOISY; the tail claimed is the one the count supports; an oversubscribed
machine (load above the cores, always the case with 200 tills on 2 CPUs) turns a MISS into NOISY. That
rule reads the load during the schedule runs it judges (`judged_loads`: each one's start, window end and end),
not the figure's end, which comes after the saturation runs (load 16 where the judged runs ran at 1.4-6.3);
the saturation runs' loads are recorded apart (`judged["saturation_load"]`). Each window, the schedule runs' and
the saturation runs', first waits (at most 180 s, 60 s in quick mode) for the 1-minute load the previous run and
its own setup left to fall below the cores (`bench.method.wait_until_quiet`, method step 7; load 5.3 and 7.7 at
the 2- and 4-worker windows' starts before it): the wait and the load it started at are in each run's note. A
machine that never gets quiet still makes the figure NOISY.
Errors or unequal totals are a MISS whatever the load, in either run: they are not noise. The quick run
takes 20 tills at 1 and 2 workers and is not judged.
"""

from __future__ import annotations

from typing import Any

from bench.env import BenchEnv
from bench.loadtest import SATURATE_SALE_EVERY, markdown, run_load
from bench.method import JUDGED_LOAD, QUIET_WAIT_S, Load, Rounds, Verdict, judge
from bench.stats import MISS, NOISY, NOT_JUDGED, PASS, Figure
from headoffice import pgcluster as pg

KEY = "loadtest"
TITLE = "200 tills selling and syncing against head office on PostgreSQL (1/2/4 workers)"
TARGET = "0 errors, equal totals, sync lag p99 <= 10 s"
LAG_P99_S = 10.0
SYNC_EVERY_S = 5.0  # the tills' [headoffice] interval: a 30 s default could never meet a 10 s lag
SATURATE_S = 30.0  # the saturation run's window (tills syncing back to back)
RANK = (MISS, NOISY, NOT_JUDGED, PASS)  # the figure's status is its worst worker count's
QUIET_QUICK_S = 60.0  # the quick run's bound on each window's wait for a quiet machine (not judged anyway)


def halves(run: dict[str, Any]) -> Rounds:
    """Lags (measured) and their floors (baseline) by the half of the window their sale was in."""
    samples = run["lag_samples"]  # (sale time, lag, floor), sorted by sale time
    out = Rounds()
    mid = len(samples) // 2
    for half, part in enumerate((samples[:mid], samples[mid:])):
        out.measured[half].extend(s[1] for s in part)
        out.baseline[half].extend(s[2] for s in part)
    return out


def verdict_of(run: dict[str, Any], at_this_scale: bool) -> Verdict:
    v = judge(halves(run), lambda m, b: m.tail_value <= LAG_P99_S, unit="s", at_this_scale=at_this_scale,
              measured=f"sync lag, sale to applied at another store's till ({run['workers']} worker(s))",
              baseline="its floor: the sale to the receiving till's next sync round (the schedule's share)")
    if run["errors"] or not run["totals_equal"]:
        v.status = MISS
        v.judged["why"] = f"{run['errors']} errors, totals equal {run['totals_equal']}: correctness, not noise"
        v.judged["pass_with_factor"] = False
    return v


def judged_loads(runs: list[dict[str, Any]]) -> list[Load]:
    """The 1/5/15-minute load averages read during each run (`bench.loadtest.loadavg` strings: at its
    start, at its window's end and at its end), for the overload rule."""
    out: list[Load] = []
    for r in runs:
        for key in ("loadavg_start", "loadavg_window_end", "loadavg_end"):
            if r.get(key):
                one, five, fifteen = (float(x) for x in str(r[key]).split()[:3])
                out.append((one, five, fifteen))
    return out


def note(run: dict[str, Any], v: Verdict) -> str:
    k = run["kinds"]
    push, pull = k.get("push", {}), k.get("pull", {})
    return (f"{run['workers']} worker(s): {v.status}; {run['requests_per_s']} req/s, push p50/{push.get('claim')}"
            f" {push.get('p50_ms')}/{push.get('tail_ms')} ms, pull p50/{pull.get('claim')} {pull.get('p50_ms')}/"
            f"{pull.get('tail_ms')} ms, {run['errors']} errors, lag p50/{run['lag_claim']} {run['lag_p50_s']}/"
            f"{run['lag_p99_s']} s (floor {run['floor_p50_s']}/{run['floor_p99_s']} s), totals equal"
            f" {run['totals_equal']}, load {run['loadavg_start']} -> {run['loadavg_end']} (before the window:"
            f" {run.get('quiet_wait')})")


def run(env: BenchEnv) -> Figure:
    reason = pg.available()
    if reason:
        return Figure.skipped(KEY, TITLE, TARGET, reason)
    tills, stores, workers = (20, 5, (1, 2)) if env.quick else (200, 50, (1, 2, 4))
    runs, saturated = [], []
    quiet = QUIET_QUICK_S if env.quick else QUIET_WAIT_S  # each window waits for the load the last one left
    for w in workers:  # each worker count's schedule run, then its saturation run, so both see the same machine
        runs.append(run_load(env.scratch / "loadtest", workers=w, tills=tills, stores=stores, sync_every=SYNC_EVERY_S,
                             seconds=20 if env.quick else 60, quiet_s=quiet))
        saturated.append(run_load(env.scratch / "loadtest", workers=w, tills=tills, stores=stores, sync_every=0,
                                  sale_every=SATURATE_SALE_EVERY, seconds=10 if env.quick else SATURATE_S,
                                  quiet_s=quiet))
    verdicts = [verdict_of(r, not env.quick) for r in runs]
    for vr, sat in zip(verdicts, saturated, strict=True):
        if sat["errors"] or not sat["totals_equal"]:
            vr.status = MISS
            vr.judged["why"] = (f"saturation run: {sat['errors']} errors, totals equal {sat['totals_equal']}:"
                                " correctness, not noise")
    worst = min(range(len(runs)), key=lambda i: (RANK.index(verdicts[i].status), -verdicts[i].measure.tail_value))
    v = verdicts[worst]
    notes = [note(r, vr) for r, vr in zip(runs, verdicts, strict=True)]
    notes += [f"saturation, {s['workers']} worker(s), tills syncing back to back, a sale every ~{s['sale_every_s']} s"
              f" per till: {s['requests_per_s']} req/s (push {s['kinds'].get('push', {}).get('per_s')}/s, pull"
              f" {s['kinds'].get('pull', {}).get('per_s')}/s), {s['errors']} errors, totals equal"
              f" {s['totals_equal']}, CPU % {s['cpu_pct']}, PG sessions {s['pg_backends']},"
              f" load {s['loadavg_start']} -> {s['loadavg_end']} (before the window: {s.get('quiet_wait')})"
              for s in saturated]
    if env.quick:
        notes.append(f"quick run: {tills} tills, not 200; the target is judged at full scale")
    judged_load, sat_load = judged_loads(runs), judged_loads(saturated)
    notes.append("load the overload rule reads (the schedule runs' start, window end, end): 1-min max "
                 f"{max((x[0] for x in judged_load), default=0.0):.2f}; the saturation runs' (not judged): 1-min "
                 f"max {max((x[0] for x in sat_load), default=0.0):.2f}")
    judged = {**v.judged, "workers": runs[worst]["workers"],
              "by_workers": {r["workers"]: vr.status for r, vr in zip(runs, verdicts, strict=True)},
              JUDGED_LOAD: judged_load, "saturation_load": sat_load}
    slim = [{k: x for k, x in r.items() if k not in ("lag_samples", "plan", "sold")} for r in runs + saturated]
    return Figure(KEY, TITLE, TARGET, v.status, measure=v.measure, baseline=v.baseline, judged=judged, notes=notes,
                  extra={"runs": slim, "table": "\n\n" + markdown(runs + saturated)})

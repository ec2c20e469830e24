"""The bench method: how a figure is measured so that its verdict survives a busy machine.

Why: on a shared 2-core machine three quick runs in a row gave different verdicts, a baseline
measured before the figure drifted apart from it, a "p99" of 5 samples was a maximum. So:

1. Interleave. `interleave(measured, baseline, rounds)` runs one round of each at a time, A then B,
   then B then A (alternating), so both see the same load and neither always goes first.
2. Claim only what the count supports. `stats.claimable(n)`: p99 needs >= 100 samples, p90 >= 10,
   else p50; `Measure.of` records the claim and the tail at it, the report prints which one it is.
3. Measure the baseline twice. The rounds are split in halves; `judge` compares the baseline's
   first-half median with its second-half median. When they differ by more than `margin` the
   machine moved during the figure and the verdict is NOISY, never PASS. The target is also judged
   on each half alone: when the halves disagree (PASS on one, MISS on the other) the figure is too
   close to its target for this machine's noise, and the verdict is NOISY too.
4. Judge only what means something here. `judge(..., at_this_scale=False)` (a target stated for
   the full dataset, measured in --quick) gives NOT_JUDGED; the numbers are still reported.
5. Record the machine. `observed(run)` (what `python -m bench` wraps every figure in) records the
   date, the load average at the start and end, the processes that competed (by %CPU over the
   figure) and `cpu_probe()` before and after: a fixed pure-Python loop whose time says how much
   CPU the figure was actually given.
6. Distrust an oversubscribed machine. When the 1-minute load average at the figure's start or end
   exceeds the cores, preemption (tens of ms) lands in the tails: a MISS becomes NOISY, and a PASS
   stands only if it would still pass with the measure load/cores times worse, at most
   `OVERLOAD_FACTOR` (a CPU-bound run given cores/load of a core is at most that much slower, so a
   ratio whose baseline load inflated too cannot pass by luck); else NOISY. A figure that judges only
   part of what it runs (the load test judges its schedule runs, not the saturation runs after them)
   records the loads read during that part in `judged[JUDGED_LOAD]`; the rule reads those instead.
7. Do not judge a run by the load its predecessor left. A figure that starts heavy runs back to back
   (the load test's worker counts) waits before each one with `wait_until_quiet` until the 1-minute load
   average is below the cores, for a bounded time, and reports the wait and the load it started at; when
   it never gets quiet, step 6 still applies.

Adopting it in a figure (latency or throughput alike):

    rounds = interleave(lambda i: time_ours(i), lambda i: time_baseline(i), n)
    v = judge(rounds, lambda m, b: m.tail_value <= 2 * b.tail_value, measured="what A is",
              baseline="what B is", unit="ms")  # rates=True for rows/s (the tail is the slow side)
    return Figure(KEY, TITLE, TARGET, v.status, measure=v.measure, baseline=v.baseline, judged=v.judged)

A throughput figure gets a like-for-like baseline: the same rows through the plainest code that
does the same work (a raw executemany, a raw read of the same rows), one run of each per round.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import machine
from bench.stats import MISS, NOISY, NOT_JUDGED, PASS, Figure, Measure, claimable, median, percentile

MARGIN = 0.25  # baseline halves further apart than 25% of the smaller: the machine moved
OVERLOAD_FACTOR = 2.0  # on an oversubscribed machine a PASS must survive the measure being this much worse
Sample = Callable[[int], float | list[float]]  # round index -> one sample, or several from one run
Check = Callable[[Measure, Measure], bool]  # (measured, baseline) -> target met
Load = tuple[float, float, float]
QUIET_WAIT_S = 180.0  # the 1-minute average decays by e in 60 s: 16 -> 2 takes ~125 s on an idle machine
QUIET_POLL_S = 5.0
JUDGED_LOAD = "judged_load"  # judged[...]: the load averages read during the runs the verdict is about


@dataclass
class Rounds:
    """Samples of A (measured) and B (baseline), kept per half of the rounds."""

    measured: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    baseline: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))

    @property
    def all_measured(self) -> list[float]:
        return self.measured[0] + self.measured[1]

    @property
    def all_baseline(self) -> list[float]:
        return self.baseline[0] + self.baseline[1]


def _add(into: list[float], got: float | list[float]) -> None:
    if isinstance(got, list):
        into.extend(got)
    else:
        into.append(got)


def interleave(measured: Sample, baseline: Sample, rounds: int,
               between: Callable[[int], None] | None = None) -> Rounds:
    """`rounds` rounds of A/B then B/A; `between(i)` runs untimed before round i (a pause, a reset)."""
    out = Rounds()
    for i in range(rounds):
        if between is not None:
            between(i)
        half = 0 if i < rounds // 2 or rounds < 2 else 1
        if i % 2 == 0:
            _add(out.measured[half], measured(i))
            _add(out.baseline[half], baseline(i))
        else:
            _add(out.baseline[half], baseline(i))
            _add(out.measured[half], measured(i))
    return out


def at(samples: list[float], what: str, unit: str, claim: int, rates: bool = False) -> Measure:
    """A Measure with its tail at a given claim (the halves are judged at the whole's claim)."""
    tail = percentile(samples, 100 - claim if rates else claim)
    return Measure(what, unit, median(samples), percentile(samples, 1 if rates else 99), len(samples), claim, tail)


@dataclass
class Verdict:
    status: str
    measure: Measure
    baseline: Measure
    judged: dict[str, Any]


def judge(rounds: Rounds, ok: Check, *, measured: str, baseline: str, unit: str, margin: float = MARGIN,
          at_this_scale: bool = True, rates: bool = False, baseline_fixed: bool = False) -> Verdict:
    """PASS or MISS only when the baseline held still and both halves agree; else NOISY.

    `baseline_fixed`: the baseline is computed (a wire time), so its halves cannot disagree; the
    halves of the measure are still judged apart.
    """
    a, b = rounds.all_measured, rounds.all_baseline
    claim = min(claimable(len(a)), claimable(len(b)))
    m, base = at(a, measured, unit, claim, rates), at(b, baseline, unit, claim, rates)
    judged: dict[str, Any] = {"claim": f"p{claim}", "margin": margin, "samples": [len(a), len(b)]}
    reasons: list[str] = []
    if all(rounds.measured) and all(rounds.baseline):
        b1, b2 = (median(h) for h in rounds.baseline)
        spread = abs(b1 - b2) / min(b1, b2) if min(b1, b2) > 0 else 0.0
        judged["baseline_halves"] = [b1, b2]
        judged["baseline_spread"] = round(spread, 3)
        if spread > margin and not baseline_fixed:
            reasons.append(f"the baseline's two halves disagree: median {b1:.4g} vs {b2:.4g} {unit} "
                           f"({spread:.0%} apart, margin {margin:.0%})")
        halves = [ok(at(ha, measured, unit, claim, rates), at(hb, baseline, unit, claim, rates))
                  for ha, hb in zip(rounds.measured, rounds.baseline, strict=True)]
        judged["halves"] = [PASS if h else MISS for h in halves]
        if halves[0] != halves[1]:
            reasons.append("the target is met on one half of the rounds and missed on the other")
    whole = PASS if ok(m, base) else MISS
    judged["would_be"] = whole
    judged["pass_with_factor"] = ok(_worse(m, OVERLOAD_FACTOR, rates), base)
    judged["holds_until"] = _holds_until(lambda f: ok(_worse(m, f, rates), base))
    if not at_this_scale:
        status = NOT_JUDGED
        judged["why"] = "the target is stated for the full dataset; at this scale the figure is reported, not judged"
    elif reasons:
        status = NOISY
        judged["why"] = "; ".join(reasons)
    else:
        status = whole
    return Verdict(status, m, base, judged)


def _worse(m: Measure, factor: float, rates: bool) -> Measure:
    k = 1 / factor if rates else factor
    return Measure(m.what, m.unit, m.median * k, m.p99 * k, m.n, m.claim, m.tail_value * k)


def _holds_until(passes: Callable[[float], bool]) -> float:
    """The largest factor in [1, OVERLOAD_FACTOR] (to 1%) by which the measure can worsen and still pass;
    0.0 when it does not pass as measured."""
    if not passes(1.0):
        return 0.0
    if passes(OVERLOAD_FACTOR):
        return OVERLOAD_FACTOR
    lo, hi = 1.0, OVERLOAD_FACTOR
    while hi - lo > 0.01:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if passes(mid) else (lo, mid)
    return round(lo, 2)


def loads_judged(fig: Figure, whole: list[Load | None]) -> list[Load | None]:
    """The loads the overload rule reads: those the figure recorded for the runs it judges, else the
    whole figure's (start and end)."""
    own = fig.judged.get(JUDGED_LOAD) if fig.judged else None
    if not own:
        return whole
    return [(float(x[0]), float(x[1]), float(x[2])) if x else None for x in own]


def overload_rule(fig: Figure, load: list[Load | None], cores: int) -> None:
    """Method step 6: on an oversubscribed machine, keep only the verdicts load cannot have made."""
    worst = max((x[0] for x in load if x), default=0.0)
    if not fig.judged or fig.status not in (PASS, MISS) or worst <= cores:  # only figures `judge` judged
        return
    fig.judged["overloaded"] = worst
    need = min(OVERLOAD_FACTOR, worst / cores)
    holds = fig.judged.get("holds_until", OVERLOAD_FACTOR if fig.judged.get("pass_with_factor") else 0.0)
    if fig.status == PASS and holds >= need:
        return
    why = (f"load {worst:.1f} on {cores} cores: " + (
        "a miss here may be the machine's (preemption in the tail)" if fig.status == MISS else
        f"the pass does not hold with the measure {need:.2f}x worse"))
    fig.judged["why"] = "; ".join(x for x in (fig.judged.get("why"), why) if x)
    fig.judged.setdefault("would_be", fig.status)
    fig.status = NOISY


@dataclass
class Quiet:
    """What `wait_until_quiet` found: seconds waited, the load then, and whether it got below the cores."""

    waited_s: float
    load: Load | None
    quiet: bool

    def words(self) -> str:
        one = f"{self.load[0]:.2f}" if self.load else "unknown"
        return f"waited {self.waited_s:.0f} s, load {one}" + ("" if self.quiet else " (never below the cores)")


def wait_until_quiet(limit_s: float = QUIET_WAIT_S, cores: int | None = None, poll_s: float = QUIET_POLL_S) -> Quiet:
    """Sleep until the 1-minute load average is below the cores, at most `limit_s` (method step 7): a run that
    starts on the load the previous run left is judged NOISY for a load it did not make."""
    cores = cores if cores is not None else os.cpu_count() or 1
    t0 = time.monotonic()
    while True:
        load = machine.load_average()
        waited = time.monotonic() - t0
        if load is None or load[0] < cores:  # unreadable: nothing to wait for, and not called quiet
            return Quiet(round(waited, 1), load, load is not None)
        if waited >= limit_s:
            return Quiet(round(waited, 1), load, False)
        time.sleep(min(poll_s, limit_s - waited))


def cpu_probe() -> float:
    """Milliseconds for a fixed pure-Python loop (best of 3): how much CPU this process gets now."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        acc = 0
        for i in range(200_000):
            acc += i * i % 7
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 2)


def observed(run: Callable[[], Figure]) -> Figure:
    """Run a figure and record what the machine was doing meanwhile into `figure.context`."""
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_start, probe_start = machine.load_average(), cpu_probe()
    procs = machine.snapshot()
    t0 = time.perf_counter()
    fig = run()
    seconds = time.perf_counter() - t0
    load_end = machine.load_average()
    fig.context = {"date": started, "seconds": round(seconds, 1), "load_start": load_start,
                   "load_end": load_end, "competing": machine.competing(procs),
                   "cpu_probe_ms": [probe_start, cpu_probe()]}
    overload_rule(fig, loads_judged(fig, [load_start, load_end]), os.cpu_count() or 1)
    return fig

"""Several series in one figure (a report per row), each on the bench method, one verdict for the figure.

Why: `method.interleave` times one pair per round; the reports' figures time several pairs in a round that
share one pandas read. `pair` applies interleave's rule (A/B on even rounds, B/A on odd ones, the rounds
split in halves) to each series of the round; `judge_all` judges each series with `method.judge` and keeps
the worst verdict: one MISS is the figure's MISS, else one NOISY makes it NOISY.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bench.method import Check, Rounds, Verdict, judge
from bench.stats import MISS, NOISY, NOT_JUDGED, PASS

Run = Callable[[], float | list[float]]
OPENING_CHECK = "till-db-check"  # the thread `store.integrity.check_on_open` leaves running on a large database


def opening_check_done() -> float:
    """Wait for the till's opening check (quick_check and the chain, in the background of `open_till` on a
    database over 64 MB: 75-105 s at full scale) so no round shares the CPU with it; the seconds waited."""
    t0 = time.perf_counter()
    for thread in threading.enumerate():
        if thread.name == OPENING_CHECK:
            thread.join()
    return time.perf_counter() - t0


def pair(into: Rounds, i: int, rounds: int, measured: Run, baseline: Run) -> None:
    """Round `i` of `rounds` for one series: its measure and its baseline, in `interleave`'s order."""
    half = 0 if i < rounds // 2 or rounds < 2 else 1
    order = ((measured, into.measured[half]), (baseline, into.baseline[half]))
    for run, samples in order if i % 2 == 0 else order[::-1]:
        got = run()
        samples.extend(got if isinstance(got, list) else [got])


def judge_all(series: dict[str, tuple[Rounds, str, str]], ok: Check, *, unit: str, at_this_scale: bool
              ) -> tuple[str, dict[str, Verdict], dict[str, Any]]:
    """Each series (name -> rounds, what was measured, what the baseline is) judged; the figure's status, the
    verdicts and the `judged` record the report and `method.overload_rule` read."""
    verdicts = {name: judge(r, ok, measured=m, baseline=b, unit=unit, at_this_scale=at_this_scale)
                for name, (r, m, b) in series.items()}
    statuses = {v.status for v in verdicts.values()}
    would = {v.judged["would_be"] for v in verdicts.values()}
    status = MISS if MISS in statuses else NOISY if NOISY in statuses else NOT_JUDGED if NOT_JUDGED in statuses \
        else PASS
    judged: dict[str, Any] = {
        "claim": ", ".join(sorted({v.judged["claim"] for v in verdicts.values()})),
        "margin": next(iter(verdicts.values())).judged["margin"],
        "halves": {name: v.judged.get("halves", "-") for name, v in verdicts.items()},
        "baseline_spread": max((v.judged.get("baseline_spread", 0.0) for v in verdicts.values()), default=0.0),
        "would_be": MISS if MISS in would else PASS,
        "pass_with_factor": all(v.judged["pass_with_factor"] for v in verdicts.values()),
        "holds_until": min((v.judged.get("holds_until", 0.0) for v in verdicts.values()), default=0.0),
    }
    why = [f"{name}: {v.judged['why']}" for name, v in verdicts.items() if v.status in (NOISY, NOT_JUDGED)]
    if status == NOT_JUDGED:
        why = [next(v.judged["why"] for v in verdicts.values() if v.status == NOT_JUDGED)]
    if why and status != PASS:
        judged["why"] = "; ".join(why)
    return status, verdicts, judged

"""Push of 100,000 waiting entries to a head office on loopback.

Target (issue 15): >= 80% of head office's own ingest rate for the same entries. Baseline: head office's
parse + durable ingest of the entries the till pushed, no HTTP (`bench.sync_measure.ingest_rate`: the
same JSON bodies decoded, `store.ingest`, batches of BATCH = the push's own, a fresh SQLite store), the
ceiling any push acknowledged after a durable ingest can reach. Measured: `bench.sync_measure.push_waiting`,
a registered till pushing that many waiting entries to the real head office (Starlette + uvicorn, SQLite
store) in a process of its own (in production it is another machine).

On `bench.method`: ROUNDS rounds of push then ingest, then ingest then push (`interleave`), judged by
`judge` on the rates (NOISY when the baseline's halves disagree or the halves' verdicts differ). With
fewer than 10 rounds the claim is the median. In quick mode (10,000 entries: five batches, where the
pipeline's first read and last record weigh) the figure is reported, not judged.

Notes: raw httpx POSTs of the same bodies to a discard endpoint (what the network and encoding cost
alone), the per-round shares, and where the time goes in one more push, profiled on both sides: the
till's main thread, and head office's every thread (`bench/ho_profile.py`: its ingest runs in the pool).
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.discard import discard_server
from bench.env import BenchEnv
from bench.figures.ingest import loadavg
from bench.method import interleave, judge
from bench.stats import Figure, median
from bench.sync_measure import ingest_rate, push_waiting
from sync.push import ENTRY_BATCH
from wire.batches import encode

KEY = "push"
TITLE = "push of 100,000 waiting entries to a head office on loopback"
TARGET = ">= 80% of head office's own parse + durable ingest of the same entries"
MIN_SHARE = 0.8
ROUNDS = 6
BATCH = ENTRY_BATCH  # the push's own batches, and the baseline's


def _discard_rate(rows: list[dict[str, Any]]) -> float:
    """Entries/s of raw POSTs of the same entries as JSON bodies to an endpoint that drops them."""
    bodies = [encode({"entries": rows[i:i + BATCH]}) for i in range(0, len(rows), BATCH)]
    with discard_server() as url, httpx.Client(base_url=url) as client:
        t0 = time.perf_counter()
        for body in bodies:
            client.post("/discard", content=body, headers={"content-type": "application/json"}).raise_for_status()
        return len(rows) / (time.perf_counter() - t0)


def _top(stats: dict[Any, Any], n: int = 8) -> list[str]:
    """The `n` costliest functions (own time) of profile stats, as 'seconds (share) name (file:line)'."""
    rows = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]
    total = sum(v[2] for v in stats.values()) or 1.0
    return [f"{v[2]:.3f} s ({v[2] / total:.0%}) {f[2]} ({f[0].rsplit('/', 1)[-1]}:{f[1]})" for f, v in rows]


Where = Callable[[tuple[str, int, str]], bool]
# head office's parts of a push: (what, which functions, 3 = cumulative or 2 = own time)
_HO_PARTS: tuple[tuple[str, Where, int], ...] = (
    ("store.ingest (the baseline's part, with the body decode)", lambda f: f[2] == "ingest"
     and f[0].endswith("headoffice/store/ingest.py"), 3),
    ("PushBatch.decode (the baseline's part)", lambda f: f[2] == "decode" and f[0].endswith("wire/batches.py"), 3),
    ("the till's contact recorded (console_tills.recording)", lambda f: f[2] == "record_contact", 3),
    ("token and lock-out checks", lambda f: f[2] in ("authenticate", "locked_until")
     and f[0].endswith(("store/sql.py", "store/console.py")), 3),
    ("HTTP parsing (h11, own time)", lambda f: "/h11/" in f[0], 2),
    ("uvicorn and starlette (own time)", lambda f: "/uvicorn/" in f[0] or "/starlette/" in f[0], 2),
    ("event loop waiting (epoll: on the ingest thread, or on the till)",
     lambda f: f[2] == "<method 'poll' of 'select.epoll' objects>", 2),
)
_HANDLER = 4  # the first parts above are the push's handling at head office (no overlap between them)


def _headoffice_parts(path: Path, seconds: float) -> list[str]:
    """Where head office spent the profiled push (`seconds` long), every thread."""
    if not path.exists():
        return [f"no profile written ({path.name})"]
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    parts = [sum(v[col] for f, v in stats.items() if where(f)) for _, where, col in _HO_PARTS]
    out = [f"{t:.3f} s {what}" for t, (what, _, _) in zip(parts, _HO_PARTS, strict=True)]
    handling = sum(parts[:_HANDLER])
    out.append(f"= {handling:.3f} s in the push's handling of {seconds:.3f} s: head office waited"
               f" {max(seconds - handling, 0):.3f} s ({max(seconds - handling, 0) / seconds:.0%}) for the till,"
               " the network and HTTP")
    busy = {f: v for f, v in stats.items() if "poll" not in f[2] and "acquire" not in f[2] and "wait" not in f[2]}
    return [*out, "head office's costliest functions, own time, every thread (waits left out):", *_top(busy)]


def run(env: BenchEnv) -> Figure:
    total = env.samples(100_000, 10_000)
    rounds_n = env.samples(ROUNDS, 4)
    load_before = loadavg()
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    pairs: dict[int, list[float]] = {}

    def push(i: int) -> float:
        last = push_waiting(env.scratch / f"push-{i}", entries=total, entry_batch=BATCH, process=True,
                            keep_rows=not rows)
        if last.get("pushed") != total:
            raise RuntimeError(f"push sent {last.get('pushed')} of {total}: {last}")
        rows.extend(last.pop("rows", []))
        runs.append(last)
        rate = total / float(last["seconds"])
        pairs.setdefault(i, []).append(rate)
        return rate

    def ingest(i: int) -> float:
        if not rows:  # round 0 pushes first; the baseline ingests the entries that till pushed
            raise RuntimeError("no pushed entries to ingest")
        ceiling = ingest_rate(f"sqlite:///{env.scratch / f'push-ceiling-{i}.db'}", rows=rows, batch=BATCH)
        if ceiling["accepted"] != total:
            raise RuntimeError(f"ingest accepted {ceiling['accepted']} of {total}")
        rate = total / float(ceiling["seconds"])
        pairs.setdefault(i, []).append(rate)
        return rate

    try:
        rounds = interleave(push, ingest, rounds_n)
    except RuntimeError as exc:
        return Figure.skipped(KEY, TITLE, TARGET, str(exc))
    v = judge(rounds, lambda m, b: m.tail_value >= MIN_SHARE * b.tail_value, rates=True, unit="entries/s",
              at_this_scale=not env.quick,
              measured=f"bench.sync_measure.push_waiting: {total:,} waiting entries to the head office (its own"
                       f" process), batches of {BATCH:,}",
              baseline=f"bench.sync_measure.ingest_rate: head office's decode + durable ingest of the same {total:,}"
                       f" entries, batches of {BATCH:,}, no HTTP")
    shares = [p[0] / p[1] if i % 2 == 0 else p[1] / p[0] for i, p in sorted(pairs.items())]
    profile, ho_profile = cProfile.Profile(), env.scratch / "push-headoffice.prof"
    profiled = push_waiting(env.scratch / "push-profiled", entries=total, entry_batch=BATCH, process=True,
                            profile=profile, profile_to=ho_profile)
    notes = [f"per round, push / ingest (A/B, then B/A): {', '.join(f'{s:.0%}' for s in shares)}"
             f" (median {median(shares):.0%}); medians {v.measure.median:,.0f} / {v.baseline.median:,.0f} entries/s"
             f" = {v.measure.median / v.baseline.median:.0%}",
             f"raw POSTs of the same entries to a discard endpoint: {_discard_rate(rows):,.0f} entries/s"
             " (the network and encoding alone)",
             f"load average before {load_before}, after {loadavg()}",
             f"profile of one more push ({profiled['entries_per_s']:,} entries/s, {profiled['seconds']:.3f} s, both"
             " sides under cProfile), the till's main thread (collect and record; lock acquire = waiting for the"
             " batch in flight), own time:", *_top(pstats.Stats(profile).stats),  # type: ignore[attr-defined]
             "head office over the same push, every thread (cumulative unless said):",
             *_headoffice_parts(ho_profile, float(profiled["seconds"]))]
    return Figure(KEY, TITLE, TARGET, v.status, measure=v.measure, baseline=v.baseline, judged=v.judged,
                  notes=notes, extra={"last_run": runs[-1] if runs else {}, "rounds": rounds_n,
                                      "shares": [round(s, 3) for s in shares]})

"""Push of 100,000 waiting ledger entries to a head office on loopback.

Target (issue 15): >= 80% of head office's own ingest rate for the same entries. Baseline: head office's
parse + durable ingest of the entries the till pushed, no HTTP (`bench.sync_measure.ingest_rate`: the
same JSON bodies decoded, `store.ingest`, batches of BATCH, a fresh SQLite store), the ceiling any push
acknowledged after a durable ingest can reach. Measured: `bench.sync_measure.push_waiting`, a registered
till pushing that many waiting entries to the real head office (Starlette + uvicorn, SQLite store) in a
process of its own (in production it is another machine). Rounds alternate push and baseline (A/B/A/B);
median and slow tail (throughput "p99": the rate 99% of runs beat) over ROUNDS rounds.

Notes: raw httpx POSTs of the same bodies to a discard endpoint (what the network and encoding cost
alone), the per-round shares, the load average, and a profile of one more push (the till's process):
where the till's time goes while head office ingests.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from pathlib import Path
from typing import Any

import httpx

from bench.discard import discard_server
from bench.env import BenchEnv
from bench.figures.ingest import loadavg
from bench.stats import Figure, Measure, median, verdict
from bench.sync_measure import ingest_rate, push_waiting
from wire.batches import encode

KEY = "push"
TITLE = "push of 100,000 waiting entries to a head office on loopback"
TARGET = ">= 80% of head office's own parse + durable ingest of the same entries"
MIN_SHARE = 0.8
ROUNDS = 5
BATCH = 2_000  # = the push's entry batch (sync.push.ENTRY_BATCH)


def _discard_rate(rows: list[dict[str, Any]]) -> float:
    """Entries/s of raw POSTs of the same entries as JSON bodies to an endpoint that drops them."""
    bodies = [encode({"entries": rows[i:i + BATCH]}) for i in range(0, len(rows), BATCH)]
    with discard_server() as url, httpx.Client(base_url=url) as client:
        t0 = time.perf_counter()
        for body in bodies:
            client.post("/discard", content=body, headers={"content-type": "application/json"}).raise_for_status()
        return len(rows) / (time.perf_counter() - t0)


def _top(profile: cProfile.Profile, n: int = 8) -> list[str]:
    """The `n` costliest functions (own time) of a profile, as 'seconds (share) name (file:line)'."""
    stats = pstats.Stats(profile)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    return [f"{v[2]:.3f} s ({v[2] / total:.0%}) {f[2]} ({f[0].rsplit('/', 1)[-1]}:{f[1]})" for f, v in rows]


_HO_PARTS = (("run_asgi", 3, "HTTP requests handled (uvicorn run_asgi, cumulative)"),
             ("<method 'decode' of 'msgspec.json.Decoder' objects>", 2, "of which JSON body decode + validation"),
             ("<method 'encode' of 'msgspec.json.Encoder' objects>", 2, "answers encoded"),
             ("<method 'poll' of 'select.epoll' objects>", 2, "event loop idle (the ingest thread, the till)"))


def _headoffice_parts(path: Path) -> list[str]:
    """Where head office's main thread spent the push (its start-up, also profiled, left out)."""
    if not path.exists():
        return [f"no profile written ({path.name})"]
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    out = []
    for name, col, what in _HO_PARTS:
        seconds = sum(v[col] for f, v in stats.items() if f[2] == name)
        out.append(f"{seconds:.3f} s {what}")
    return out


def run(env: BenchEnv) -> Figure:
    total = env.samples(100_000, 10_000)
    load_before = loadavg()
    ours: list[float] = []
    base: list[float] = []
    last: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for r in range(ROUNDS):  # A/B/A/B: a push, then head office ingesting the entries that till pushed
        last = push_waiting(env.scratch / f"push-{r}", entries=total, entry_batch=BATCH, process=True,
                            keep_rows=not rows)
        if last.get("pushed") != total:
            return Figure.skipped(KEY, TITLE, TARGET, f"push sent {last.get('pushed')} of {total}: {last}")
        rows = last.pop("rows", rows)
        ours.append(total / last["seconds"])
        ceiling = ingest_rate(f"sqlite:///{env.scratch / f'push-ceiling-{r}.db'}", rows=rows, batch=BATCH)
        if ceiling["accepted"] != total:
            return Figure.skipped(KEY, TITLE, TARGET, f"ingest accepted {ceiling['accepted']} of {total}")
        base.append(total / ceiling["seconds"])
    m = Measure.of_rates(f"bench.sync_measure.push_waiting: {total:,} waiting entries to the head office "
                         "(its own process)", "entries/s", ours)
    b = Measure.of_rates(f"bench.sync_measure.ingest_rate: head office's decode + durable ingest of the same "
                         f"{total:,} entries, batches of {BATCH:,}, no HTTP", "entries/s", base)
    shares = [o / c for o, c in zip(ours, base, strict=True)]
    profile, ho_profile = cProfile.Profile(), env.scratch / "push-headoffice.prof"
    profiled = push_waiting(env.scratch / "push-profiled", entries=total, entry_batch=BATCH, process=True,
                            profile=profile, profile_to=ho_profile)
    notes = [f"per round, push / ingest: {', '.join(f'{s:.0%}' for s in shares)} (median {median(shares):.0%})",
             f"raw POSTs of the same entries to a discard endpoint: {_discard_rate(rows):,.0f} entries/s"
             " (the network and encoding alone)",
             f"load average before {load_before}, after {loadavg()}",
             f"profile of one more push ({profiled['entries_per_s']:,} entries/s, both sides under cProfile),"
             " the till's main thread (collect; lock acquire = waiting for the batch in flight), own time:",
             *_top(profile),
             f"head office's main thread over the same push ({profiled['seconds']:.3f} s; the ingest itself runs in"
             " its thread pool, where cProfile does not look):", *_headoffice_parts(ho_profile)]
    return Figure(KEY, TITLE, TARGET, verdict(median(shares) >= MIN_SHARE), measure=m, baseline=b, notes=notes,
                  extra={"last_run": last, "rounds": ROUNDS, "shares": [round(s, 3) for s in shares]})

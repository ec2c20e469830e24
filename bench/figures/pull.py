"""First pull of the full member directory from the head office. Target <= 60 s for the full
directory (1,000,000 members), with progress shown; no baseline in the issue.

Hook: `bench.sync_measure.pull_directory(workdir, members=...)`: a head office (SQLite store, the real
server on loopback) holding the directory (members, 1.5 cards each, one ledger entry each so the
balances arrive), and a fresh till's first `sync.engine.pull_all` with its progress callback
counted. The head office runs in its own process (`headoffice serve`), as in production where it is
another machine, so it does not share the till's GIL. The head office is loaded with raw inserts
first (setup, not timed). The quick run pulls a 1% directory and says so; it never judges the
full-scale target from a small directory.
"""

from __future__ import annotations

from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict
from bench.sync_measure import pull_directory

KEY = "pull"
TITLE = "first pull of the full member directory"
TARGET = "<= 60 s, with progress shown"
TARGET_S = 60.0


def run(env: BenchEnv) -> Figure:
    members = env.gen.members  # the directory of the generated chain: 1,000,000 at full scale
    runs = env.samples(1, 2)
    times, last = [], {}
    for r in range(runs):
        last = pull_directory(env.scratch / f"pull-{r}", members=members, process=True)
        counts = last["till_counts"]
        if (counts["members"], counts["cards"], counts["ledger"]) != (last["members"], last["cards"], last["entries"]) \
                or last["till_points"] != last["headoffice_points"]:
            return Figure.skipped(KEY, TITLE, TARGET, f"the till did not receive the whole directory: {last}")
        times.append(last["seconds"])
    m = Measure.of(f"pull_all of {members:,} members, {last['cards']:,} cards, {last['entries']:,} entries "
                   f"({last['changes']:,} changes, {last['pages']:,} pages of 1,000) into a fresh till", "s", times)
    shown = last["progress_calls"] > 0 and last["progress_last"] == [last["changes"], last["changes"]]
    notes = [f"progress callback: {last['progress_calls']:,} calls, last {last['progress_last']}",
             f"{last['changes_per_s']:,} changes/s; head office setup (raw inserts, not timed) "
             f"{last['setup_seconds']} s"]
    if env.quick:
        notes.append(f"quick run: a {members:,}-member directory, not the full one; the target is judged at "
                     f"full scale ({TARGET_S * members / 1_000_000:.1f} s is the same pace)")
    ok = shown and m.p99 <= TARGET_S * (members / 1_000_000 if env.quick else 1)
    return Figure(KEY, TITLE, TARGET, verdict(ok), measure=m, notes=notes, extra={"last_run": last})

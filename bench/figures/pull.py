"""First pull of the full member directory from the head office (slot: sync is on the sync
branch). Target <= 60 s for the full directory, with progress shown; no baseline in the issue.

Expected hook (to be added beside `sync.measure.ingest_rate` / `push_waiting`): `pull_directory(workdir,
members=1_000_000)` loading a head office with the directory and timing a fresh till's first
`sync.engine.pull_all`, with its progress callbacks counted.
"""

from __future__ import annotations

from bench.env import BenchEnv
from bench.stats import Figure, try_import

KEY = "pull"
TITLE = "first pull of the full member directory"
TARGET = "<= 60 s, with progress shown"


def run(env: BenchEnv) -> Figure:
    _, reason = try_import("sync.measure", "pull_directory")
    return Figure.skipped(KEY, TITLE, TARGET, reason or "not available in this build: sync.measure.pull_directory "
                          "imports but the pull adapter is not written yet (bench/figures/pull.py)")

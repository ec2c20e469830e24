"""First pull of the full member directory from the head office (slot: sync is on the sync
branch). Target <= 60 s for the full directory, with progress shown; no baseline in the issue.
"""

from __future__ import annotations

from bench.env import BenchEnv
from bench.stats import Figure, try_import

KEY = "pull"
TITLE = "first pull of the full member directory"
TARGET = "<= 60 s, with progress shown"


def run(env: BenchEnv) -> Figure:
    _, reason = try_import("sync.pull")
    return Figure.skipped(KEY, TITLE, TARGET, reason or "not available in this build: sync.pull imports but the "
                          "pull adapter is not written yet (bench/figures/pull.py)")

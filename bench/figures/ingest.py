"""Head-office ingest of pushed entries, SQLite then PostgreSQL (slot: the head office is on the
sync branch). Target >= 20,000 entries/s on each store; no baseline in the issue.
"""

from __future__ import annotations

from bench.env import BenchEnv
from bench.stats import Figure, try_import

KEY = "ingest"
TITLE = "head-office ingest (SQLite, then PostgreSQL)"
TARGET = ">= 20,000 entries/s"


def run(env: BenchEnv) -> Figure:
    _, reason = try_import("headoffice.ingest")
    return Figure.skipped(KEY, TITLE, TARGET, reason or "not available in this build: headoffice.ingest imports "
                          "but the ingest adapter is not written yet (bench/figures/ingest.py)")

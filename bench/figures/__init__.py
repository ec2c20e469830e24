"""One module per figure, each with KEY, TITLE, TARGET and `run(env) -> Figure`.

Figures import the code they time at the top, like any module: a broken import fails the run
instead of passing for a figure "not in this build". A figure that cannot measure (no PostgreSQL,
a child process that failed) returns SKIPPED with the reason, never a made-up number. Adding a
figure is adding a module and one line to FIGURES.
"""

from __future__ import annotations

FIGURES: tuple[str, ...] = (
    "bench.figures.lookup",
    "bench.figures.sale_commit",
    "bench.figures.swipe_pty",
    "bench.figures.receipt",
    "bench.figures.cold_start",
    "bench.figures.memory",
    "bench.figures.push",
    "bench.figures.ingest",
    "bench.figures.ingest_pg",
    "bench.figures.pull",
    "bench.figures.import_sales",
    "bench.figures.wire",
    "bench.figures.reports",
    "bench.figures.liability",
    "bench.figures.upkeep",
    "bench.figures.ho_upkeep",
    "bench.figures.console",
    "bench.figures.loadtest",
)

"""One module per figure, each with KEY, TITLE, TARGET and `run(env) -> Figure`.

A figure whose code lives on a branch not merged here imports it inside `run`; when the
import fails it returns SKIPPED with the reason ("not available in this build: ..."), never
a made-up number. Adding a figure is adding a module and one line to FIGURES.
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
)

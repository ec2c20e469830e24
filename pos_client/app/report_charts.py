"""Bars and sparklines drawn with block characters, for the reports screen where a trend is the point.

Plain text, no widget: the same characters render in any terminal, in the snapshot SVGs and in a test's
assertion. Only the reports screen uses them: the lifecycle stage mix as a bar per stage, retention as a
sparkline of the share of cohorts still buying month by month, new customers as a sparkline per month.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SPARKS = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉"
BAR_WIDTH = 20


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value, scaled from 0 to the largest (a blank where there is no value yet)."""
    top = max((v for v in values if v is not None), default=0) or 1
    return "".join(" " if v is None else SPARKS[round(max(v, 0) / top * (len(SPARKS) - 1))] for v in values)


def bar(pct: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar `pct` % of `width` cells long, to the eighth of a cell."""
    eighths = round(max(0.0, min(pct, 100.0)) / 100 * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


def _month_since(column: str) -> bool:
    return column.startswith("m") and column[1:].isdigit()


def retention_line(report: dict[str, Any]) -> str:
    """All cohorts together: % still buying at +0, +1, ... months since their first purchase."""
    total = report["summary"].get("total_pct") or []
    months = [c for c in report["columns"] if _month_since(c)]
    values = [v for c, v in zip(report["columns"], total, strict=False) if _month_since(c)]
    seen = [v for v in values if v is not None]
    if not months or not seen:
        return ""
    return ("% of cohorts still buying, by months since first purchase\n"
            f"+0 {sparkline(values)} +{len(months) - 1}   {seen[0]:.1f}% -> {seen[-1]:.1f}%")


def new_per_month_line(months: Sequence[tuple[str, int]]) -> str:
    """New customers (first purchase ever) per calendar month, oldest first."""
    if not months:
        return ""
    peak_month, peak = max(months, key=lambda m: m[1])
    return (f"New customers per month (peak {peak:,} in {peak_month}, last {months[-1][1]:,})\n"
            f"{months[0][0]} {sparkline([n for _, n in months])} {months[-1][0]}")

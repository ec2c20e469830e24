"""Timing helpers: nearest-rank percentiles over many samples, and the figure record itself."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

PASS, MISS, SKIPPED, PENDING = "PASS", "MISS", "SKIPPED", "PENDING"


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile: with 100 samples p99 is the 99th smallest, never interpolated."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    ordered = sorted(samples)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class Measure:
    """One series: what was timed, its median and p99 (in `unit`) and how many samples."""

    what: str
    unit: str
    median: float
    p99: float
    n: int

    @classmethod
    def of(cls, what: str, unit: str, samples: list[float]) -> Measure:
        return cls(what, unit, median(samples), percentile(samples, 99), len(samples))

    @classmethod
    def of_rates(cls, what: str, unit: str, rates: list[float]) -> Measure:
        """Throughput: the 'p99' is the slow tail, the rate beaten by 99% of runs."""
        return cls(what, unit, median(rates), percentile(rates, 1), len(rates))


@dataclass
class Figure:
    """A benchmark figure: the measure, its same-run baseline, the ratio and the verdict."""

    key: str
    title: str
    target: str
    status: str
    measure: Measure | None = None
    baseline: Measure | None = None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio_median(self) -> float | None:
        return _ratio(self.measure, self.baseline, "median")

    @property
    def ratio_p99(self) -> float | None:
        return _ratio(self.measure, self.baseline, "p99")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio_median"] = self.ratio_median
        out["ratio_p99"] = self.ratio_p99
        return out

    @classmethod
    def skipped(cls, key: str, title: str, target: str, reason: str, **kw: Any) -> Figure:
        return cls(key, title, target, SKIPPED, reason=reason, **kw)


def _ratio(a: Measure | None, b: Measure | None, attr: str) -> float | None:
    if a is None or b is None or a.unit != b.unit:
        return None
    den = getattr(b, attr)
    return getattr(a, attr) / den if den else None


def verdict(ok: bool) -> str:
    return PASS if ok else MISS


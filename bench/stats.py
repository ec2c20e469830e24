"""Timing helpers: nearest-rank percentiles, the percentile a sample count can support, the figure record."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

PASS, MISS, SKIPPED, PENDING = "PASS", "MISS", "SKIPPED", "PENDING"
NOISY = "NOISY"  # the machine moved under the figure: neither PASS nor MISS can be trusted
NOT_JUDGED = "NOT_JUDGED"  # measured, but the target only means something at another scale

# (percentile, fewest samples that support it): p99 of 30 samples is just the maximum, so claim p90
CLAIMS: tuple[tuple[int, int], ...] = ((99, 100), (90, 10), (50, 1))


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile: with 100 samples p99 is the 99th smallest, never interpolated."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def claimable(n: int, wanted: int = 99) -> int:
    """The highest percentile, at most `wanted`, that `n` samples support (p99 needs >= 100)."""
    for pct, needs in CLAIMS:
        if pct <= wanted and n >= needs:
            return pct
    return 50


def median(samples: list[float]) -> float:
    ordered = sorted(samples)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class Measure:
    """One series: what was timed, its median, its tail at the percentile the count supports, and n.

    `p99` is kept for figures that judge on it (with < 100 samples it is the maximum); `tail` is
    the value at `claim` (99, 90 or 50), what the report shows and the method judges.
    """

    what: str
    unit: str
    median: float
    p99: float
    n: int
    claim: int = 99
    tail: float | None = None

    def __post_init__(self) -> None:
        if self.tail is None:
            self.tail = self.p99

    @property
    def tail_value(self) -> float:
        return self.p99 if self.tail is None else self.tail

    @classmethod
    def of(cls, what: str, unit: str, samples: list[float]) -> Measure:
        claim = claimable(len(samples))
        return cls(what, unit, median(samples), percentile(samples, 99), len(samples), claim,
                   percentile(samples, claim))

    @classmethod
    def of_rates(cls, what: str, unit: str, rates: list[float]) -> Measure:
        """Throughput: the tail is the slow side, the rate beaten by `claim`% of runs."""
        claim = claimable(len(rates))
        return cls(what, unit, median(rates), percentile(rates, 1), len(rates), claim,
                   percentile(rates, 100 - claim))


@dataclass
class Figure:
    """A benchmark figure: the measure, its same-run baseline, the ratio and the verdict.

    `judged` holds how the verdict was reached (the method's noise check, the claim); `context`
    what the machine was doing meanwhile (date, load, competing processes, the CPU probe).
    """

    key: str
    title: str
    target: str
    status: str
    measure: Measure | None = None
    baseline: Measure | None = None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    judged: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio_median(self) -> float | None:
        return _ratio(self.measure, self.baseline, "median")

    @property
    def ratio_p99(self) -> float | None:
        return _ratio(self.measure, self.baseline, "p99")

    @property
    def ratio_tail(self) -> float | None:
        return _ratio(self.measure, self.baseline, "tail_value")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio_median"] = self.ratio_median
        out["ratio_p99"] = self.ratio_p99
        out["ratio_tail"] = self.ratio_tail
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        """The inverse of `as_dict`: a row read back from a results file's data block."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        for key in ("measure", "baseline"):
            if kw.get(key) is not None:
                kw[key] = Measure(**kw[key])
        return cls(**kw)

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

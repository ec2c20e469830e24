"""A generated purchase log with the shapes a shop sees (one-timers, weekly and monthly regulars who pause
and come back, lapsers, random buyers, several sales on a day), and a reference stage computation written
straight from docs/marketing.md, independent of `pos_client.domain.lifecycle` (dates, floats, recursion)."""

from __future__ import annotations

import random
import statistics
from datetime import date, timedelta
from itertools import pairwise

START, END = date(2025, 1, 1), date(2026, 6, 30)
SPAN = (END - START).days


def generate(members: int, seed: int = 10) -> dict[str, list[tuple[date, int]]]:
    """member key -> [(day, cents)] in no particular order (days may repeat: several sales that day)."""
    rng = random.Random(seed)
    log: dict[str, list[tuple[date, int]]] = {}
    for i in range(members):
        kind = rng.choice(["one", "weekly", "fortnightly", "monthly", "random", "lapser", "weekly"])
        day = START + timedelta(days=rng.randrange(SPAN))
        sales: list[tuple[date, int]] = []
        if kind == "one":
            sales.append((day, rng.randrange(100, 20000)))
        elif kind == "random":
            for _ in range(rng.randrange(2, 9)):
                sales.append((START + timedelta(days=rng.randrange(SPAN)), rng.randrange(100, 20000)))
        else:
            step = {"weekly": 7, "fortnightly": 14, "monthly": 30, "lapser": 20}[kind]
            for _ in range(rng.randrange(2, 25)):
                if day > END:
                    break
                sales.append((day, rng.randrange(100, 20000)))
                if rng.random() < 0.1:
                    sales.append((day, rng.randrange(100, 5000)))  # a second sale the same day
                jitter = rng.choice([0, 0, 0, -1, 1, 2, step])  # now and then a doubled gap (2 x interval)
                gap = step + jitter
                if rng.random() < 0.12:
                    gap += rng.choice([15, 16, 40, 46, 60, 120, 181, 200, 250])  # a pause
                day += timedelta(days=max(1, gap))
        log[f"m{i:05d}"] = sales
    return log


def distinct_days(sales: list[tuple[date, int]]) -> list[date]:
    return sorted({d for d, _ in sales})


def ref_stage(days: list[date], as_of: date, new_days: int = 30, second_purchase_days: int = 45,
              at_risk_factor: int = 2, lapsed_days: int = 180, reactivated_days: int = 30) -> str | None:
    """The stage as of the end of `as_of`, exactly as the issue words it."""
    def rules(ds: list[date], day: date) -> str | None:
        if not ds:
            return None
        r = (day - ds[-1]).days
        if r > lapsed_days:
            return "lapsed"
        if (day - ds[0]).days <= new_days:
            return "new"
        if len(ds) == 1:
            return "at_risk" if r > second_purchase_days else "active"
        u = statistics.median([(b - a).days for a, b in pairwise(ds)])
        return "at_risk" if r > at_risk_factor * u else "active"

    ds = sorted({d for d in days if d <= as_of})
    stage = rules(ds, as_of)
    if stage in ("at_risk", "active"):
        for k in range(1, len(ds)):  # dk with k >= 2 (1-based)
            if (as_of - ds[k]).days <= reactivated_days and \
                    rules(ds[:k], ds[k] - timedelta(days=1)) in ("at_risk", "lapsed"):
                return "reactivated"
    return stage

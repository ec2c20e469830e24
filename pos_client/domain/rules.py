"""Earning rules as pure functions over integers: easy to test, no database, no clock.

points = floor( sum(line cents x category multiplier x promotion multiplier) x points_per_unit
                / unit_cents ), rounded down once per sale. Multipliers are whole percent
(100 = x1, 200 = double points) so nothing is ever a float.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Promotion:
    name: str
    start: date
    end: date
    multiplier_pct: int = 200
    categories: tuple[str, ...] = ()

    def applies(self, day: date, category: str) -> bool:
        return self.start <= day <= self.end and (not self.categories or category in self.categories)


@dataclass(frozen=True)
class ProgramRules:
    points_per_unit: int = 1
    unit_cents: int = 100
    category_multipliers: Mapping[str, int] = field(default_factory=dict)
    excluded_categories: frozenset[str] = frozenset({"prescription", "gift_card", "tobacco"})
    promotions: tuple[Promotion, ...] = ()
    welcome_bonus: int = 0
    loyalty_prefixes: tuple[str, ...] = ("29",)

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> ProgramRules:
        promos = tuple(
            Promotion(
                name=str(p.get("name", "promotion")),
                start=_as_date(p["start"]),
                end=_as_date(p["end"]),
                multiplier_pct=int(p.get("multiplier_pct", 200)),
                categories=tuple(p.get("categories", ())),
            )
            for p in section.get("promotions", ())
        )
        mults = {str(k): _pct(v) for k, v in dict(section.get("category_multipliers", {})).items()}
        rules = cls(
            points_per_unit=int(section.get("points_per_unit", 1)),
            unit_cents=int(section.get("unit_cents", 100)),
            category_multipliers=mults,
            excluded_categories=frozenset(section.get("excluded_categories", cls.excluded_categories)),
            promotions=promos,
            welcome_bonus=int(section.get("welcome_bonus", 0)),
            loyalty_prefixes=tuple(section.get("loyalty_prefixes", ("29",))),
        )
        if rules.unit_cents <= 0 or rules.points_per_unit < 0:
            raise ValueError("program rules: unit_cents must be > 0 and points_per_unit >= 0")
        return rules

    def line_weight(self, category: str, amount_cents: int, day: date) -> int:
        """Qualifying cents x percent multipliers (scaled by 100*100) for one line."""
        if category in self.excluded_categories or amount_cents <= 0:
            return 0
        mult = self.category_multipliers.get(category, 100)
        promo = 100
        for p in self.promotions:
            if p.applies(day, category):
                promo = max(promo, p.multiplier_pct)
        return amount_cents * mult * promo

    def points_for(self, weight: int) -> int:
        return weight * self.points_per_unit // (self.unit_cents * 100 * 100)


def _pct(value: Any) -> int:
    """Category multipliers may be written 2 (x2) or 200 (percent); store percent."""
    v = int(value)
    return v * 100 if v < 10 else v


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(frozen=True)
class LineInput:
    category: str
    amount_cents: int


def earn_points(rules: ProgramRules, lines: Sequence[LineInput], day: date) -> tuple[int, list[int]]:
    """Points for a sale, rounded down once, and their split over lines.

    The split uses largest remainders so the line points add up exactly to the sale's
    points; a later return reverses exactly what its lines earned.
    """
    weights = [rules.line_weight(li.category, li.amount_cents, day) for li in lines]
    total_weight = sum(weights)
    total = rules.points_for(total_weight)
    if total == 0 or total_weight == 0:
        return total, [0] * len(lines)
    shares = [w * total for w in weights]
    alloc = [s // total_weight for s in shares]
    rest = total - sum(alloc)
    order = sorted(range(len(lines)), key=lambda i: (-(shares[i] % total_weight), i))
    for i in order[:rest]:
        alloc[i] += 1
    return total, alloc

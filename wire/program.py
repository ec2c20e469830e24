"""The earning rules, promotions and offers head office publishes to every till (keys of `wire.rules.ProgramRules`).

Each struct holds what the till really uses (`pos_client.domain.rules.ProgramRules` for earning and promotions,
`pos_client.services.marketing.offers` for offers), every number a bounded integer (percent, cents, days), so
the console's forms, the API and the till's pull all refuse the same values with the same reasons. A field a
published value leaves out keeps the till's own `[program]` setting.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from wire.errors import Invalid
from wire.fields import ID_PATTERN, MAX_AMOUNT, MAX_WINDOW_DAYS, Day, Text

Name = Annotated[str, Meta(pattern=ID_PATTERN, description="1-64 letters, digits or _ . : -",
                           extra={"reason": "1-64 letters, digits or _ . : - (no spaces)"})]
Percent = Annotated[int, Meta(ge=0, le=1000, description="whole percent: 100 = x1, 200 = double points")]
Categories = Annotated[list[Name], Meta(max_length=100, description="product categories")]
Days = Annotated[int, Meta(ge=1, le=MAX_WINDOW_DAYS, description="days")]
MAX_HOLDOUT_PCT = 90  # a larger control group leaves too few treated members to measure anything

OfferTrigger = Literal["first_purchase", "second_purchase", "at_risk", "lapsed", "reactivated", "points_close"]
OfferReward = Literal["amount_off", "percent_off", "free_product", "message"]


class Earning(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """points_per_unit points per unit_cents of qualifying spend, rounded down once per sale."""

    points_per_unit: Annotated[int, Meta(ge=0, le=1000, description="points per unit of spend")] = 1
    unit_cents: Annotated[int, Meta(ge=1, le=1_000_000, description="cents per unit of spend")] = 100
    welcome_bonus: Annotated[int, Meta(ge=0, le=1_000_000, description="points on enrolment")] = 0
    excluded_categories: Categories | None = None  # None: the till's own (prescription, gift_card, tobacco)


class CategoryMultiplier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A category earning more (or less) than the base rate."""

    category: Name
    multiplier_pct: Percent


class Promotion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A time-boxed multiplier: from start to end (both included), on the categories named (none: every one)."""

    name: Text
    start: Day
    end: Day
    multiplier_pct: Percent = 200
    categories: Categories | None = None

    CHECKS: ClassVar[tuple[str, ...]] = ("end: a promotion ends on or after its start",)

    def __post_init__(self) -> None:
        if self.end < self.start:  # ISO dates compare as text
            raise Invalid([self.CHECKS[0]])


class Offer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A triggered offer: who gets it (trigger), what (reward), how often (cap) and the share held out."""

    id: Name
    trigger: OfferTrigger
    reward: OfferReward
    value: Annotated[int, Meta(ge=0, le=MAX_AMOUNT, description="cents off, or percent off")] = 0
    sku: Name | None = None  # the free product's sku
    message: Text | None = None
    valid_days: Days = 30
    priority: Annotated[int, Meta(ge=0, le=1000, description="the highest eligible offer wins")] = 50
    cap_max: Annotated[int, Meta(ge=1, le=1000, description="at most this many times per member")] = 1
    cap_days: Annotated[int, Meta(ge=0, le=MAX_WINDOW_DAYS, description="within days (0: ever)")] = 0
    holdout_pct: Annotated[int, Meta(ge=0, le=MAX_HOLDOUT_PCT, description="percent held out as control")] = 10
    window_days: Days | None = None  # how long the offer-lift report looks (None: valid_days)
    points_to_reward: Annotated[int, Meta(ge=1, le=MAX_AMOUNT, description="for points_close")] = 100

    CHECKS: ClassVar[tuple[str, ...]] = ("sku: a free product names its sku",
                                         "value: a percent off is 1 to 100",
                                         "value: an amount off is at least 1 cent")

    def __post_init__(self) -> None:
        if self.reward == "free_product" and not self.sku:
            raise Invalid([self.CHECKS[0]])
        if self.reward == "percent_off" and not 1 <= self.value <= 100:
            raise Invalid([self.CHECKS[1]])
        if self.reward == "amount_off" and self.value < 1:
            raise Invalid([self.CHECKS[2]])


def duplicates(key: str, names: list[str], what: str) -> list[str]:
    """Reasons for names used twice in one list rule (`offers[2].id: ...`)."""
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        if name in seen:
            out.append(f"{key}[{i}].{what}, {name!r} is used twice")
        seen.add(name)
    return out

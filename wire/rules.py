"""The program rules head office sends to every till, one typed field per rule key.

A rule is set with `PUT /v1/admin/rules/{key}` (or `headoffice rule set KEY JSON`); its value must fit
that key's field of ProgramRules, and a key ProgramRules does not know is refused: tills read exactly
these. The OpenAPI document has one path per key, generated from these fields.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from wire.errors import Invalid, explain, nul_reasons, whole_numbers
from wire.fields import MAX_AMOUNT, Amount, Count, Positive, Text
from wire.program import CategoryMultiplier, Earning, Offer, Promotion, duplicates

RewardKind = Literal["amount_off", "percent_off", "free_product", "gift_certificate"]
REWARD_KINDS = frozenset({"amount_off", "percent_off", "free_product", "gift_certificate"})


class Reward(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One reward of the catalog tills offer (points -> coupon)."""

    id: Text
    name: Text
    kind: RewardKind
    points: Positive
    value: Amount = 0  # cents (amount off, gift certificate) or percent (percent off)
    sku: Text | None = None  # the free product's sku
    tier: Text | None = None  # lowest tier allowed to redeem it
    valid_days: Annotated[int, Meta(ge=1, le=3660)] = 90

    CHECKS: ClassVar[tuple[str, ...]] = ("sku: a free product names its sku",)

    def __post_init__(self) -> None:
        if self.kind == "free_product" and not self.sku:
            raise Invalid([self.CHECKS[0]])


class Tier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Text
    min_spend_cents: Count = 0
    multiplier_pct: Annotated[int, Meta(ge=0, le=100_000)] = 100


class CardFormatsRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The program's own card formats (`cardread.allowlist`): head office and every till store no other number."""

    loyalty_prefixes: Annotated[list[Annotated[str, Meta(pattern=r"^[0-9]{1,6}$")]], Meta(max_length=20)] = []
    card_ranges: Annotated[list[Annotated[str, Meta(pattern=r"^[0-9]{4,20}-[0-9]{4,20}$")]],
                           Meta(max_length=50)] = []
    code128_prefixes: Annotated[list[Annotated[str, Meta(pattern=r"^[A-Z][A-Z0-9\-_.]{0,11}$")]],
                                Meta(max_length=20)] = []
    nfc_cards: bool = True

    def bad_ranges(self) -> list[str]:
        """Ranges whose ends differ in length or run backwards (checked by ProgramRules)."""
        return [t for t in self.card_ranges if len(t.split("-")[0]) != len(t.split("-")[1])
                or t.split("-")[0] > t.split("-")[1]]


class ProgramRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every rule a till reads from head office; a rule not set stays UNSET (the till's config decides)."""

    offline_redeem_cap: Annotated[int, Meta(ge=0, le=MAX_AMOUNT, description=(
        "points a member may redeem at a till that cannot reach head office"))] | UnsetType = UNSET
    rewards: Annotated[list[Reward], Meta(min_length=1, description="the rewards catalog")] | UnsetType = UNSET
    tiers: Annotated[list[Tier], Meta(min_length=1, description="membership tiers")] | UnsetType = UNSET
    earning: Annotated[Earning, Meta(description="the base earning rate")] | UnsetType = UNSET
    category_multipliers: Annotated[list[CategoryMultiplier], Meta(max_length=200, description=(
        "categories earning more or less than the base rate"))] | UnsetType = UNSET
    promotions: Annotated[list[Promotion], Meta(max_length=200, description=(
        "time-boxed points multipliers"))] | UnsetType = UNSET
    offers: Annotated[list[Offer], Meta(max_length=100, description=(
        "triggered offers and the share of members held out of each"))] | UnsetType = UNSET
    card_formats: Annotated[CardFormatsRule, Meta(description=(
        "the program's own card formats: no other card number is stored, at head office or a till"))
    ] | UnsetType = UNSET

    CHECKS: ClassVar[tuple[str, ...]] = ("id: a reward's id is unique in the catalog",
                                         "tiers: the lowest tier must have min_spend_cents = 0",
                                         "category: a category has one multiplier",
                                         "id: an offer's id is unique",
                                         "card_formats: each card range is low-high, both ends of the same length")

    def __post_init__(self) -> None:
        reasons: list[str] = []
        if self.rewards is not UNSET:
            seen: set[str] = set()
            for i, r in enumerate(self.rewards):
                if r.id in seen:
                    reasons.append(f"rewards[{i}].{self.CHECKS[0]}, {r.id!r} is used twice")
                seen.add(r.id)
        if self.tiers is not UNSET and min(t.min_spend_cents for t in self.tiers) != 0:
            reasons.append(self.CHECKS[1])
        if self.category_multipliers is not UNSET:
            reasons += duplicates("category_multipliers", [m.category for m in self.category_multipliers],
                                  self.CHECKS[2])
        if self.offers is not UNSET:
            reasons += duplicates("offers", [o.id for o in self.offers], self.CHECKS[3])
        if self.card_formats is not UNSET and self.card_formats.bad_ranges():
            reasons.append(self.CHECKS[4])
        if reasons:
            raise Invalid(reasons)


RULE_KEYS: tuple[str, ...] = tuple(f.encode_name for f in msgspec.structs.fields(ProgramRules))
RuleKey = Literal["offline_redeem_cap", "rewards", "tiers", "earning", "category_multipliers", "promotions",
                  "offers", "card_formats"]


class RuleValue(msgspec.Struct, frozen=True):
    """The body of `PUT /v1/admin/rules/{key}` (its `value` is checked against the key's field)."""

    value: Any


class RulePath(msgspec.Struct, frozen=True):
    """The rule a `PUT /v1/admin/rules/{key}` sets (a key tills do not read is answered 404)."""

    key: str


class RuleData(msgspec.Struct, frozen=True):
    """A rule as tills pull it, with the program version that published it (tills report the highest applied)."""

    key: Text
    value: Any
    version: Annotated[int, Meta(ge=0, le=MAX_AMOUNT, description="the program version that set it")] = 0


def validate_rule(key: str, value: Any) -> list[str]:
    """Why a program rule cannot be sent to tills (empty when fine)."""
    if key not in RULE_KEYS:
        return [f"{key}: not a program rule tills read (one of {', '.join(RULE_KEYS)})"]
    value = whole_numbers(value)
    try:
        msgspec.convert({key: value}, ProgramRules)
    except msgspec.ValidationError as exc:
        return explain(ProgramRules, {key: value}) or [f"{key}: {exc}"]
    return nul_reasons(ProgramRules, {key: value})

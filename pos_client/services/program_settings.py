"""The marketing parts of the program rules, read from `[program]` in config.toml.

Every key has a default here, so a fresh till runs tiers, expiry, rewards and offers out of the
box; a store overrides any of them in config.toml. Head office's program rules win over both: the
rewards catalog and the tiers it sets (`headoffice rule set rewards|tiers JSON`) reach every till
on its next pull (kept in `sync_rules`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from pos_client.store.context import TillContext
from pos_client.store.sync_state import pulled_rule

DEFAULT_TIERS: list[dict[str, Any]] = [
    {"name": "Member", "min_spend_cents": 0, "multiplier_pct": 100},
    {"name": "Silver", "min_spend_cents": 50000, "multiplier_pct": 125},
    {"name": "Gold", "min_spend_cents": 150000, "multiplier_pct": 150},
]

DEFAULT_EXPIRY: dict[str, Any] = {"mode": "after_earning", "months": 12}

DEFAULT_LIFECYCLE: dict[str, Any] = {
    "new_days": 30,  # first purchase within N days: "new"
    "second_purchase_days": 45,  # no second purchase N days after the first: "at_risk"
    "at_risk_factor": 2,  # no purchase for k x their usual interval: "at_risk"
    "lapsed_days": 180,  # no purchase for M days: "lapsed"
    "reactivated_days": 30,  # came back after being at risk or lapsed, within N days: "reactivated"
}

DEFAULT_RFM: dict[str, Any] = {
    "recency_days": [30, 90],  # <=30 days: R3, <=90: R2, else R1
    "frequency": [2, 5],  # >=5 purchases: F3, >=2: F2, else F1
    "monetary_cents": [5000, 20000],  # >=200.00: M3, >=50.00: M2, else M1
}

DEFAULT_REASON_CODES = ["goodwill", "correction", "card-problem", "complaint", "other"]


@dataclass(frozen=True)
class Tier:
    name: str
    min_spend_cents: int
    multiplier_pct: int


def program(ctx: TillContext) -> dict[str, Any]:
    return ctx.config.section("program")


def pulled(ctx: TillContext, key: str) -> Any:
    """A program rule head office sent (None when it never did, or on a till without sync tables)."""
    try:
        return pulled_rule(ctx.conn, key)
    except sqlite3.OperationalError:
        return None


def tiers(ctx: TillContext) -> list[Tier]:
    """Tiers lowest first; the first one is where every member starts (read once per `ctx.pinned()`: a sale)."""
    return ctx.memo("tiers", lambda: _ladder(ctx))  # type: ignore[no-any-return]


def _ladder(ctx: TillContext) -> list[Tier]:
    raw = pulled(ctx, "tiers") or program(ctx).get("tiers") or DEFAULT_TIERS
    out = sorted((Tier(str(t["name"]), int(t.get("min_spend_cents", 0)), int(t.get("multiplier_pct", 100)))
                  for t in raw), key=lambda t: t.min_spend_cents)
    if not out or out[0].min_spend_cents != 0:
        raise ValueError("program rules: the lowest tier must have min_spend_cents = 0")
    return out


def expiry(ctx: TillContext) -> dict[str, Any]:
    cfg = {**DEFAULT_EXPIRY, **(program(ctx).get("expiry") or {})}
    if cfg["mode"] not in ("after_earning", "inactivity", "none"):
        raise ValueError("program rules: expiry.mode is after_earning, inactivity or none")
    cfg["months"] = int(cfg["months"])
    return cfg


def lifecycle(ctx: TillContext) -> dict[str, int]:
    return {k: int(v) for k, v in {**DEFAULT_LIFECYCLE, **(program(ctx).get("lifecycle") or {})}.items()}


def rfm(ctx: TillContext) -> dict[str, list[int]]:
    return {k: [int(x) for x in v] for k, v in {**DEFAULT_RFM, **(program(ctx).get("rfm") or {})}.items()}


def point_value_cents(ctx: TillContext) -> int:
    """What one point is worth to the customer, for the liability report (1 point = 1 cent by default)."""
    return int(program(ctx).get("point_value_cents", 1))


def reason_codes(ctx: TillContext) -> list[str]:
    return [str(c) for c in program(ctx).get("reason_codes") or DEFAULT_REASON_CODES]


def excluded_categories(ctx: TillContext) -> frozenset[str]:
    return ctx.rules.excluded_categories

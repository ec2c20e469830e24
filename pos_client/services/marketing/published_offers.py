"""Head office's published offers (`wire.program.Offer`, pulled into `sync_rules`) as the till's offer config.

Why a translation: the console edits an offer as one flat, bounded row (a trigger, a reward, a cap, the
share held out), while the till's offers engine (`offers.py`) reads `[[program.offers]]` conditions and
actions. Published offers replace the till's own list (as `[[program.offers]]` replaces the defaults),
with the holdout share head office set.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pos_client.services.program_settings import pulled
from pos_client.store.context import TillContext
from wire.program import Offer

CONDITIONS: dict[str, dict[str, Any]] = {  # trigger -> the offers engine's conditions
    "first_purchase": {"max_frequency": 1},  # welcome: at the first purchase, to bring the second
    "second_purchase": {"min_frequency": 2, "max_frequency": 2},
    "at_risk": {"stage": "at_risk"},
    "lapsed": {"stage": "lapsed"},
    "reactivated": {"stage": "reactivated"},  # win-back: the member came back
}


def as_config(offer: Offer) -> dict[str, Any]:
    """One published offer as a `[[program.offers]]` entry."""
    conditions = dict(CONDITIONS.get(offer.trigger, {}))
    if offer.trigger == "points_close":
        conditions = {"points_to_reward": offer.points_to_reward}
    action: dict[str, Any] = {"type": "message", "message": offer.message or ""}
    if offer.reward != "message":
        action = {**action, "type": "coupon", "kind": offer.reward, "value": offer.value, "sku": offer.sku,
                  "valid_days": offer.valid_days}
    cap: dict[str, Any] = {"max": offer.cap_max, **({"days": offer.cap_days} if offer.cap_days else {})}
    out: dict[str, Any] = {"id": offer.id, "priority": offer.priority, "conditions": conditions, "action": action,
                           "cap": cap, "holdout_pct": offer.holdout_pct}
    if offer.window_days is not None:
        out["window_days"] = offer.window_days
    return out


def published(ctx: TillContext) -> list[dict[str, Any]] | None:
    """The offers head office published, as config entries (None: it never did; the till's own apply)."""
    raw = pulled(ctx, "offers")
    if raw is None:
        return None
    return [as_config(o) for o in msgspec.convert(raw, list[Offer])]  # checked when pulled (sync.program_rules)

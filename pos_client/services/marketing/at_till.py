"""What the till's screens show about a member's program status, in one read-only call each.

The checkout's member panel wants the tier progress, the points expiring soon and the cashier
prompt; the manager screen wants the rewards catalog as this member sees it (affordable or not,
and why). Screens only format these; no Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pos_client.services.marketing import expiry, receipt, rewards, tiers
from pos_client.store import ledger
from pos_client.store.context import TillContext


@dataclass(frozen=True)
class MemberNotes:
    tier: str
    next_tier: str | None
    spend_needed_cents: int | None
    expiring_points: int
    expiring_by: str | None
    prompt: str | None


def member_notes(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> MemberNotes:
    """Tier progress, points expiring within 30 days and the best offer's cashier prompt."""
    progress = tiers.tier_progress(ctx, member_id, as_of)
    soon = expiry.expiring_soon(ctx, member_id, 30, as_of)
    return MemberNotes(progress["tier"], progress["next_tier"], progress["spend_needed_cents"],
                       int(soon["points"]), soon["by"], receipt.cashier_prompt(ctx, member_id, as_of))


@dataclass(frozen=True)
class RewardChoice:
    reward: rewards.Reward
    available: bool
    why_not: str | None


def rewards_for(ctx: TillContext, member_id: str | None) -> list[RewardChoice]:
    """The catalog with, for the attached member, whether each reward can be redeemed now (whole)."""
    out = []
    held = tiers.current_tier(ctx, member_id) if member_id else None
    balance = ledger.balance(ctx.conn, member_id) if member_id else 0
    for reward in rewards.catalog(ctx):
        why = None
        if member_id is None:
            why = "no member"
        elif not rewards._tier_allows(ctx, held or "", reward.tier):
            why = f"{reward.tier}+ only"
        elif balance < reward.points:
            why = "partial only" if reward.kind in rewards.PARTIAL_KINDS and balance > 0 else "too few points"
        out.append(RewardChoice(reward, why is None, why))
    return out

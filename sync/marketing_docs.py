"""What sync carries for marketing: till public keys, coupon uses, erasures, offer targetings and tier changes.

`HANDLERS` is what the composition root installs in a till's `extensions.sync_docs`. Builders turn an outbox key
(filled by the triggers of migrations m0310, m0420 and m0430) into a protocol record; appliers store what other
tills and head office sent, inside the pull page's transaction, with the outbox triggers quiet.
"""

from __future__ import annotations

from typing import Any

from pos_client.domain.errors import PosError
from pos_client.services.marketing import coupons, privacy, signing
from pos_client.store.context import TillContext
from sync.extensions import DocHandler


def announce_key(ctx: TillContext) -> dict[str, Any] | None:
    """This till's public key, sent until head office confirms it holds it."""
    try:
        key = signing.own_public_key(ctx)
    except PosError:  # no till home, so no key file: this till cannot sign coupons anyway
        return None
    return {"store_id": ctx.store_id, "till_id": ctx.till_id, "public_key": key.hex()}


def apply_keys(ctx: TillContext, rows: list[dict[str, Any]]) -> int:
    """Trust every other till's key as head office holds it (first key per till wins there)."""
    added = 0
    for r in rows:
        if (r["store_id"], r["till_id"]) == (ctx.store_id, ctx.till_id):
            continue  # never let anyone replace this till's own key
        signing.add_trusted_key(ctx, r["store_id"], r["till_id"], bytes.fromhex(r["public_key"]), replace=True)
        added += 1
    return added


def _own(ctx: TillContext, row: Any) -> dict[str, Any] | None:
    """Only this till's own records are pushed: head office refuses a batch naming another till (403)."""
    if row is None or (row["store_id"], row["till_id"]) != (ctx.store_id, ctx.till_id):
        return None
    return dict(row)


def build_use(ctx: TillContext, use_id: str) -> dict[str, Any] | None:
    return _own(ctx, ctx.conn.execute("SELECT use_id, code, store_id, till_id, sale_id, used_at FROM coupon_uses"
                                      " WHERE use_id = ?", (use_id,)).fetchone())


def apply_uses(ctx: TillContext, rows: list[dict[str, Any]]) -> int:
    return coupons.record_uses(ctx, rows)


def build_erasure(ctx: TillContext, erasure_id: str) -> dict[str, Any] | None:
    return _own(ctx, ctx.conn.execute("SELECT erasure_id, member_id, store_id, till_id, at FROM erasures"
                                      " WHERE erasure_id = ?", (erasure_id,)).fetchone())


def apply_erasures(ctx: TillContext, rows: list[dict[str, Any]]) -> int:
    return privacy.record_erasures(ctx, rows)


OFFER_TARGET_COLUMNS = ("offer_id", "member_id", "sale_id", "grp", "holdout_bp", "window_days", "coupon_code",
                        "store_id", "till_id", "day", "at")


def build_offer_target(ctx: TillContext, key: str) -> dict[str, Any] | None:
    """The targeting an outbox key "offer_id/sale_id" names (a sale id has no "/": split at the last one)."""
    offer_id, _, sale_id = key.rpartition("/")
    return _own(ctx, ctx.conn.execute(f"SELECT {', '.join(OFFER_TARGET_COLUMNS)} FROM offer_targets"
                                      " WHERE offer_id = ? AND sale_id = ?", (offer_id, sale_id)).fetchone())


def apply_offer_targets(ctx: TillContext, rows: list[dict[str, Any]]) -> int:
    """Other tills' targetings, kept as they were recorded (append-only; a replay adds nothing).

    With them a frequency cap counts a member's targetings at every till, and a member's first recorded
    group (`offers.group_of`) is the chain's. Returns the rows added."""
    added = 0
    for r in rows:
        cur = ctx.conn.execute(
            f"INSERT INTO offer_targets ({', '.join(OFFER_TARGET_COLUMNS)}) VALUES"
            f" ({', '.join('?' * len(OFFER_TARGET_COLUMNS))}) ON CONFLICT DO NOTHING",
            tuple(r[c] for c in OFFER_TARGET_COLUMNS))
        added += cur.rowcount
    return added


TIER_CHANGE_COLUMNS = ("member_id", "tier", "prev_tier", "since", "reason", "sale_id", "created_at")


def build_tier_change(ctx: TillContext, key: str) -> dict[str, Any] | None:
    """The tier change an outbox key (its `member_tiers` rowid) names; every row there is this till's own
    (tier changes are pushed, never pulled)."""
    row = ctx.conn.execute(f"SELECT rowid, {', '.join(TIER_CHANGE_COLUMNS)} FROM member_tiers WHERE rowid = ?",
                           (int(key),)).fetchone()
    if row is None:
        return None
    return {"store_id": ctx.store_id, "till_id": ctx.till_id, "row_no": row[0],
            **{c: row[c] for c in TIER_CHANGE_COLUMNS}}


def refuse_tier_changes(ctx: TillContext, rows: list[dict[str, Any]]) -> int:
    """Head office never sends tier changes (each till keeps its own): a page holding some is refused whole."""
    raise PosError(f"head office sent {len(rows)} tier change(s); tills only push them")


def _no_record(ctx: TillContext, key: str) -> dict[str, Any] | None:
    """Till keys are announced, never queued in the outbox."""
    return None


HANDLERS: tuple[DocHandler, ...] = (
    DocHandler("till_key", build=_no_record, apply=apply_keys, announce=announce_key),
    DocHandler("coupon_use", build=build_use, apply=apply_uses),
    DocHandler("erasure", build=build_erasure, apply=apply_erasures),
    DocHandler("offer_target", build=build_offer_target, apply=apply_offer_targets),
    DocHandler("tier_change", build=build_tier_change, apply=refuse_tier_changes),
)

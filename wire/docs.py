"""Documents other capabilities ask sync to carry (`docs: [{type, key, data}]`), immutable once written.

Each type's data is a Struct here; DOC_DATA maps a type to it, and DocRecord checks data and key against
it. The OpenAPI document describes `Doc` from the same map (one schema per type).
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from wire.errors import Invalid, convert, explain
from wire.fields import (
    BasisPoints,
    CouponCode,
    Day,
    DocType,
    HexKey,
    Id,
    OfferGroup,
    OfferId,
    Positive,
    Text,
    Time,
    WindowDays,
)


class TillKeyData(msgspec.Struct, frozen=True):
    """A till's Ed25519 coupon-signing public key (hex); first key per (store, till) wins."""

    store_id: Id
    till_id: Id
    public_key: HexKey

    def key(self) -> str:
        return f"{self.store_id}/{self.till_id}"


class CouponUseData(msgspec.Struct, frozen=True):
    """One use of a coupon at a till."""

    use_id: Id
    code: CouponCode
    store_id: Id
    till_id: Id
    sale_id: Text  # any sale id a till accepted: a use must never be lost over its shape
    used_at: Time

    def key(self) -> str:
        return self.use_id


class ErasureData(msgspec.Struct, frozen=True):
    """A member's erasure request, taken at a till or at head office."""

    erasure_id: Id
    member_id: Id
    store_id: Id
    till_id: Id
    at: Time

    def key(self) -> str:
        return self.erasure_id


class OfferTargetData(msgspec.Struct, frozen=True):
    """A visit at which an offer was chosen for a member, and the group they were in (docs/offer-lift.md).

    `grp` 'treated' got the offer, 'control' was held out; `holdout_bp` the held-out share then (0: not
    randomised); `window_days` how long after `day` the offer-lift report looks for a purchase. Head
    office's offer-lift runs on these rows from every till, so they carry all it needs.
    """

    offer_id: OfferId
    member_id: Id
    sale_id: Id
    grp: OfferGroup
    holdout_bp: BasisPoints
    window_days: WindowDays
    coupon_code: CouponCode | None
    store_id: Id
    till_id: Id
    day: Day
    at: Time

    def key(self) -> str:
        return f"{self.offer_id}/{self.sale_id}"  # a sale id has no "/": the key splits at the last one


class TierChangeData(msgspec.Struct, frozen=True):
    """A member's move between tiers as a till recorded it (an upgrade on a sale, an upkeep's downgrade, or
    imported history): head office's tier-migration report and the console's tier mix read these rows.

    `row_no` is the till's own row number in `member_tiers`; with `created_at` it keys the change, so a till
    restored from a backup that numbers a new change like a lost one still sends a distinct document.
    Pushed only: tills never pull another till's tier changes.
    """

    store_id: Id
    till_id: Id
    row_no: Positive
    member_id: Id
    tier: Text
    prev_tier: Text | None
    since: Day
    reason: Text
    sale_id: Text | None
    created_at: Time

    def key(self) -> str:
        return f"{self.store_id}/{self.till_id}/{self.row_no}/{self.created_at}"


DocData = TillKeyData | CouponUseData | ErasureData | OfferTargetData | TierChangeData
DOC_DATA: dict[str, type[DocData]] = {"till_key": TillKeyData, "coupon_use": CouponUseData, "erasure": ErasureData,
                                      "offer_target": OfferTargetData, "tier_change": TierChangeData}
DOC_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f.encode_name for f in msgspec.structs.fields(cls)) for kind, cls in DOC_DATA.items()}
KEY_HELP = ("till_key: 'store/till'; coupon_use: use_id; erasure: erasure_id; offer_target: 'offer_id/sale_id';"
            " tier_change: 'store/till/row_no/created_at'")


class DocRecord(msgspec.Struct, frozen=True):
    """A document in a push; `data` is checked against its type's Struct and keeps only that Struct's fields.

    Every document names the store and till that wrote it; head office takes a till's own documents only.
    """

    type: DocType
    key: Text
    data: dict[str, Any]

    CHECKS: ClassVar[tuple[str, ...]] = ("key: must be the key its data names",)

    def __post_init__(self) -> None:
        shape = DOC_DATA[self.type]
        try:
            typed = msgspec.convert(self.data, shape)
        except msgspec.ValidationError as exc:
            raise Invalid(explain(shape, self.data, "data") or [f"data: {exc}"]) from None
        if self.key != typed.key():
            raise Invalid([f"{self.CHECKS[0]}, {typed.key()!r} for this {self.type}"])
        msgspec.structs.force_setattr(self, "data", msgspec.to_builtins(typed))

    @classmethod
    def parse(cls, raw: Any) -> DocRecord:
        return convert(raw, cls)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "key": self.key, "data": dict(self.data)}


def doc(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The wire form of a document, its key derived from its data by its type's own `key()`.

    The Struct is built without checks (its constructor checks nothing): head office checks the fields."""
    fields: dict[str, Any] = {f: data.get(f) for f in DOC_FIELDS[kind]}
    return {"type": kind, "key": DOC_DATA[kind](**fields).key(), "data": fields}

"""Documents other capabilities ask sync to carry (`docs: [{type, key, data}]`), immutable once written.

Each type's data is a Struct here; DOC_DATA maps a type to it, and DocRecord checks data and key against
it. The OpenAPI document describes `Doc` from the same map (one schema per type).
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from wire.errors import Invalid, convert, explain
from wire.fields import CouponCode, DocType, HexKey, Id, Text, Time


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


DocData = TillKeyData | CouponUseData | ErasureData
DOC_DATA: dict[str, type[DocData]] = {"till_key": TillKeyData, "coupon_use": CouponUseData, "erasure": ErasureData}
DOC_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f.encode_name for f in msgspec.structs.fields(cls)) for kind, cls in DOC_DATA.items()}
KEY_HELP = "till_key: 'store/till'; coupon_use: use_id; erasure: erasure_id"


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
    """The wire form of a document, its key derived from its data."""
    fields = {f: data.get(f) for f in DOC_FIELDS[kind]}
    key = f"{fields['store_id']}/{fields['till_id']}" if kind == "till_key" else str(
        fields["use_id" if kind == "coupon_use" else "erasure_id"])
    return {"type": kind, "key": key, "data": fields}

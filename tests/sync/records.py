"""Builders for protocol records used across the sync tests (plain dicts, as a till sends them)."""

from __future__ import annotations

import uuid

from wire.protocol import PushBatch

T0 = "2026-03-01T10:00:00.000000+00:00"


def entry(store: str, till: str, seq: int, member: str, points: int, kind: str = "earn",
          created_at: str = T0, entry_id: str | None = None) -> dict:
    return {"entry_id": entry_id or uuid.uuid4().hex, "member_id": member, "store_id": store, "till_id": till,
            "seq": seq, "kind": kind, "points": points, "created_at": created_at, "amount_cents": 0}


def member(member_id: str, store: str, phone: str | None = None, created_at: str = T0, name: str = "Ann") -> dict:
    return {"member_id": member_id, "store_id": store, "name": name, "phone": phone, "email": None,
            "status": "active", "created_at": created_at, "updated_at": created_at, "consent": {"email": True}}


def card(number: str, member_id: str, status: str = "active") -> dict:
    return {"card_number": number, "member_id": member_id, "source": "barcode", "status": status,
            "updated_at": T0, "created_at": T0}


def batch(store: str, till: str, **parts) -> PushBatch:
    return PushBatch.parse({"store_id": store, "till_id": till, **parts})


def till_key(store: str, till: str, public_key: str) -> dict:
    return {"type": "till_key", "key": f"{store}/{till}",
            "data": {"store_id": store, "till_id": till, "public_key": public_key}}


def coupon_use(store: str, till: str, code: str, sale_id: str, use_id: str | None = None) -> dict:
    use_id = use_id or uuid.uuid4().hex
    return {"type": "coupon_use", "key": use_id, "data": {"use_id": use_id, "code": code, "store_id": store,
                                                          "till_id": till, "sale_id": sale_id, "used_at": T0}}


def erasure(store: str, till: str, member_id: str, erasure_id: str | None = None) -> dict:
    erasure_id = erasure_id or uuid.uuid4().hex
    return {"type": "erasure", "key": erasure_id, "data": {"erasure_id": erasure_id, "member_id": member_id,
                                                           "store_id": store, "till_id": till, "at": T0}}


def offer_target(store: str, till: str, offer_id: str, sale_id: str, member_id: str, grp: str = "treated",
                 day: str = "2026-03-01", **over) -> dict:
    data = {"offer_id": offer_id, "member_id": member_id, "sale_id": sale_id, "grp": grp, "holdout_bp": 1000,
            "window_days": 30, "coupon_code": None, "store_id": store, "till_id": till, "day": day,
            "at": f"{day}T10:00:00.000000+00:00", **over}
    return {"type": "offer_target", "key": f"{offer_id}/{sale_id}", "data": data}

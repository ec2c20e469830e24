"""Ledger, sale and member ids: UUIDv7 (uuid-utils) as 32 hex digits, in creation order."""

from __future__ import annotations

import time
import uuid

from pos_client.store.ledger import new_id


def test_ids_are_uuid7_hex_with_the_current_millisecond():
    before = time.time_ns() // 1_000_000
    text = new_id()
    after = time.time_ns() // 1_000_000
    u = uuid.UUID(hex=text)
    assert len(text) == 32 and text == u.hex  # the text format the database and the wire carry
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert before <= u.int >> 80 <= after  # 48-bit Unix milliseconds first: index order is time order


def test_ids_made_in_one_burst_stay_in_order_and_unique():
    ids = [new_id() for _ in range(20_000)]  # many share a millisecond: the RFC 9562 counter orders them
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

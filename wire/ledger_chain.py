"""The ledger's hash chain: one definition the till (when it appends, `doctor`, the upkeep) and head office
(when a till pushes) both compute, so a flipped byte in an entry, or an entry changed or removed, is noticed.

Why here: `wire` is the one package both sides import. Each entry's `entry_hash` is SHA-256 over its
`prev_hash` (the `entry_hash` of the same till's entry just before it in seq order, "" for its first) and
its canonical content: the entry's columns in `CHAIN_COLUMNS` order as compact JSON. The content is
exactly what the till wrote and head office stores, so both recompute the same hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Annotated, Any, Final

from msgspec import Meta

# The columns an entry's hash covers, in this order (every column the till writes but the hashes).
CHAIN_COLUMNS: Final = ("entry_id", "member_id", "store_id", "till_id", "seq", "kind", "points", "sale_id",
                        "amount_cents", "created_at", "operator", "reason", "ref")
HASH_PATTERN: Final = "^[0-9a-f]{64}$"

ChainHash = Annotated[str, Meta(pattern=HASH_PATTERN, description="SHA-256, 64 lower-case hex digits",
                                extra={"reason": "not a SHA-256 hash (64 lower-case hex digits)"})]


def chain_hash(prev_hash: str | None, content: Sequence[Any]) -> str:
    """The hash of one entry: `content` is its values in CHAIN_COLUMNS order, `prev_hash` the link."""
    if len(content) != len(CHAIN_COLUMNS):
        raise ValueError(f"a ledger entry's chain content has {len(CHAIN_COLUMNS)} values, got {len(content)}")
    text = json.dumps([prev_hash or "", *content], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

"""The bulk pattern check behind a push's fast decode is never looser than the patterns one by one, and a
batch decoded through it is the batch the strict decoder gives (or the strict path is taken)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from records import entry

from wire import bulk_check
from wire.batches import _BATCH_DECODER, PushBatch, _decode_checked_in_bulk, encode
from wire.fields import ID_PATTERN, TIME_PATTERN, UUID_PATTERN
from wire.ledger_chain import HASH_PATTERN

CASES = ((bulk_check.IDS, ID_PATTERN), (bulk_check.UUIDS, UUID_PATTERN), (bulk_check.TIMES, TIME_PATTERN),
         (bulk_check.HASHES, HASH_PATTERN))
NEAR = st.sampled_from(["", "\n", "a\n", "\na", "T1", "a b", "x" * 64, "x" * 65, "0" * 64, "0" * 64 + "\n",
                        "0" * 63, "F" * 64, "2026-03-01T10:00:00.000000+00:00", "2026-02-29", "2024-02-29",
                        "2026-03-01T10:00:00.000000+00:00\n", "0123456789abcdef0123456789abcdef",
                        "01234567-89ab-cdef-0123-456789abcdef", "0123456789abcdef0123456789abcdef\n",
                        "é", "٣", "S1\nS2"])
VALUE = st.one_of(NEAR, st.text(max_size=70), st.text("0123456789abcdefT:-.+ \n", max_size=70))


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(st.none(), VALUE), max_size=6))
def test_bulk_accepts_only_what_every_pattern_accepts(values: list[str | None]) -> None:
    for bulk, pattern in CASES:
        if bulk_check.all_match(bulk, values):
            assert all(re.search(pattern, v) for v in values if v is not None), (pattern, values)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b1", "S_1.x:y-z", "Z" * 64]), min_size=1, max_size=5))
def test_bulk_accepts_good_values(values: list[str]) -> None:
    assert bulk_check.all_match(bulk_check.IDS, values)


def test_a_usual_batch_takes_the_fast_path_and_equals_the_strict_decode() -> None:
    body = encode({"store_id": "S1", "till_id": "T1",
                   "entries": [entry("S1", "T1", s, f"m{s % 3}", s) for s in range(1, 50)]})
    fast = _decode_checked_in_bulk(body)
    assert fast is not None and fast == _BATCH_DECODER.decode(body) == PushBatch.decode(body)
    assert type(fast) is PushBatch and all(type(e).__name__ == "LedgerRecord" for e in fast.entries)


def test_a_batch_with_any_bad_entry_goes_the_strict_way_with_its_reasons() -> None:
    good = [entry("S1", "T1", s, "m1", 1) for s in range(1, 4)]
    for field, bad in (("entry_id", "not-a-uuid"), ("member_id", "m 1"), ("created_at", "2026-02-30"),
                       ("store_id", "S1\n"), ("kind", "gift"), ("points", 2.5)):
        body = encode({"store_id": "S1", "till_id": "T1", "entries": [*good, {**good[0], "seq": 9, field: bad}]})
        assert _decode_checked_in_bulk(body) is None
        batch = PushBatch.decode(body)
        assert len(batch.entries) == 3 and len(batch.rejects) == 1 and batch.rejects[0].index == 3


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(st.none(), VALUE), max_size=6), st.sampled_from([32, 64]))
def test_the_hex_check_accepts_only_what_the_hex_pattern_accepts(values: list[str | None], length: int) -> None:
    if bulk_check.all_hex(values, length):
        assert all(re.search(f"^[0-9a-f]{{{length}}}$(?!\\n)", v) for v in values if v is not None), values
        if length == 64:
            assert all(re.search(HASH_PATTERN, v) for v in values if v is not None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text("0123456789abcdef", min_size=64, max_size=64), min_size=1, max_size=5))
def test_the_hex_check_accepts_good_hashes(values: list[str]) -> None:
    assert bulk_check.all_hex(values, 64) and not bulk_check.all_hex([*values, "A" * 64], 64)


def test_a_nul_anywhere_takes_the_strict_way_with_or_without_other_escapes() -> None:
    """The fast path looks for a backslash first (one memchr; a usual body has none), then for the NUL escape."""
    good = [entry("S1", "T1", s, "m1", 1) for s in range(1, 4)]
    for text in ("a\x00b", "a\x00b \"quoted\"\n", "\x00"):
        body = encode({"store_id": "S1", "till_id": "T1", "entries": [*good, {**good[0], "seq": 9, "reason": text}]})
        assert b"\\u0000" in body and _decode_checked_in_bulk(body) is None
        batch = PushBatch.decode(body)
        assert len(batch.entries) == 3 and [r.index for r in batch.rejects] == [3]
    escaped = encode({"store_id": "S1", "till_id": "T1", "entries": [{**good[0], "reason": 'say "hi"\n'}]})
    assert b"\\" in escaped and _decode_checked_in_bulk(escaped) == PushBatch.decode(escaped)

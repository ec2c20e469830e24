"""The fast chain hash (msgspec) hashes exactly the canonical bytes (json.dumps): a till and a head office
of different versions must agree on every entry, or head office would quarantine a till's honest ledger."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headoffice.store.validate import _all_link, check_chain
from wire.bounds import CENTS, POINTS, SEQ
from wire.ledger_chain import CHAIN_COLUMNS, canonical_text, chain_hash, typed_chain_hash
from wire.records import LedgerRecord


def reference(prev: str | None, content: list[Any]) -> str:
    return hashlib.sha256(canonical_text(prev, content)).hexdigest()


_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
_INT = st.one_of(st.integers(POINTS.low, POINTS.high), st.integers(-(2**63), 2**63 - 1),
                 st.sampled_from([0, -1, 1, SEQ.high, CENTS.low, CENTS.high, 2**64, -(2**64) - 1, 10**30]))
_VALUE = st.one_of(st.none(), _TEXT, _INT, st.booleans(), st.floats(allow_nan=True, allow_infinity=True))
_PREV = st.one_of(st.none(), st.just(""), st.text("0123456789abcdef", min_size=64, max_size=64), _TEXT)


@settings(max_examples=1500, deadline=None)
@given(_PREV, st.lists(_VALUE, min_size=len(CHAIN_COLUMNS), max_size=len(CHAIN_COLUMNS)))
def test_any_values_hash_as_the_canonical_form(prev: str | None, content: list[Any]) -> None:
    assert chain_hash(prev, content) == reference(prev, content)


@settings(max_examples=1000, deadline=None)
@given(entry_id=st.text("0123456789abcdef", min_size=32, max_size=32), member=_TEXT, text=_TEXT,
       seq=st.integers(SEQ.low, SEQ.high), points=st.integers(POINTS.low, POINTS.high),
       cents=st.integers(CENTS.low, CENTS.high), prev=_PREV)
def test_entry_shaped_content_hashes_as_the_canonical_form(entry_id: str, member: str, text: str, seq: int,
                                                           points: int, cents: int, prev: str | None) -> None:
    content = [entry_id, member, "S1", "T1", seq, "earn", points, None, cents, "2026-01-01T00:00:00+00:00",
               text, text or None, None]
    assert chain_hash(prev, content) == reference(prev, content)
    assert typed_chain_hash(prev, content) == reference(prev, content)  # head office's form for decoded records


@pytest.mark.parametrize("text", ["", "é", "日本", "😀", "\u2028\u2029", "\x7f", "\x00\x01\x1f", '"\\/',
                                  "\ud800", "\udfff", "\ud83d\ude00", "a\nb\tc\rd\be\ff"])
def test_unicode_escapes_and_surrogates(text: str) -> None:
    content = ["e" * 32, text, "S1", "T1", 1, "earn", 1, text, 0, "2026-01-01", text, None, text]
    assert chain_hash(text or None, content) == reference(text or None, content)
    assert typed_chain_hash(text or None, content) == reference(text or None, content)


def test_the_fast_form_is_taken_for_ordinary_entries() -> None:
    """Not a fallback every time: the msgspec bytes themselves are the canonical ones."""
    content = ["e" * 32, "m1", "S1", "T1", 7, "redeem", -5, "s1", 250, "2026-01-01T10:00:00.000000+00:00",
               "op é", None, None]
    assert msgspec.json.encode(["p" * 64, *content]) == canonical_text("p" * 64, content)


def test_content_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError):
        chain_hash(None, ["x"] * (len(CHAIN_COLUMNS) - 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), _TEXT, _INT, st.booleans()), min_size=len(CHAIN_COLUMNS),
                max_size=len(CHAIN_COLUMNS)), _PREV)
def test_the_typed_form_hashes_any_float_free_content_as_the_canonical_form(content: list[Any],
                                                                           prev: str | None) -> None:
    """What a decoded LedgerRecord can hold (text, None, ints of any size, no floats): the canonical bytes."""
    assert typed_chain_hash(prev, content) == reference(prev, content)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(_TEXT, st.one_of(st.none(), _TEXT)), min_size=1, max_size=4), st.data())
def test_head_offices_one_pass_check_agrees_with_the_canonical_hash(texts: list[tuple[str, str | None]],
                                                                     data: st.DataObject) -> None:
    """`headoffice.store.validate` checks a push's chain in one boolean pass (issue 15: ingest rate): a chain
    made with the canonical hash passes it, and any entry whose hash is not the canonical one sends the push to
    the slow path, which quarantines exactly that entry."""
    prev, entries = None, []
    for seq, (op, reason) in enumerate(texts, start=1):
        content = ["e" * 31 + str(seq % 10), "m1", "S1", "T1", seq, "earn", 1, None, 100,
                   "2026-01-01T00:00:00+00:00", op, reason, None]
        h = reference(prev, content)
        entries.append(LedgerRecord(*content[:7], created_at=content[9], sale_id=None, amount_cents=100,
                                    operator=op, reason=reason, ref=None, prev_hash=prev, entry_hash=h))
        prev = h
    good = check_chain(entries, None)
    assert good == (entries, [])
    if _all_link(list(enumerate(entries)), None) is False:  # only what msgspec cannot write, checked slowly
        assert any("\ud800" <= c <= "\udfff" for op, reason in texts for c in op + (reason or ""))
    bad = data.draw(st.integers(0, len(entries) - 1))
    forged = msgspec.structs.replace(entries[bad], entry_hash="0" * 64)
    changed = [*entries[:bad], forged, *entries[bad + 1:]]
    assert not _all_link(list(enumerate(changed)), None)
    kept, rejects = check_chain(changed, None)
    assert [r.index for r in rejects][:1] == [bad] and forged not in kept

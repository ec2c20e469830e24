"""The declared field types: what the patterns and bounds accept is what Python, the decoder and the
document's JSON Schema validator all accept; program rules are typed per key, unknown keys refused."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import jsonschema_rs
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from records import T0, entry

from wire.batches import PushBatch, encode
from wire.errors import Invalid, NotJson
from wire.fields import ID_PATTERN, TIME_PATTERN
from wire.openapi import openapi
from wire.records import LedgerRecord
from wire.rules import RULE_KEYS, validate_rule


def _schema(name: str) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": openapi()["components"]})


@settings(max_examples=300, deadline=None)
@given(st.from_regex(TIME_PATTERN))
def test_every_time_the_pattern_accepts_python_parses(text):
    datetime.fromisoformat(text)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]),
       st.sampled_from(["auto", "seconds", "milliseconds", "microseconds", "minutes"]), st.sampled_from("T "))
def test_every_time_a_till_writes_fits_the_pattern(moment, tz, spec, sep):
    assert re.search(TIME_PATTERN, moment.replace(tzinfo=tz).isoformat(sep=sep, timespec=spec))


def test_patterns_mean_the_same_to_python_msgspec_and_json_schema():
    e = entry("S1", "T1", 1, "m1", 5)
    ledger = _schema("LedgerRecord")
    for bad in ("S1\n", "", "a" * 65, "S 1"):  # Python's `$` alone would take "S1\n"
        assert not re.search(ID_PATTERN, bad)
        assert not ledger.is_valid({**e, "store_id": bad})
        with pytest.raises(Invalid, match="store_id"):
            LedgerRecord.parse({**e, "store_id": bad})
    for bad in ("2026-02-29", "2026-13-01", "yesterday", "2026-03-01T24:00", T0 + "\n"):
        assert not ledger.is_valid({**e, "created_at": bad})
        with pytest.raises(Invalid, match="created_at: not an ISO-8601 time"):
            LedgerRecord.parse({**e, "created_at": bad})
    assert ledger.is_valid(e) and LedgerRecord.parse({**e, "created_at": "2024-02-29"})


def test_whole_numbers_are_integers_but_fractions_and_booleans_never():
    e = entry("S1", "T1", 1, "m1", 5)
    assert LedgerRecord.parse({**e, "points": 5.0, "seq": 1.0}) == LedgerRecord.parse(e)
    assert PushBatch.decode(json.dumps({"store_id": "S1", "till_id": "T1", "entries": [{**e, "points": 5.0}]})
                            .encode()).entries == [LedgerRecord.parse(e)]
    for value, why in ((5.5, "got float"), (True, "got bool"), ("5", "got str"), (10**13, "<= 1000000000000")):
        with pytest.raises(Invalid, match=f"points: must be .*{why}"):
            LedgerRecord.parse({**e, "points": value})


def test_rejects_never_travel_and_a_batch_encodes_as_it_decodes():
    body = {"store_id": "S1", "till_id": "T1", "entries": [entry("S1", "T1", 1, "m1", 5), {"seq": 2}]}
    batch = PushBatch.parse(body)
    assert len(batch.rejects) == 1 and "rejects" not in msgspec.json.decode(encode(batch))
    assert PushBatch.decode(encode(batch)) == batch
    with pytest.raises(NotJson, match="body is not JSON"):
        PushBatch.decode(b'{"store_id": 1} trailing')


def test_each_rule_key_has_its_type_and_unknown_keys_are_refused():
    assert RULE_KEYS == ("offline_redeem_cap", "rewards", "tiers", "earning", "category_multipliers", "promotions",
                         "offers", "card_formats")
    assert validate_rule("offline_redeem_cap", 0) == []
    assert validate_rule("offline_redeem_cap", -1) == ["offline_redeem_cap: must be >= 0"]
    assert validate_rule("loyalty_colour", "red") == [
        "loyalty_colour: not a program rule tills read (one of offline_redeem_cap, rewards, tiers, earning,"
        " category_multipliers, promotions, offers, card_formats)"]
    reward = {"id": "R1", "name": "1.00 off", "kind": "amount_off", "points": 100, "value": 100}
    assert validate_rule("rewards", [reward]) == []
    assert validate_rule("rewards", []) == ["rewards: must not be empty"]
    assert validate_rule("rewards", [reward, {**reward, "colour": "red"}]) == ["rewards[1].colour: unknown field"]
    assert validate_rule("rewards", [reward, reward])[0].startswith("rewards[1].id: a reward's id is unique")
    assert validate_rule("rewards", [{**reward, "kind": "free_product"}]) == [
        "rewards[0].sku: a free product names its sku"]
    assert validate_rule("tiers", [{"name": "Gold", "min_spend_cents": 100}]) == [
        "tiers: the lowest tier must have min_spend_cents = 0"]
    assert validate_rule("tiers", [{"name": "Member"}, {"name": "", "multiplier_pct": 1.5}]) == [
        "tiers[1].name: required", "tiers[1].multiplier_pct: must be an integer, got float"]


def test_free_text_never_holds_nul_whichever_way_it_arrives():
    e = entry("S1", "T1", 1, "m1", 5)
    body = {"store_id": "S1", "till_id": "T1", "entries": [e, {**e, "seq": 2, "operator": "a\x00b"},
                                                           {**e, "seq": 3, "reason": "a\\u0000b"}]}
    for batch in (PushBatch.parse(body), PushBatch.decode(json.dumps(body).encode())):
        assert [x.seq for x in batch.entries] == [1, 3]  # a backslash-u in text is not a NUL
        assert [(r.index, r.reasons) for r in batch.rejects] == [(1, ["operator: must not contain NUL"])]
    with pytest.raises(Invalid, match="reason: must not contain NUL"):
        LedgerRecord.parse({**e, "reason": "\x00"})
    assert validate_rule("tiers", [{"name": "Member\x00"}]) == ["tiers[0].name: must not contain NUL"]
    assert not _schema("LedgerRecord").is_valid({**e, "operator": "a\x00b"})

"""Issue 11, finding 6: a pushed sale with total_cents=-1000000000, points_earned=1000000000 and no lines was
stored; a seq of 10**12 was accepted; a replayed entry id with other content was taken as a duplicate. Each is
now quarantined with its reason (kept in `rejects`, reported to the till); the rest of the batch is kept.
Runs on both head-office backends (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import json

from records import T0, batch, entry, member

from headoffice.store import Principal


def enrol(store, s: str, t: str) -> Principal:
    _token, who = store.register(store.add_till(s, t))
    return who


def sale(sale_id: str, total: int, points: int, member_id: str = "m1") -> dict:
    return {"sale_id": sale_id, "store_id": "S1", "till_id": "T1", "member_id": member_id, "total_cents": total,
            "points_earned": points, "created_at": T0, "tender": "cash", "lines": []}


def rejects(store) -> list[dict]:
    return store.rejects()


def test_forged_sales_are_quarantined_and_honest_ones_kept(store):
    who = enrol(store, "S1", "T1")
    result = store.ingest(who, batch("S1", "T1", members=[member("m1", "S1")], sales=[
        sale("FORGED", -1_000_000_000, 1_000_000_000), sale("TOO-MANY", 1000, 50_000), sale("OK", 2450, 24),
        sale("REFUND", -500, 0)]))
    assert result.sales == 2
    stored = {r["sale_id"] for r in store.export_rows("sales")}
    assert not any("1000000000" in json.dumps(r) for r in store.export_rows("sales"))
    assert stored == {"OK", "REFUND"}
    got = {r["key"]: r["reasons"] for r in result.rejected}
    assert set(got) == {"FORGED", "TOO-MANY"}
    assert "points on a total of -1000000000 cents" in got["FORGED"][0]
    assert "more than 100 points per unit" in got["TOO-MANY"][0]
    assert {r["type"] for r in rejects(store)} == {"sales"}


def test_a_seq_far_past_the_till_sequence_is_quarantined(store):
    who = enrol(store, "S1", "T1")
    r = store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", 1, "m1", 5),
                                                     entry("S1", "T1", 10**12, "m1", 5)]))
    assert r.accepted == 1 and r.high_seq == 1
    assert [x["reasons"][0].startswith("seq: 1000000000000 is more than") for x in r.rejected] == [True]
    assert store.balance("m1") == 5
    # a till's honest sequence still moves on afterwards
    r = store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", 2, "m1", 1)]))
    assert r.accepted == 1 and r.high_seq == 2


def test_an_earn_entry_beyond_the_cap_on_its_amount_is_quarantined(store):
    who = enrol(store, "S1", "T1")
    honest = {**entry("S1", "T1", 1, "m1", 30), "amount_cents": 3000}
    forged = {**entry("S1", "T1", 2, "m1", 10**9), "amount_cents": 100}
    r = store.ingest(who, batch("S1", "T1", entries=[honest, forged]))
    assert r.accepted == 1 and store.balance("m1") == 30
    assert r.rejected[0]["key"] == forged["entry_id"] and "points per unit" in r.rejected[0]["reasons"][0]
    assert r.high_seq == 2  # the quarantined entry's seq counts as held: no gap blocks the till


def test_a_replayed_entry_id_with_other_content_is_a_reported_conflict(store):
    who = enrol(store, "S1", "T1")
    first = entry("S1", "T1", 1, "m1", 10)
    assert store.ingest(who, batch("S1", "T1", entries=[first])).accepted == 1
    same = store.ingest(who, batch("S1", "T1", entries=[first]))
    assert (same.accepted, same.duplicates, same.rejected) == (0, 1, [])
    changed = {**first, "points": 500}
    r = store.ingest(who, batch("S1", "T1", entries=[changed]))
    assert (r.accepted, r.duplicates) == (0, 0)
    assert r.rejected[0]["key"] == first["entry_id"] and "other content" in r.rejected[0]["reasons"][0]
    assert store.balance("m1") == 10
    assert any("other content" in x["reasons"][0] for x in rejects(store))

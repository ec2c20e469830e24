"""Tier changes at head office, on SQLite and PostgreSQL: taken once per key (a replay or a resend adds nothing),
only a till's own, checked field by field (a bad one set aside with its reason), exported for the marketing
snapshot and never sent to a till on pull (each till keeps its own tier history)."""

from __future__ import annotations

import pytest
from records import batch

from headoffice.store import Forbidden, Principal


def enrol(store, s: str, t: str) -> Principal:
    token, who = store.register(store.add_till(s, t))
    assert store.authenticate(token) == who
    return who


def tier_change(store: str, till: str, row_no: int, member_id: str, tier: str, prev: str | None, since: str,
                reason: str = "upgrade", **over) -> dict:
    data = {"store_id": store, "till_id": till, "row_no": row_no, "member_id": member_id, "tier": tier,
            "prev_tier": prev, "since": since, "reason": reason, "sale_id": None,
            "created_at": f"{since}T12:00:00.000000+00:00", **over}
    return {"type": "tier_change", "key": f"{store}/{till}/{row_no}/{data['created_at']}", "data": data}


def test_tier_changes_are_kept_once_checked_and_never_pulled(store):
    a, b = enrol(store, "S1", "T1"), enrol(store, "S2", "T1")
    up = tier_change("S1", "T1", 1, "m1", "Gold", "Member", "2025-02-10", sale_id="sale-1")
    down = tier_change("S1", "T1", 2, "m1", "Silver", "Gold", "2026-03-31", "downgrade")
    assert store.ingest(a, batch("S1", "T1", docs=[up, down])).docs == 2
    assert store.ingest(a, batch("S1", "T1", docs=[up, down])).docs == 0  # the same push again
    # a till restored from a backup numbers a new change like a lost one: its own time keeps it apart
    again = tier_change("S1", "T1", 2, "m2", "Silver", "Member", "2026-04-02", created_at="2026-04-02T09:00:00+00:00")
    assert store.ingest(a, batch("S1", "T1", docs=[again])).docs == 1
    assert store.ingest(b, batch("S2", "T1", docs=[tier_change("S2", "T1", 1, "m1", "Silver", None,
                                                               "2025-06-01")])).docs == 1
    assert store.counts()["tier_changes"] == 4
    exported = {(r["store_id"], r["row_no"], r["member_id"]): (r["prev_tier"], r["tier"], r["since"], r["reason"])
                for r in store.export_rows("tier_changes")}
    assert exported == {("S1", 1, "m1"): ("Member", "Gold", "2025-02-10", "upgrade"),
                        ("S1", 2, "m1"): ("Gold", "Silver", "2026-03-31", "downgrade"),
                        ("S1", 2, "m2"): ("Member", "Silver", "2026-04-02", "upgrade"),
                        ("S2", 1, "m1"): (None, "Silver", "2025-06-01", "upgrade")}
    page = store.pull(b, 0, 1000)
    assert not [c for c in page.changes if c.type not in ("member", "card", "entry", "rule", "product")]
    with pytest.raises(Forbidden):
        store.ingest(a, batch("S1", "T1", docs=[tier_change("S2", "T1", 9, "m1", "Gold", None, "2025-01-01")]))
    bad = [tier_change("S1", "T1", 0, "m1", "Gold", None, "2025-01-01"),
           tier_change("S1", "T1", 3, "m1", "", None, "2025-01-01"),
           tier_change("S1", "T1", 4, "m1", "Gold", None, "2025-02-30")]
    wrong_key = tier_change("S1", "T1", 5, "m1", "Gold", None, "2025-01-01")
    wrong_key["key"] = "S1/T1/1/whatever"
    r = store.ingest(a, batch("S1", "T1", docs=[*bad, wrong_key]))
    assert r.docs == 0 and store.counts()["tier_changes"] == 4 and len(r.rejected) == 4
    assert all(rej["reasons"] for rej in r.rejected)

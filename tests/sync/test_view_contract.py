"""A till's view at head office (wire/view.py), on both backends: a `seen` pull carries each changed member's
balance instead of other tills' entries, and entries only of the members the till follows; `store` adds
its store's members' entries; `all` is the old feed (entries, no balances)."""

from __future__ import annotations

from records import batch, entry, member

from headoffice.store import Principal


def _pull(store, who, view, cursor=0):
    changes = []
    while True:
        page = store.pull(who, cursor, 3, view=view)  # small pages: the filters hold across page limits
        changes += page.changes
        cursor = page.next_cursor
        if not page.more:
            return changes, cursor


def _setup(store):
    """Till S1/T1 sells to a (its store's) and b (store S2's), twice each; S2/T2 and S1/T2 will pull."""
    for s, t in (("S1", "T1"), ("S2", "T2"), ("S1", "T2")):
        store.add_till(s, t)
    seller = Principal("S1", "T1")
    store.ingest(seller, batch("S1", "T1", members=[member("a", "S1"), member("b", "S2", phone="0611111111")],
                               entries=[entry("S1", "T1", 1, "a", 10), entry("S1", "T1", 2, "b", 20),
                                        entry("S1", "T1", 3, "a", 5), entry("S1", "T1", 4, "b", 7)]))
    return seller


def test_a_seen_pull_carries_balances_not_other_tills_entries(store):
    _setup(store)
    changes, cursor = _pull(store, Principal("S2", "T2"), "seen")
    assert [c for c in changes if c.type == "entry"] == []
    balances = {c.data["member_id"]: c.data["points"] for c in changes if c.type == "balance"}
    assert balances == {"a": 15, "b": 27} == {m: store.balance(m) for m in "ab"}
    assert {c.data["member_id"] for c in changes if c.type == "member"} == {"a", "b"}
    # the old feed is unchanged: every other till's entry, no balances
    old, _ = _pull(store, Principal("S2", "T2"), "all")
    assert sorted(c.data["points"] for c in old if c.type == "entry") == [5, 7, 10, 20]
    assert [c for c in old if c.type == "balance"] == []
    # nothing new: nothing sent; a new sale sends that member's balance once, at its latest change
    store.ingest(Principal("S1", "T1"), batch("S1", "T1", entries=[entry("S1", "T1", 5, "b", 1),
                                                                   entry("S1", "T1", 6, "b", 2)]))
    later, _ = _pull(store, Principal("S2", "T2"), "seen", cursor)
    assert [(c.type, c.data) for c in later] == [("balance", {"member_id": "b", "points": 30})]


def test_a_followed_member_s_entries_and_history_come_to_the_till_that_follows(store):
    _setup(store)
    viewer = Principal("S2", "T2")
    _, cursor = _pull(store, viewer, "seen")
    followed = store.follow(viewer, ["b"])
    assert followed.following == 1 and followed.through >= cursor
    assert [(c.type, c.data["member_id"], c.data["points"]) for c in followed.history] == [
        ("entry", "b", 20), ("entry", "b", 7)]  # its history so far, in receive order
    store.ingest(Principal("S1", "T1"), batch("S1", "T1", entries=[entry("S1", "T1", 5, "b", 1),
                                                                   entry("S1", "T1", 6, "a", 2)]))
    later, _ = _pull(store, viewer, "seen", cursor)
    assert [(c.type, c.data["member_id"]) for c in later if c.type == "entry"] == [("entry", "b")]
    assert {c.data["member_id"]: c.data["points"] for c in later if c.type == "balance"} == {"a": 17, "b": 28}
    # another till of the same store follows nobody: balances only
    other, _ = _pull(store, Principal("S1", "T2"), "seen", cursor)
    assert [c for c in other if c.type == "entry"] == []


def test_a_store_pull_carries_its_store_s_members_entries(store):
    _setup(store)
    changes, _ = _pull(store, Principal("S2", "T2"), "store")
    assert sorted((c.data["member_id"], c.data["points"]) for c in changes if c.type == "entry") == [
        ("b", 7), ("b", 20)]  # b is S2's member; a is S1's: its balance only
    assert {c.data["member_id"] for c in changes if c.type == "balance"} == {"a", "b"}

"""A till's first pull by snapshot (sync/snapshot.py) against the real head office on loopback: the till ends
with head office's directory and balances, a cut resumes at the next part, and writes at head office during
the snapshot are neither lost nor counted twice."""

from __future__ import annotations

import threading

import pytest
from records import batch, card, entry, member
from tillkit import assert_invariant, enrol, loyalty, register, sell

from headoffice.store import Principal
from pos_client.services.doctor import check_ledger
from pos_client.store import sync_state as state
from sync import snapshot
from sync.client import Offline
from sync.engine import client_for, pull_all, sync_once

N = 23  # members at head office: parts of 5 make five parts, the last one short


def _fill(ho_store, n: int = N, store: str = "S9", till: str = "T1") -> int:
    """n members of `store` with a card each (every fourth blocked) and 3 + i points each, written by `till` of
    that store; returns the last seq."""
    ho_store.add_till(store, till)
    members = [member(f"m{i:02d}", store, phone=f"0612{i:06d}", name=f"Member {i}") for i in range(n)]
    cards = [card(loyalty(100 + i), f"m{i:02d}", "blocked" if i % 4 == 0 else "active") for i in range(n)]
    entries = [entry(store, till, i + 1, f"m{i:02d}", 3 + i) for i in range(n)]
    ho_store.ingest(Principal(store, till), batch(store, till, members=members, cards=cards, entries=entries))
    return n


def _assert_directory(t, ho_store) -> None:
    """The till holds head office's members, cards and balances (every one of them), and its invariant."""
    till = {tuple(r) for r in t.conn.execute("SELECT member_id, store_id, name, phone, status FROM members")}
    ho = {tuple(r) for r in ho_store._execute("SELECT member_id, store_id, name, phone, status FROM members")}
    assert till == ho
    till_cards = {tuple(r) for r in t.conn.execute("SELECT card_number, member_id, status FROM cards")}
    assert till_cards == {tuple(r) for r in ho_store._execute("SELECT card_number, member_id, status FROM cards")}
    for member_id, points in t.conn.execute("SELECT member_id, points FROM balances").fetchall():
        assert points == ho_store.balance(member_id), member_id
    assert_invariant(t)
    assert check_ledger(t.conn).status == "ok"


def _cut_after(proxy, parts: int, back_after: float | None = None):
    """A progress tick that cuts the connection to head office after `parts` parts (and restores it later)."""
    seen = []

    def tick(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == parts:
            proxy.set_mode("refuse")
            if back_after is not None:
                threading.Timer(back_after, proxy.set_mode, ("pass",)).start()
    return tick, seen


def test_first_pull_equals_the_directory_without_its_history(headoffice, ho_store, make_till):
    _fill(ho_store)
    t = make_till("S1", "T2")
    register(t, ho_store, headoffice.url)
    mine = enrol(t, 1)  # a sale before the first pull: pushed first, then not counted twice by the snapshot
    sell(t, 1, 2500)
    seen = []
    report = sync_once(t, progress=seen.append)
    assert report.pulled["snapshot_members"] == N + 1 and report.pulled.get("entries", 0) == 0
    assert seen[0].what == "members (first pull)" and (seen[0].done, seen[0].total) == (N + 1, N + 1)
    _assert_directory(t, ho_store)
    assert t.conn.execute("SELECT COUNT(*) FROM ledger WHERE till_id != 'T2' OR store_id != 'S1'").fetchone()[0] == 0
    assert ho_store.balance(mine.member_id) == 25 == t.conn.execute(
        "SELECT points FROM balances WHERE member_id = ?", (mine.member_id,)).fetchone()[0]
    assert state.get_int(t.conn, state.CURSOR) >= state.get_int(t.conn, snapshot.FLOOR) > 0
    again = sync_once(t)  # the next round is the feed alone, and nothing is new
    assert "snapshot_members" not in again.pulled and again.pulled.get("members", 0) == 0
    # the parts went in with the outbox's triggers off (sync/snapshot.py): they are back, and a local change
    # is queued for the push again, nothing of the snapshot is
    assert t.conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sync_%s_%'"
                          ).fetchone()[0] >= len(snapshot._OUTBOX_TRIGGERS)
    assert t.conn.execute("SELECT COUNT(*) FROM sync_outbox WHERE type IN ('member', 'card')").fetchone()[0] == 0
    assert t.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again after the parts' NORMAL
    t.conn.execute("UPDATE members SET name = 'Renamed' WHERE member_id = 'm03'")
    assert [r[0] for r in t.conn.execute("SELECT key FROM sync_outbox WHERE type = 'member'")] == ["m03"]


def test_the_stores_expiry_till_takes_the_whole_feed_not_a_snapshot(headoffice, ho_store, make_till):
    """The till that writes its store's members' expiry (T1 unless `[program.expiry] till` says) needs their dated
    earnings, which a snapshot's opening balances do not carry: its first pull is the feed, entry by entry, of
    its store's members (`view=store`, wire/view.py); another store's members come as balances."""
    _fill(ho_store, store="S1", till="T9")
    t = make_till("S1", "T1")
    register(t, ho_store, headoffice.url)
    report = sync_once(t)
    assert "snapshot_members" not in report.pulled and report.pulled["entries"] == N
    assert t.conn.execute("SELECT COUNT(*) FROM opening_balances").fetchone()[0] == 0
    _assert_directory(t, ho_store)
    assert_invariant(t)
    ho_store.add_till("S9", "T1")  # another store's member: its balance, not its entries
    ho_store.ingest(Principal("S9", "T1"), batch("S9", "T1", members=[member("x1", "S9")],
                                                 entries=[entry("S9", "T1", 1, "x1", 40)]))
    again = sync_once(t)
    assert again.pulled["entries"] == 0 and again.pulled["balances"] == 1
    _assert_directory(t, ho_store)


def test_a_cut_resumes_at_the_next_part(headoffice, ho_store, make_till, proxy):
    _fill(ho_store)
    t = make_till("S1", "T2")
    register(t, ho_store, proxy.url)
    tick, seen = _cut_after(proxy, 2)
    with client_for(t.conn, t.config) as client, pytest.raises(Offline):
        snapshot.pull_snapshot(t, client, limit=5, tick=tick, attempts=1)
    # two parts in (the third may have been fetched ahead before the cut), each part whole, with where it stood
    done = seen[-1][0]
    assert seen[:2] == [(5, N), (10, N)] and done in (10, 15) and done % 5 == 0
    assert state.get(t.conn, snapshot.AFTER) == f"m{done - 1:02d}"
    assert t.conn.execute("SELECT COUNT(*) FROM members").fetchone()[0] == done
    indexes = ("SELECT name FROM sqlite_master WHERE type = 'index'"
               " AND name IN ('idx_members_phone', 'idx_cards_member')")
    assert t.conn.execute(indexes).fetchall() == [] and state.get(t.conn, snapshot.INDEXES)  # off until the end
    proxy.set_mode("pass")
    tick, seen = _cut_after(proxy, 99)
    with client_for(t.conn, t.config) as client:
        assert snapshot.pull_snapshot(t, client, limit=5, tick=tick) == N - done
        pull_all(t, client)
    assert seen[-1] == (N, N) and seen[0][0] == done + 5  # resumed at the next part, none applied twice
    assert len(t.conn.execute(indexes).fetchall()) == 2 and state.get(t.conn, snapshot.INDEXES) is None
    assert t.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    _assert_directory(t, ho_store)


def test_a_part_is_asked_again_after_a_transport_error(headoffice, ho_store, make_till, proxy):
    _fill(ho_store)
    t = make_till("S1", "T2")
    register(t, ho_store, proxy.url)
    tick, seen = _cut_after(proxy, 1, back_after=0.6)  # refused for a while: the retries wait it out
    with client_for(t.conn, t.config) as client:
        assert snapshot.pull_snapshot(t, client, limit=5, tick=tick) == N
        pull_all(t, client)
    assert [d for d, _ in seen] == [5, 10, 15, 20, N]
    _assert_directory(t, ho_store)


@pytest.mark.parametrize("view", ["all", "seen"])
def test_writes_at_head_office_during_the_snapshot_are_neither_lost_nor_counted_twice(headoffice, ho_store,
                                                                                       make_till, view):
    """`all`: the entries after the floor come once each; `seen` (a till's view): their members' balances."""
    seq = _fill(ho_store)
    t = make_till("S1", "T2")
    register(t, ho_store, headoffice.url)
    who = Principal("S9", "T1")

    def write_at_head_office(done: int, total: int) -> None:
        nonlocal seq
        if done != 5:  # once, after the first part fixed the floor
            return
        later = [entry("S9", "T1", seq + 1, "m02", 100), entry("S9", "T1", seq + 2, "m17", 200),
                 entry("S9", "T1", seq + 3, "m99", 7)]
        seq += 3
        ho_store.ingest(who, batch("S9", "T1", members=[member("m99", "S9", name="New"),
                                                        member("m03", "S9", name="Renamed")],
                                   cards=[card(loyalty(999), "m99")], entries=later))
        ho_store.block_card(loyalty(105))

    with client_for(t.conn, t.config) as client:
        snapshot.pull_snapshot(t, client, limit=5, tick=write_at_head_office)
        report = pull_all(t, client, view=view)
    after_floor = 3 if view == "all" else 0  # the entries after the floor, each once; none before it
    assert report.pulled["entries"] == after_floor and report.pulled["balances"] == 3 - after_floor
    assert t.conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == after_floor
    assert t.conn.execute("SELECT name FROM members WHERE member_id = 'm03'").fetchone()[0] == "Renamed"
    assert t.conn.execute("SELECT status FROM cards WHERE card_number = ?", (loyalty(105),)).fetchone()[0] \
        == "blocked"
    assert t.conn.execute("SELECT points FROM balances WHERE member_id = 'm17'").fetchone()[0] == 3 + 17 + 200
    _assert_directory(t, ho_store)


def test_a_snapshot_part_on_both_head_office_databases(store):
    """The parts keyset on member_id, fix their floor, and take the entries after it (and the asking till's own
    up to it) out of the opening balance, on SQLite and PostgreSQL alike."""
    seq = _fill(store, 12)
    store.add_till("S1", "T1")
    asking = Principal("S1", "T1")
    store.ingest(asking, batch("S1", "T1", entries=[entry("S1", "T1", 1, "m01", 40)]))  # its own: it holds it
    first = store.snapshot(asking, "", 0, 5)
    assert first.total == 12 and first.more and [m.member_id for m in first.members] == [f"m{i:02d}" for i in range(5)]
    assert {c.member_id for c in first.cards} == {f"m{i:02d}" for i in range(5)}
    store.ingest(Principal("S9", "T1"), batch("S9", "T1", entries=[entry("S9", "T1", seq + 1, "m07", 500)]))
    second = store.snapshot(asking, first.next_after, first.floor, 5)
    assert second.floor == first.floor and second.total == 0 and second.next_after == "m09"
    points = {m.member_id: m.points for m in first.members + second.members}
    assert points["m01"] == 3 + 1 and points["m07"] == 3 + 7  # without its own 40, without the 500 after the floor
    last = store.snapshot(asking, second.next_after, first.floor, 5)
    assert [m.member_id for m in last.members] == ["m10", "m11"] and not last.more
    assert store.snapshot(asking, last.next_after, first.floor, 5).members == []

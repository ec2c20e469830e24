"""A till's view end to end (wire/view.py, sync/view.py), real head office on loopback (over SQLite and
PostgreSQL): a sale at store A reaches a till of store B as a balance on B's next pull, not as A's entry; B
gets the entries, and the history, only of the members it follows (sold to, looked up); the invariant and
the backup's check hold."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from tillkit import assert_invariant, enrol, loyalty, register, sell

from pos_client.services.doctor import check_ledger
from pos_client.store import sync_state as state
from pos_client.store.backup import balances_off_ledger
from pos_client.store.db import connect
from sync.engine import sync_once


def _points(t, member_id: str) -> int:
    return t.conn.execute("SELECT points FROM balances WHERE member_id = ?", (member_id,)).fetchone()[0]


def _others(t) -> int:
    return t.conn.execute("SELECT COUNT(*) FROM ledger WHERE NOT (store_id = ? AND till_id = ?)",
                          (t.store_id, t.till_id)).fetchone()[0]


@pytest.fixture
def chain(store):
    """The real head office on loopback over each backend (SQLite, PostgreSQL): (url, store)."""
    from headoffice.server import ServerThread

    server = ServerThread(store).start()
    yield server.url, store
    server.stop()


def _sound(t) -> None:
    assert_invariant(t)
    assert check_ledger(t.conn).status == "ok" and balances_off_ledger(t.conn) == 0


def test_a_sale_at_store_a_is_a_balance_at_store_b_after_its_next_pull(chain, make_till):
    url, ho_store = chain
    a, b = make_till("S1", "T2"), make_till("S2", "T2")
    for t in (a, b):
        register(t, ho_store, url)
    ann = enrol(a, 1)
    sell(a, 1, 2500)
    sync_once(a)
    sync_once(b)  # B's first pull: the snapshot
    assert _points(b, ann.member_id) == ho_store.balance(ann.member_id) > 0
    sell(a, 1, 4000)
    sync_once(a)
    report = sync_once(b)
    assert report.pulled["balances"] == 1 and report.pulled["entries"] == 0
    assert _points(b, ann.member_id) == ho_store.balance(ann.member_id) == _points(a, ann.member_id)
    assert _others(b) == 0  # A's entries stay at head office
    _sound(b)


def test_a_till_gets_the_entries_and_history_of_the_members_it_sold_to(chain, make_till):
    url, ho_store = chain
    a, b = make_till("S1", "T2"), make_till("S2", "T2")
    for t in (a, b):
        register(t, ho_store, url)
    ann, bob = enrol(a, 1), enrol(a, 2)
    for card_no, cents in ((1, 2500), (1, 1000), (2, 700)):
        sell(a, card_no, cents)
    sync_once(a)
    sync_once(b)
    sell(b, 1, 1500)  # Ann shops at store B: B follows her from its next round, and gets her history
    before = _points(b, ann.member_id)
    report = sync_once(b)
    assert report.pulled["history"] == 2 and _others(b) == 2
    assert _points(b, ann.member_id) == before == ho_store.balance(ann.member_id)
    _sound(b)
    sell(a, 1, 3000)  # then A's next sales to Ann come to B as entries; Bob's only as his balance
    sell(a, 2, 3000)
    sync_once(a)
    report = sync_once(b)
    assert report.pulled["entries"] == 1 and report.pulled["balances"] >= 1
    assert {r[0] for r in b.conn.execute("SELECT DISTINCT member_id FROM ledger WHERE store_id = 'S1'")} == {
        ann.member_id}
    for m in (ann, bob):
        assert _points(b, m.member_id) == ho_store.balance(m.member_id) == _points(a, m.member_id)
    _sound(b)
    again = sync_once(b)  # nothing new: nothing moves, the follow mark holds
    assert again.pulled.get("history", 0) == 0 and again.pulled["balances"] == 0
    assert state.get_int(b.conn, "view_follow_seq") > 0


def test_a_member_looked_up_at_head_office_is_followed(headoffice, ho_store, make_till):
    a, b = make_till("S1", "T2"), make_till("S2", "T2")
    for t in (a, b):
        register(t, ho_store, headoffice.url)
    ann = enrol(a, 1)
    sell(a, 1, 2500)
    sync_once(a)
    sync_once(b)
    token = state.get(b.conn, state.TOKEN)
    found = httpx.get(f"{headoffice.url}/v1/members/lookup", params={"card": loyalty(1)},
                      headers={"authorization": f"Bearer {token}"})
    assert found.status_code == 200
    sell(a, 1, 1000)
    sync_once(a)
    report = sync_once(b)
    assert report.pulled["entries"] == 1 and _points(b, ann.member_id) == ho_store.balance(ann.member_id)
    _sound(b)


def test_m0470_keeps_a_first_pull_s_opening_balances_and_their_append_only_rule(tmp_path):
    """A till whose snapshot predates m0470 (one opening row per member, member_id the key) keeps its rows."""
    path = tmp_path / "till.db"
    connect(path).close()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.executescript(
        "DROP TABLE opening_balances; DELETE FROM schema_migrations WHERE name = 'm0470_opening_moves';"
        "CREATE TABLE opening_balances (member_id TEXT PRIMARY KEY REFERENCES members(member_id),"
        " points INTEGER NOT NULL, floor INTEGER NOT NULL);"
        "INSERT INTO members (member_id, store_id, status, created_at, updated_at)"
        " VALUES ('m1', 'S1', 'active', 'x', 'x');"
        "INSERT INTO opening_balances VALUES ('m1', 40, 7);")
    raw.close()
    conn = connect(path)
    try:
        conn.execute("INSERT INTO opening_balances (member_id, points, floor) VALUES ('m1', -5, 9)")
        assert [tuple(r) for r in conn.execute("SELECT member_id, points, floor FROM opening_balances"
                                               " ORDER BY floor")] == [("m1", 40, 7), ("m1", -5, 9)]
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE opening_balances SET points = 0")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM opening_balances")
    finally:
        conn.close()

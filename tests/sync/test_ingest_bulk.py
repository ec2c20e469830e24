"""Head office's bulk ingest on both backends, with batches big enough for PostgreSQL's COPY path: new rows
are taken whole, replays and partial replays counted once, reused seqs and changed replays quarantined,
and a push that fails after its rows went in leaves nothing behind (one transaction)."""

from __future__ import annotations

import pytest
from records import batch, entry

from headoffice.store import Principal
from headoffice.store.postgres import _COPY_FROM, _COPY_LEDGER_FROM
from wire.bounds import BALANCE, POINTS
from wire.ledger_chain import CHAIN_COLUMNS, chain_hash

N = max(300, 4 * _COPY_FROM, 2 * _COPY_LEDGER_FROM)  # every batch below is above the COPY thresholds
MEMBERS = 60  # >= _COPY_FROM balances per batch: the one-statement upsert on PostgreSQL


def enrol(store, s: str = "S1", t: str = "T1") -> Principal:
    _, who = store.register(store.add_till(s, t))
    return who


def entries(first: int, last: int) -> list[dict]:
    return [entry("S1", "T1", s, f"m{s % MEMBERS}", s % 7 + 1) for s in range(first, last + 1)]


def expected_balances(rows: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in rows:
        out[e["member_id"]] = out.get(e["member_id"], 0) + e["points"]
    return out


def balances(store) -> dict[str, int]:
    return {m: int(p) for m, p in store._execute("SELECT member_id, points FROM balances")}


def test_a_big_batch_of_new_entries_is_taken_whole(store):
    who = enrol(store)
    rows = entries(1, N)
    r = store.ingest(who, batch("S1", "T1", entries=rows))
    assert (r.accepted, r.duplicates, r.rejected, r.high_seq, r.gaps) == (N, 0, [], N, [])
    assert balances(store) == expected_balances(rows)
    assert store.counts()["ledger"] == N
    seqs = [int(x[0]) for x in store._execute("SELECT server_seq FROM ledger ORDER BY seq")]
    assert seqs == sorted(seqs) and len(set(seqs)) == N  # server_seq in the till's order, each once


def test_a_replayed_big_batch_is_all_duplicates(store):
    who = enrol(store)
    b = batch("S1", "T1", entries=entries(1, N))
    store.ingest(who, b)
    r = store.ingest(who, b)
    assert (r.accepted, r.duplicates, r.rejected, r.high_seq) == (0, N, [], N)
    assert balances(store) == expected_balances(entries_of(b))
    assert store.counts()["ledger"] == N


def entries_of(b) -> list[dict]:
    return [e.to_dict() for e in b.entries]


def test_a_partly_replayed_batch_takes_only_the_new_entries(store):
    who = enrol(store)
    rows = entries(1, N)
    half = N // 2
    store.ingest(who, batch("S1", "T1", entries=rows[:half + 50]))
    r = store.ingest(who, batch("S1", "T1", entries=rows[half - 50:]))
    assert (r.accepted, r.duplicates, r.rejected, r.high_seq) == (N - half - 50, 100, [], N)
    assert balances(store) == expected_balances(rows)
    assert store.counts()["ledger"] == N


def test_reused_seqs_and_changed_replays_are_quarantined_the_rest_taken(store):
    who = enrol(store)
    rows = entries(1, N)
    store.ingest(who, batch("S1", "T1", entries=rows[:100]))
    reused = entries(51, 100)  # same seqs, new UUIDs: another entry under a seq head office holds
    changed = [{**rows[0], "points": rows[0]["points"] + 1}]  # same UUID and seq, other content
    r = store.ingest(who, batch("S1", "T1", entries=[*reused, *changed, *rows[100:]]))
    assert r.accepted == N - 100 and r.duplicates == 0
    reasons = {x["key"]: " ".join(x["reasons"]) for x in r.rejected}
    assert len(reasons) == 51
    assert all("already holds another entry" in reasons[e["entry_id"]] for e in reused)
    assert "a replay must be identical" in reasons[rows[0]["entry_id"]]
    assert balances(store) == expected_balances(rows)
    assert store.counts()["ledger"] == N and r.high_seq == N


def test_a_push_that_fails_after_its_rows_went_in_leaves_nothing(store):
    """The quarantine is written after the ledger rows and the balances: break it with a real database
    error and every row of the push must be gone, balances and the server_seq counter as before."""
    who = enrol(store)
    rows = entries(1, N)
    store.ingest(who, batch("S1", "T1", entries=rows[:100]))
    before = (balances(store), store._execute("SELECT COUNT(*) FROM ledger"),
              store._execute("SELECT value FROM meta WHERE key = 'server_seq'"),
              store._execute("SELECT high_seq FROM tills WHERE till_id = 'T1'"))
    store._execute("DROP TABLE rejects")
    bad = {**rows[100], "points": 2.5}  # quarantined: the write into the dropped table fails
    with pytest.raises(Exception, match="rejects"):
        store.ingest(who, batch("S1", "T1", entries=[*rows[101:], bad]))
    after = (balances(store), store._execute("SELECT COUNT(*) FROM ledger"),
             store._execute("SELECT value FROM meta WHERE key = 'server_seq'"),
             store._execute("SELECT high_seq FROM tills WHERE till_id = 'T1'"))
    assert after == before


def balance_feed(store) -> dict[str, int]:
    return {k: int(s) for s, k in store._execute("SELECT server_seq, key FROM feed WHERE entity = 'balance'")}


def test_a_big_batch_records_each_members_balance_change_after_its_entries_and_a_replay_changes_nothing(store):
    who = enrol(store)
    rows = entries(1, N)
    store.ingest(who, batch("S1", "T1", entries=rows))
    feed = balance_feed(store)
    assert sorted(feed) == sorted(expected_balances(rows))  # a till's view learns every balance that moved
    top = max(int(r[0]) for r in store._execute("SELECT server_seq FROM ledger"))
    assert min(feed.values()) > top and len(set(feed.values())) == len(feed)  # after the rows, each once
    before = (balances(store), store.counts()["ledger"])
    r = store.ingest(who, batch("S1", "T1", entries=rows))  # the same push again: a no-op
    assert (r.accepted, r.duplicates, r.rejected) == (0, N, [])
    assert (balances(store), store.counts()["ledger"]) == before and balance_feed(store) == feed


def test_a_big_batch_past_the_bounds_is_undone_to_its_savepoint_and_taken_the_careful_way(store):
    """The balances' CHECK refuses the batch (no balance read first); the push is then redone reading the
    balances: the one entry that would leave the bounds is quarantined, the rest taken, balances and their feed
    rows exact, and the transaction, its savepoints and the server_seq counter left clean for the next push."""
    who = enrol(store)
    full = [entry("S1", "T1", s, "big", POINTS.high) for s in range(1, BALANCE.high // POINTS.high + 1)]
    store.ingest(who, batch("S1", "T1", entries=full))
    rows = entries(len(full) + 1, len(full) + N)
    over = entry("S1", "T1", len(full) + N + 1, "big", 1)
    r = store.ingest(who, batch("S1", "T1", entries=[*rows, over]))
    assert (r.accepted, [x["key"] for x in r.rejected], r.high_seq) == (N, [over["entry_id"]], len(full) + N + 1)
    assert balances(store) == {**expected_balances(rows), "big": BALANCE.high}
    assert set(balance_feed(store)) == {*expected_balances(rows), "big"}
    more = entries(len(full) + N + 2, len(full) + 2 * N + 1)
    r = store.ingest(who, batch("S1", "T1", entries=more))  # the next push: the usual way again
    assert (r.accepted, r.rejected) == (N, [])
    assert balances(store) == {**expected_balances(rows + more), "big": BALANCE.high}


def chained(first: int, last: int, prev: str | None = None) -> list[dict]:
    """Entries hash-chained as a till writes them (`wire.ledger_chain`)."""
    out = []
    for e in entries(first, last):
        e = {**e, "sale_id": None, "operator": None, "reason": None, "ref": None, "prev_hash": prev}
        e["entry_hash"] = prev = chain_hash(prev, [e[c] for c in CHAIN_COLUMNS])
        out.append(e)
    return out


def test_a_big_chained_batch_with_a_changed_entry_takes_all_but_that_one(store):
    """A break in a push big enough for PostgreSQL's COPY: only that entry is quarantined, the rest is taken
    by the usual path (balances, their feed rows, server_seq in the till's order) and the chain goes on."""
    who = enrol(store)
    rows = chained(1, N)
    changed = {**rows[N // 2], "points": rows[N // 2]["points"] + 1}  # changed after its hash was made
    r = store.ingest(who, batch("S1", "T1", entries=[*rows[:N // 2], changed, *rows[N // 2 + 1:]]))
    assert (r.accepted, [x["key"] for x in r.rejected], r.high_seq) == (N - 1, [changed["entry_id"]], N)
    assert "entry_hash: does not match" in r.rejected[0]["reasons"][0]
    kept = [e for e in rows if e is not rows[N // 2]]
    assert balances(store) == expected_balances(kept) and set(balance_feed(store)) == set(expected_balances(kept))
    assert store.counts()["ledger"] == N - 1
    more = chained(N + 1, 2 * N, prev=rows[-1]["entry_hash"])
    r = store.ingest(who, batch("S1", "T1", entries=more))  # the chain goes on from what head office holds
    assert (r.accepted, r.rejected, r.high_seq) == (N, [], 2 * N)
    assert balances(store) == expected_balances(kept + more)
    seqs = [int(x[0]) for x in store._execute("SELECT server_seq FROM ledger ORDER BY seq")]
    assert seqs == sorted(seqs)  # server_seq in the till's order

"""The pooled PostgreSQL store: request threads overlap on their own connections, a till's bookkeeping
does not wait for the chain-wide writer lock, and a failed transaction gives its connection back clean."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from headoffice.store import Principal
from headoffice.store.pg_pool import Pool, open_pooled
from headoffice.store.postgres import WRITE_LOCK
from wire.protocol import PushBatch

T0 = "2026-01-01T00:00:00.000000+00:00"


def _entries(store_id: str, till_id: str, first: int, n: int) -> list[dict]:
    return [{"entry_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{store_id}/{till_id}/{s}").hex,
             "member_id": f"m-{store_id}", "store_id": store_id, "till_id": till_id, "seq": s, "kind": "earn",
             "points": 2, "created_at": T0, "amount_cents": 200}
            for s in range(first, first + n)]


def _advisory_waiters(holder: psycopg.Connection, expected: int, within: float = 30.0) -> int:
    """How many sessions wait on an advisory lock, once `expected` do or `within` seconds have passed: a thread
    started a moment ago may not have reached the lock yet on a loaded machine (a fixed 0.5 s was not enough)."""
    deadline = time.monotonic() + within
    while True:
        holder.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees its first look at the view
        waiting = holder.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
                                 ).fetchall()[0][0]
        if waiting == expected or time.monotonic() > deadline:
            return int(waiting)
        time.sleep(0.02)


def test_threads_push_and_pull_side_by_side_and_totals_add_up(pg_url):
    store = open_pooled(pg_url, 4)
    try:
        tills = [(f"S{i}", "T1") for i in range(6)]
        for s, t in tills:
            store.add_till(s, t)

        def push(who: tuple[str, str]) -> int:
            done = 0
            for b in range(5):
                batch = PushBatch.parse({"store_id": who[0], "till_id": who[1],
                                         "entries": _entries(*who, b * 20 + 1, 20)})
                done += store.ingest(Principal(*who), batch).accepted
                store.pull(Principal(*who), 0, 500)
            return done

        with ThreadPoolExecutor(len(tills)) as pool:
            accepted = sum(pool.map(push, tills))
        assert accepted == 6 * 100
        assert store.counts()["ledger"] == 600
        assert {store.balance(f"m-S{i}") for i in range(6)} == {200}
        # a repeated push is a duplicate by the database's unique keys, whichever worker takes it
        again = store.ingest(Principal("S0", "T1"), PushBatch.parse(
            {"store_id": "S0", "till_id": "T1", "entries": _entries("S0", "T1", 1, 20)}))
        assert (again.accepted, again.duplicates) == (0, 20)
    finally:
        store.close()


def test_bookkeeping_does_not_wait_for_the_writer_lock(pg_url):
    store = open_pooled(pg_url, 2)
    try:
        store.add_till("S1", "T1")
        with psycopg.connect(pg_url) as holder:  # another worker in the middle of a long push
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            started = time.monotonic()
            store.console.record_contact("S1", "T1", "pull", version="1.0")
            store.pull(Principal("S1", "T1"), 0, 100)  # records the till's pull position too
            store.console.add_counts({("http_requests", "GET /v1/pull 200"): 1})
            assert time.monotonic() - started < 5
            blocked = threading.Thread(target=store.set_rule, args=("greeting", "hi"), daemon=True)
            blocked.start()
            blocked.join(0.5)
            assert blocked.is_alive(), "a server_seq write must still wait for the lock"
        blocked.join(10)
        assert not blocked.is_alive()
        assert store.rules()["greeting"] == "hi"
        assert [t["last_pull_at"] is not None for t in store.console.tills()] == [True]
    finally:
        store.close()


def test_a_failed_transaction_gives_back_a_clean_connection(pg_url):
    store = open_pooled(pg_url, 1)  # one connection: the next call must get it back usable
    try:
        with pytest.raises(psycopg.errors.UndefinedTable), store.db.write():
            store.db.execute("SELECT * FROM no_such_table")
        assert store.counts()["ledger"] == 0
    finally:
        store.close()


def test_the_pool_waits_then_refuses(pg_url):
    pool = Pool(pg_url, 1, wait=0.2)
    conn = pool.get()
    try:
        with pytest.raises(TimeoutError):
            pool.get()
    finally:
        pool.put(conn)
    again = pool.get()
    assert again is conn
    pool.put(again)
    pool.close()


def test_pushes_queued_for_the_lock_leave_connections_to_the_pulls(pg_url):
    store = open_pooled(pg_url, 3)  # 2 writers at most: one connection always left for reads
    try:
        store.add_till("S1", "T1")
        with psycopg.connect(pg_url) as holder:  # another worker's long push holds the lock
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            writers = [threading.Thread(target=store.set_rule, args=(f"k{i}", i), daemon=True) for i in range(5)]
            for w in writers:
                w.start()
            time.sleep(0.5)
            started = time.monotonic()
            page = store.pull(Principal("S1", "T1"), 0, 100)
            assert store.authenticate("no such token") is None
            assert time.monotonic() - started < 5
            assert page.changes == [] and all(w.is_alive() for w in writers)
        for w in writers:
            w.join(20)
        assert sorted(store.rules()) == [f"k{i}" for i in range(5)]
    finally:
        store.close()


def test_a_push_queues_for_the_writer_lock_only_at_its_first_server_seq(pg_url):
    """Sales and the till's own sequence go before the lock; the entries wait for it, then land in full."""
    store = open_pooled(pg_url, 3)
    try:
        store.add_till("S1", "T1")
        who = Principal("S1", "T1")
        sale = {"sale_id": "sale-1", "store_id": "S1", "till_id": "T1", "total_cents": 500, "created_at": T0}
        with psycopg.connect(pg_url) as holder:  # another worker's long push holds the lock
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            started = time.monotonic()
            done = store.ingest(who, PushBatch.parse({"store_id": "S1", "till_id": "T1", "sales": [sale]}))
            assert time.monotonic() - started < 5 and done.sales == 1  # no server_seq: no lock
            results: list = []
            pusher = threading.Thread(target=lambda: results.append(store.ingest(who, PushBatch.parse(
                {"store_id": "S1", "till_id": "T1", "entries": _entries("S1", "T1", 1, 60)}))), daemon=True)
            pusher.start()
            assert _advisory_waiters(holder, 1) == 1, "entries take server_seq values: they must wait for the lock"
            assert pusher.is_alive()
        pusher.join(20)
        assert (results[0].accepted, results[0].high_seq, results[0].gaps) == (60, 60, [])
        assert store.counts()["ledger"] == 60 and store.balance("m-S1") == 120
    finally:
        store.close()


def test_the_same_tills_pushes_side_by_side_leave_its_sequence_complete(pg_url):
    """A till's retried push on another worker: its row lock puts the two one after the other, so the high
    seq is worked out on what the first wrote (out of order: the later half first)."""
    store = open_pooled(pg_url, 4)
    try:
        store.add_till("S1", "T1")
        who = Principal("S1", "T1")
        halves = [PushBatch.parse({"store_id": "S1", "till_id": "T1", "entries": _entries("S1", "T1", first, 50)})
                  for first in (51, 1)]
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda b: store.ingest(who, b), halves))
        assert sorted(r.accepted for r in results) == [50, 50]
        assert max(r.high_seq for r in results) == 100
        again = store.ingest(who, halves[0])
        assert (again.accepted, again.duplicates, again.high_seq, again.gaps) == (0, 50, 100, [])
    finally:
        store.close()

"""A sync round that changed nothing commits nothing, against the real head office on loopback.

Why: in WAL mode a commit by the worker's connection makes the till's connection drop its whole page cache
(ARCHITECTURE.md, "the till's connections"); `PRAGMA data_version` on another connection is what tells it so.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

from tillkit import assert_invariant, card_balance, enrol, register, sell, wait_for

from pos_client.store import sync_state as state
from pos_client.till import context_opener
from sync.engine import STATUS_EVERY_S, RoundMemo, client_for, pull_all, sync_once
from sync.push import push_pending
from sync.view import follow_seen
from sync.worker import SyncWorker

TABLES = ("ledger", "balances", "opening_balances", "members", "member_consent", "cards", "products", "sync_rules")


def _watch(ctx) -> sqlite3.Connection:
    """Another connection on the till's database: the till's own, as the worker sees it."""
    path = ctx.conn.execute("PRAGMA database_list").fetchone()[2]
    return sqlite3.connect(path)


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _held(ctx) -> dict[str, list[tuple]]:
    return {t: sorted(map(tuple, ctx.conn.execute(f"SELECT * FROM {t}"))) for t in TABLES}


def _two_tills(headoffice, ho_store, make_till):
    """Till A sold to member 1 and B knows the member; both in sync, A's rounds with a memo, as the worker's."""
    a, b = make_till("S1", "T1"), make_till("S2", "T1")
    register(a, ho_store, headoffice.url)
    register(b, ho_store, headoffice.url)
    enrol(a, 1)
    sell(a, 1, 2000)
    memo = RoundMemo()
    sync_once(a, memo=memo)
    sync_once(b)
    sync_once(a, memo=memo)
    return a, b, memo


def test_idle_rounds_commit_nothing(headoffice, ho_store, make_till):
    a, _, memo = _two_tills(headoffice, ho_store, make_till)
    watch = _watch(a)
    before, held = _version(watch), _held(a)
    for _ in range(3):
        report = sync_once(a, memo=memo)
        assert report.pages >= 1
    assert _version(watch) == before
    assert _held(a) == held
    assert memo.last_ok is not None and memo.last_ok > (state.get(a.conn, state.LAST_OK) or "")


def test_a_round_after_an_own_sale_commits_nothing_for_its_echo(headoffice, ho_store, make_till):
    a, _, memo = _two_tills(headoffice, ho_store, make_till)
    sell(a, 1, 1500)
    with client_for(a.conn, a.config) as client:  # what writes for the sale itself: its push marks, its follow
        push_pending(a, client)
        follow_seen(a, client)
    watch = _watch(a)
    before = _version(watch)
    report = sync_once(a, memo=memo)
    assert _version(watch) == before
    assert memo.cursor > state.get_int(a.conn, state.CURSOR)  # the echo moved the cursor, kept in memory
    assert report.pulled.get("balances", 0) == report.pulled.get("entries", 0) == 0
    assert card_balance(a, 1) == 35
    assert_invariant(a)


def test_another_tills_sale_is_applied_and_committed(headoffice, ho_store, make_till):
    a, b, memo = _two_tills(headoffice, ho_store, make_till)
    sell(b, 1, 700)
    sync_once(b)
    watch = _watch(a)
    before = _version(watch)
    report = sync_once(a, memo=memo)
    assert _version(watch) != before
    assert report.pulled.get("balances", 0) + report.pulled.get("entries", 0) >= 1
    assert card_balance(a, 1) == card_balance(b, 1) == 27
    assert state.get_int(a.conn, state.CURSOR) == memo.cursor  # a page that applied something saves its cursor
    assert_invariant(a)


def test_a_restart_pulls_again_from_the_saved_cursor_to_the_same_state(headoffice, ho_store, make_till):
    a, b, memo = _two_tills(headoffice, ho_store, make_till)
    sell(a, 1, 1500)
    sync_once(a, memo=memo)
    sync_once(a, memo=memo)
    sell(b, 1, 300)  # another till's sale then an own one: both echoes are pulled again after the restart
    sync_once(b)
    sync_once(a, memo=memo)
    sell(a, 1, 100)
    sync_once(a, memo=memo)
    saved = state.get_int(a.conn, state.CURSOR)
    assert memo.cursor > saved  # pages after the saved cursor changed nothing here
    held = _held(a)
    restarted = RoundMemo()  # a new worker: only the database's cursor
    sync_once(a, memo=restarted)
    assert restarted.cursor == memo.cursor
    assert _held(a) == held
    sync_once(a)  # and once more without a memo (`pos-client sync --once`): still the same
    assert _held(a) == held
    assert card_balance(a, 1) == ho_store.balance(a.conn.execute("SELECT member_id FROM members").fetchone()[0])
    assert_invariant(a)


def test_the_status_is_written_when_it_changes_or_a_minute_old(make_till):
    t = make_till("S1", "T1")
    state.note_success(t.conn, None)
    written = state.get(t.conn, state.LAST_OK)
    watch = _watch(t)
    before = _version(watch)
    state.note_success(t.conn, None, STATUS_EVERY_S)  # same state, same offset, fresh: nothing written
    assert _version(watch) == before and state.get(t.conn, state.LAST_OK) == written
    ahead = (datetime.now(UTC) + timedelta(seconds=600)).isoformat()
    state.note_success(t.conn, ahead, STATUS_EVERY_S)  # the offset changed: written at once
    assert 598 <= int(state.get(t.conn, state.CLOCK_OFFSET) or 0) <= 600
    state.note_failure(t.conn, "unreachable")
    state.note_success(t.conn, ahead, STATUS_EVERY_S)  # back online: written at once
    assert state.get(t.conn, state.STATE) == "online" and state.get(t.conn, state.LAST_ERROR) is None
    old = (datetime.now(UTC) - timedelta(seconds=STATUS_EVERY_S + 1)).isoformat(timespec="microseconds")
    state.put(t.conn, **{state.LAST_OK: old})
    state.note_success(t.conn, ahead, STATUS_EVERY_S)  # a minute old: written
    assert (state.get(t.conn, state.LAST_OK) or "") > old


def test_the_worker_shows_the_last_sync_from_memory(headoffice, ho_store, make_till):
    t = make_till("S1", "T1")
    register(t, ho_store, headoffice.url)
    enrol(t, 1)
    worker = SyncWorker(context_opener(t), interval=0.1).start()
    try:
        first = wait_for(lambda: worker.memo.last_ok)
        wait_for(lambda: (worker.memo.last_ok or "") > first and worker.status and worker.status.state == "online")
        time.sleep(0.3)
        status = worker.status
        assert status is not None and status.last_ok is not None
        assert status.last_ok > (state.get(t.conn, state.LAST_OK) or "")  # newer than the database's
        assert status.entries_waiting == 0 and "0 entries waiting" in status.line()
    finally:
        worker.stop()


def test_a_cursor_the_database_lost_is_not_taken_from_memory(headoffice, ho_store, make_till):
    a, _, memo = _two_tills(headoffice, ho_store, make_till)
    sync_once(a, memo=memo)
    with client_for(a.conn, a.config) as client:
        assert pull_all(a, client, page_size=1, memo=memo).pages == 1  # nothing new after the memo's cursor
        state.put(a.conn, **{state.CURSOR: 0})  # the database went back (a restored backup)
        assert pull_all(a, client, page_size=1, memo=memo).pages > 1  # so the pull starts where it now is
    assert_invariant(a)

"""Faults sync must survive, each checked for nothing lost and nothing counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from records import entry
from tillkit import assert_invariant, bulk_earn, enrol, own_entries, pos_cli_cmd, register, sell, wait_for

from headoffice.server import ServerThread
from headoffice.store import open_store
from pos_client.store import sync_state as state
from pos_client.till import context_opener
from sync.client import HeadOfficeClient, Offline, SyncError
from sync.engine import client_for, sync_once
from sync.push import push_pending
from sync.worker import SyncWorker, backoff_delay

ROOT = Path(__file__).resolve().parents[2]


def assert_exactly_once(ctx, ho_store, member_id: str) -> None:
    """Head office holds each of the till's entries once and agrees on the balance."""
    n = own_entries(ctx)
    held = ho_store._execute("SELECT COUNT(*), COUNT(DISTINCT entry_id) FROM ledger WHERE store_id = ? AND"
                             " till_id = ?", (ctx.store_id, ctx.till_id))[0]
    assert tuple(held) == (n, n)
    local = ctx.conn.execute("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?", (member_id,))
    assert ho_store.balance(member_id) == local.fetchone()[0]
    assert state.get_int(ctx.conn, state.PUSH_HIGH) == n
    assert_invariant(ctx)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    assert backoff_delay(1, 2, 300, lambda: 0.0) == 1.0 and backoff_delay(1, 2, 300, lambda: 1.0) == 2.0
    assert backoff_delay(4, 2, 300, lambda: 1.0) == 16.0
    assert backoff_delay(20, 2, 300, lambda: 1.0) == 300.0
    assert 150 <= backoff_delay(20, 2, 300) <= 300


def test_head_office_down_when_the_till_starts_then_back(headoffice, ho_store, make_till, proxy):
    t = make_till("S1", "T1")
    register(t, ho_store, proxy.url)
    proxy.set_mode("refuse")
    m = enrol(t, 1)
    statuses = []
    worker = SyncWorker(context_opener(t), interval=0.1, base_backoff=0.05, max_backoff=0.2,
                        on_status=statuses.append, timeout=2).start()
    try:
        wait_for(lambda: worker.failures >= 2)
        started = time.perf_counter()
        for _ in range(5):
            sell(t, 1, 1000)
        assert time.perf_counter() - started < 1.0  # a sale never waits on the network
        wait_for(lambda: worker.status and worker.status.state == "offline" and worker.status.entries_waiting == 5)
        assert "unreachable" in (worker.status.last_error or "")
        proxy.set_mode("pass")
        wait_for(lambda: worker.status.state == "online" and worker.status.entries_waiting == 0)
    finally:
        worker.stop()
    assert {"offline", "syncing", "online"} <= {s.state for s in statuses}
    assert "0 entries waiting" in statuses[-1].line()
    assert_exactly_once(t, ho_store, m.member_id)


def test_connection_dropped_after_head_office_committed(headoffice, ho_store, make_till, proxy):
    t = make_till("S1", "T1")
    register(t, ho_store, proxy.url)
    m = enrol(t, 1)
    for _ in range(3):
        sell(t, 1, 700)
    proxy.set_mode("drop_after_response", drop_bytes=0)
    with pytest.raises(Offline):
        sync_once(t)
    assert ho_store.counts()["ledger"] == 3  # committed, but the till never heard
    assert state.get_int(t.conn, state.PUSH_HIGH) == 0
    proxy.set_mode("drop_after_response", drop_bytes=40)  # cut in the middle of the answer this time
    with pytest.raises(Offline):
        sync_once(t)
    proxy.set_mode("pass")
    report = sync_once(t)
    assert report.push.entries == 0 and report.push.duplicates == 3
    assert ho_store.counts()["sales"] == 3
    assert_exactly_once(t, ho_store, m.member_id)


def test_http_500s_and_timeouts(headoffice, ho_store, make_till, proxy):
    t = make_till("S1", "T1")
    register(t, ho_store, proxy.url)
    m = enrol(t, 1)
    sell(t, 1, 900)
    proxy.set_mode("error500")
    with pytest.raises(Offline, match="500"):
        sync_once(t)
    assert ho_store.counts()["ledger"] == 0
    assert state.read_status(t.conn, "S1", "T1").state == "offline"
    proxy.set_mode("delay_response", delay=0.6)
    with pytest.raises(Offline, match="timed out"):
        sync_once(t, timeout=0.3)
    wait_for(lambda: ho_store.counts()["ledger"] == 1)  # the slow request still got through
    sell(t, 1, 900)
    proxy.set_mode("pass")
    report = sync_once(t)
    assert report.push.entries == 1 and report.push.duplicates == 1
    assert_exactly_once(t, ho_store, m.member_id)


def test_head_office_restarted_mid_sync(tmp_path, make_till):
    url = f"sqlite:///{tmp_path / 'ho.db'}"
    store = open_store(url)
    server = ServerThread(store).start()
    t = make_till("S1", "T1")
    register(t, store, server.url)
    m = enrol(t, 1)
    bulk_earn(t, m.member_id, 5000)
    port = server.port

    def restart_after_second_batch(report) -> None:
        if report.batches == 2:
            server.stop()
            store.close()

    client = client_for(t.conn, t.config)
    with pytest.raises(SyncError):
        push_pending(t, client, entry_limit=1000, on_batch=restart_after_second_batch)
    client.close()
    # the third batch was already in flight when the second's answer was recorded (push_pending pipelines):
    # head office's graceful stop may have taken it, and the till recorded it only if it heard the answer
    recorded = state.get_int(t.conn, state.PUSH_HIGH)
    assert recorded in (2000, 3000)
    store = open_store(url)  # head office comes back on the same port and file
    held = store.counts()["ledger"]
    assert held in (2000, 3000) and held >= recorded
    server = ServerThread(store, port=port).start()
    try:
        report = sync_once(t)
        assert report.push.entries == 5000 - held and report.push.duplicates == held - recorded
        assert_exactly_once(t, store, m.member_id)
    finally:
        server.stop()
        store.close()


def test_answer_lost_for_the_batch_sent_while_the_last_was_recorded(headoffice, ho_store, make_till, proxy):
    """push_pending sends batch n+1 before it records batch n: when n+1's answer is lost after head office
    committed it, the till holds n as pushed, n+1 not, and the next round sends n+1 again as duplicates."""
    t = make_till("S1", "T1")
    register(t, ho_store, proxy.url)
    m = enrol(t, 1)
    bulk_earn(t, m.member_id, 3000)
    proxy.set_mode("delay_response", delay=0.5)  # every answer held: batch 2 is surely in flight at batch 1's record

    def cut_after_first_record(report) -> None:
        if report.batches == 1:
            proxy.set_mode("drop_after_response", drop_bytes=0)  # batch 2's answer, once head office committed

    with client_for(t.conn, t.config) as client, pytest.raises(Offline):
        push_pending(t, client, entry_limit=1000, on_batch=cut_after_first_record)
    recorded = state.get_int(t.conn, state.PUSH_HIGH)
    assert recorded == 1000  # the first batch only
    wait_for(lambda: ho_store.counts()["ledger"] == 2000)  # the second was committed all the same
    proxy.set_mode("pass")
    report = sync_once(t)
    assert report.push.duplicates == 1000 and report.push.entries == 1000
    assert_exactly_once(t, ho_store, m.member_id)


def test_partly_malformed_batch_over_http(headoffice, ho_store):
    code = ho_store.add_till("S1", "T1")
    token = httpx.post(f"{headoffice.url}/v1/register", json={"code": code}).json()["token"]
    good = [entry("S1", "T1", s, "m1", 10) for s in (1, 2, 3)]
    bad = [{**entry("S1", "T1", 4, "m1", 10), "points": "10"}, {**entry("S1", "T1", 5, "m1", 10), "kind": "gift"}]
    auth = {"authorization": f"Bearer {token}"}
    body = {"store_id": "S1", "till_id": "T1", "entries": [*good, *bad]}
    r = httpx.post(f"{headoffice.url}/v1/push", json=body, headers=auth)
    assert r.status_code == 422
    out = r.json()
    assert out["accepted"] == 3 and out["high_seq"] == 5
    assert [x["index"] for x in out["rejected"]] == [3, 4]
    assert "must be an integer" in out["rejected"][0]["reasons"][0] and "kind" in out["rejected"][1]["reasons"][0]
    again = httpx.post(f"{headoffice.url}/v1/push", json=body, headers=auth).json()
    assert again["accepted"] == 0 and again["duplicates"] == 3
    assert ho_store.balance("m1") == 30 and len(ho_store.rejects()) == 2
    # refusals: no token, another till's records, not JSON
    assert httpx.post(f"{headoffice.url}/v1/push", json=body).status_code == 401
    other = {"store_id": "S2", "till_id": "T1", "entries": [entry("S2", "T1", 1, "m1", 10)]}
    assert httpx.post(f"{headoffice.url}/v1/push", json=other, headers=auth).status_code == 403
    assert httpx.post(f"{headoffice.url}/v1/push", content=b"{nope", headers=auth).status_code == 400
    assert httpx.post(f"{headoffice.url}/v1/register", json={"code": code}).status_code == 403
    spec = httpx.get(f"{headoffice.url}/v1/openapi.json").json()
    assert {"/v1/push", "/v1/pull", "/v1/register"} <= set(spec["paths"])


def test_till_killed_with_sigkill_during_a_push(headoffice, ho_store, make_till, proxy):
    t = make_till("S1", "T1")
    register(t, ho_store, proxy.url)
    m = enrol(t, 1)
    bulk_earn(t, m.member_id, 12000)
    proxy.set_mode("delay", delay=0.03)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POS_CLIENT_HOME": str(t.home)}
    proc = subprocess.Popen([*pos_cli_cmd(), "sync", "--once"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ho_store.counts()["ledger"] >= 2000, timeout=30)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    held = ho_store.counts()["ledger"]
    assert 2000 <= held < 12000
    proxy.set_mode("pass")
    report = sync_once(t)
    assert report.push.entries + report.push.duplicates >= 12000 - held
    assert_exactly_once(t, ho_store, m.member_id)


def test_client_sorts_refusals_from_outages(headoffice):
    with HeadOfficeClient(headoffice.url, "wrong-token") as client, pytest.raises(SyncError, match="401"):
        client.pull(0)
    with HeadOfficeClient("http://127.0.0.1:9", "t", timeout=1) as client, pytest.raises(Offline):
        client.pull(0)
    assert sys.version_info >= (3, 11)


def test_pull_cut_off_midway_resumes_from_the_saved_cursor(headoffice, ho_store, make_till, proxy):
    from records import batch, member
    from records import entry as ho_entry

    from headoffice.store import Principal

    ho_store.add_till("S9", "T1")
    n = 3000
    ho_store.ingest(Principal("S9", "T1"), batch("S9", "T1", members=[member(f"m{i}", "S9") for i in range(n)],
                                                 entries=[ho_entry("S9", "T1", i + 1, f"m{i}", 2) for i in range(n)]))
    t = make_till("S1", "T1")
    register(t, ho_store, proxy.url)
    seen = []

    def cut_after_two_pages(p) -> None:
        seen.append(p)
        if len(seen) == 2:
            proxy.set_mode("refuse")

    with pytest.raises(Offline):
        sync_once(t, progress=cut_after_two_pages)
    cursor = state.get_int(t.conn, state.CURSOR)
    # pull_all fetches page n+1 while applying page n: the page already fetched when the link drops still lands
    assert cursor > 0 and seen[-1].done in (2000, 3000)
    proxy.set_mode("pass")
    report = sync_once(t)
    # another store's members come with their balances, not their entries (a till's view, wire/view.py)
    assert report.pulled["members"] + report.pulled["balances"] == 2 * n - seen[-1].done
    assert t.conn.execute("SELECT COUNT(*), SUM(points) FROM balances").fetchone()[:] == (n, 2 * n)
    assert t.conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 0
    assert_invariant(t)


def test_admin_endpoints_block_cards_and_report_overdrafts(headoffice, ho_store, make_till):
    from records import batch, card, member

    from headoffice.store import Principal

    admin = {"authorization": f"Bearer {ho_store.add_admin('ops')}"}
    ho_store.add_till("S1", "T1")
    ho_store.ingest(Principal("S1", "T1"), batch("S1", "T1", members=[member("m1", "S1")],
                                                 cards=[card("2900000000018", "m1")],
                                                 entries=[entry("S1", "T1", 1, "m1", -5, "redeem")]))
    code = ho_store.add_till("S2", "T1")
    token = httpx.post(f"{headoffice.url}/v1/register", json={"code": code}).json()["token"]
    till = {"authorization": f"Bearer {token}"}
    assert httpx.get(f"{headoffice.url}/v1/reports/overdraft", headers=till).status_code == 403
    report = httpx.get(f"{headoffice.url}/v1/reports/overdraft", headers=admin).json()
    assert [(m["member_id"], m["balance"]) for m in report["members"]] == [("m1", -5)]
    assert httpx.post(f"{headoffice.url}/v1/admin/cards/2900000000018/block", headers=admin).json() == {"blocked": True}
    assert httpx.post(f"{headoffice.url}/v1/admin/cards/nope/block", headers=admin).status_code == 404
    r = httpx.put(f"{headoffice.url}/v1/admin/rules/offline_redeem_cap", json={"value": 200}, headers=admin)
    assert r.status_code == 200
    bad = httpx.put(f"{headoffice.url}/v1/admin/products", json=[{"sku": "X", "name": "X", "price_cents": 1.2}],
                    headers=admin)
    assert bad.status_code == 422
    page = httpx.get(f"{headoffice.url}/v1/pull", params={"cursor": 0}, headers=till).json()
    got = {c["type"]: c["data"] for c in page["changes"]}
    assert got["card"]["status"] == "blocked" and got["rule"]["value"] == 200
    assert httpx.get(f"{headoffice.url}/v1/members/m1/balance", headers=till).json()["balance"] == -5


def test_a_sale_never_waits_for_a_slow_push(headoffice, ho_store, make_till, proxy):
    t = make_till("S1", "T1")
    register(t, ho_store, proxy.url)
    m = enrol(t, 1)
    bulk_earn(t, m.member_id, 8000)
    proxy.set_mode("delay", delay=0.02)
    worker = SyncWorker(context_opener(t), interval=0.1, base_backoff=0.05, max_backoff=0.2).start()
    try:
        wait_for(lambda: ho_store.counts()["ledger"] > 0, timeout=20)
        slowest = 0.0
        for _ in range(10):
            started = time.perf_counter()
            sell(t, 1, 500)
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.25
        proxy.set_mode("pass")
        wait_for(lambda: worker.status and worker.status.state == "online" and worker.status.entries_waiting == 0,
                 timeout=20)
    finally:
        worker.stop()
    assert_exactly_once(t, ho_store, m.member_id)

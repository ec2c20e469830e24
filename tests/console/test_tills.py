"""Stores and tills through the real stack: a real till registers with a code made on the page, syncs with the
real head-office server on loopback, and the page shows what it reported; revocation, scope, /metrics, /healthz."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.console.conftest import csrf_of
from tests.sync.records import batch, entry, member

CODE = re.compile(r'id="enrolment-code">([A-Z0-9-]+)<')


@pytest.fixture
def server(ho_store):
    from headoffice.server import ServerThread

    s = ServerThread(ho_store).start()
    yield s
    s.stop()


@pytest.fixture
def till(tmp_path):
    """A real till home (S1/T1), closed at the end."""
    from pos_client.store.config import write_config
    from pos_client.till import open_till

    home = tmp_path / "till"
    home.mkdir()
    write_config(home, {"store_id": "S1", "till_id": "T1"})
    ctx = open_till(home)
    yield ctx
    ctx.close()


def enrol_on_page(client, store_id: str, till_id: str) -> str:
    page = client.post("/stores", data={"csrf_token": csrf_of(client, "/stores"), "store_id": store_id,
                                        "till_id": till_id, "reason": "new till at the door"})
    assert page.status_code == 200, page.text
    found = CODE.search(page.text)
    assert found, page.text
    return found.group(1)


def token_of(ctx) -> str:
    from pos_client.store import sync_state

    return str(sync_state.get(ctx.conn, sync_state.TOKEN))


def test_a_real_till_enrolled_from_the_page_reports_itself_when_it_syncs(owner_client, server, till, ho_store):
    from sync.engine import sync_once
    from sync.register import register_till

    code = enrol_on_page(owner_client, "S1", "T1")
    register_till(till, server.url, code)
    sync_once(till)
    row = ho_store.console.tills("S1")[0]
    assert row["version"] == "0.1.0" and row["pending"] == 0 and abs(row["clock_skew_ms"]) < 5000
    assert row["last_push_at"] and row["last_pull_at"] and row["last_error"] is None
    page = owner_client.get("/stores").text
    assert "Store S1" in page and ">ok<" in page and "0.1.0" in page
    audit = owner_client.get("/audit").text
    assert "till.enrolment_code" in audit and "S1/T1" in audit and "new till at the door" in audit
    assert code not in audit  # the code is shown once, never recorded


def test_pending_skew_and_quarantined_records_as_the_till_reported_them(owner_client, server, ho_store):
    code = ho_store.add_till("S1", "T2")
    token, _ = ho_store.register(code)
    sent = datetime.now(UTC)
    ahead = sent + timedelta(seconds=90)
    body = {"store_id": "S1", "till_id": "T2", "members": [member("m1", "S1")],  # as a till with a bug sends it
            "entries": [entry("S1", "T2", 1, "m1", 10), {**entry("S1", "T2", 2, "m1", 5), "points": "five"}]}

    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as api:
        pushed = api.post("/v1/push", content=json.dumps(body), headers={
            "content-type": "application/json", "x-till-pending": "7", "x-till-version": "2.3.1",
            "x-till-clock": ahead.isoformat()})
        answered = datetime.now(UTC)
        assert pushed.status_code == 422 and pushed.json()["accepted"] == 1
        # malformed reports are ignored, not stored, and never fail the call
        assert api.get("/v1/pull", params={"cursor": 0}, headers={
            "x-till-pending": "lots", "x-till-version": "<b>", "x-till-clock": "yesterday"}).status_code == 200
    row = ho_store.console.tills("S1")[0]
    assert (row["pending"], row["version"]) == (7, "2.3.1")
    # head office reads its clock after the push is done: the skew is 90 s less that wait, which a loaded machine
    # makes long (bounds from the clock, not a guess: "+89.x s" failed once the push took over a second)
    skew = row["clock_skew_ms"]
    assert (ahead - answered).total_seconds() * 1000 - 1 <= skew <= (ahead - sent).total_seconds() * 1000 + 1
    assert row["quarantined"] == 1 and "quarantined" not in (row["last_error"] or "")
    assert "422" in row["last_error"]
    page = owner_client.get("/tills/S1/T2").text
    assert "2.3.1" in page and f"{skew / 1000:+.1f} s" in page
    assert "Quarantined records (1)" in page and "points" in page
    listing = owner_client.get("/stores").text
    assert "2.3.1" in listing and 'data-label="Waiting" class="num">7<' in listing


def test_revoking_a_till_clears_its_token_and_is_audited(owner_client, manager_client, server, till, ho_store):
    from sync.client import AuthError
    from sync.engine import sync_once
    from sync.register import register_till

    register_till(till, server.url, ho_store.add_till("S1", "T1"))
    sync_once(till)
    other = manager_client("S2")
    refused = other.post("/tills/S1/T1/revoke", data={"csrf_token": csrf_of(other, "/stores"), "reason": "oops"})
    assert refused.status_code == 403 and ho_store.console.tills("S1")[0]["active"]
    csrf = csrf_of(owner_client, "/tills/S1/T1")
    no_reason = owner_client.post("/tills/S1/T1/revoke", data={"csrf_token": csrf, "reason": " "})
    assert no_reason.status_code == 400 and ho_store.console.tills("S1")[0]["active"]
    done = owner_client.post("/tills/S1/T1/revoke", data={"csrf_token": csrf, "reason": "till stolen"})
    assert done.status_code == 200 and "Till S1/T1 revoked" in done.text and ">revoked<" in done.text
    assert httpx.get(f"{server.url}/v1/pull", params={"cursor": 0},
                     headers={"authorization": f"Bearer {token_of(till)}"}).status_code == 401
    with pytest.raises(AuthError):
        sync_once(till)
    audit = owner_client.get("/audit").text
    assert "till.revoke" in audit and "till stolen" in audit


def test_a_manager_enrols_tills_for_their_own_store_only(manager_client, ho_store):
    manager = manager_client("S1")
    page = manager.post("/stores", data={"csrf_token": csrf_of(manager, "/stores"), "store_id": "S2",
                                         "till_id": "T5", "reason": "second till"})
    assert page.status_code == 200 and CODE.search(page.text)
    assert [(t["store_id"], t["till_id"]) for t in ho_store.console.tills()] == [("S1", "T5")]
    bad = manager.post("/stores", data={"csrf_token": csrf_of(manager, "/stores"), "till_id": "T 5;--",
                                        "reason": "x"})
    assert bad.status_code == 400 and "letters, digits" in bad.text
    assert ho_store.console.audit_page("S1")[0]["user_name"] == "manager-S1"


def test_metrics_in_prometheus_text_for_an_owner_or_an_admin_token(owner_client, anon_client, server, till,
                                                                  ho_store):
    from sync.engine import sync_once
    from sync.register import register_till

    register_till(till, server.url, ho_store.add_till("S1", "T1"))
    sync_once(till)
    code = ho_store.add_till("S1", "T2")
    token, _ = ho_store.register(code)
    from wire.batches import encode

    body = batch("S1", "T2", members=[member("m1", "S1")], entries=[entry("S1", "T2", i, "m1", 1) for i in (1, 2, 3)])
    httpx.post(f"{server.url}/v1/push", content=encode(body),
               headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    assert anon_client.get("/metrics").status_code == 403
    admin = ho_store.add_admin("prometheus")
    scraped = httpx.get(f"{server.url}/metrics", headers={"authorization": f"Bearer {admin}"})
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = scraped.text
    assert "# TYPE headoffice_http_requests_total counter" in text
    assert re.search(r'headoffice_http_requests_total\{method="POST",route="/v1/push",status="200"\} 2', text), text
    assert re.search(r'route="/v1/pull",status="200"\} 1', text)
    assert "headoffice_ingest_entries_total 3" in text
    assert re.search(r'headoffice_till_sync_lag_seconds\{store="S1",till="T1"\} \d+', text)
    assert re.search(r'headoffice_till_sync_lag_seconds\{store="S1",till="T2"\} \d+', text)
    assert owner_client.get("/tills/S1/T1").status_code == 200
    own = owner_client.get("/metrics").text  # this worker's counts, flushed to the shared table on scrape
    assert re.search(r'route="/tills/\{store_id\}/\{till_id\}",status="200"\} 1', own), own
    assert 'route="/tills/S1/T1"' not in own  # labels are route templates: bounded, whatever the paths
    # a till's token is not an administrator's
    assert httpx.get(f"{server.url}/metrics", headers={"authorization": f"Bearer {token}"}).status_code == 403


def test_healthz_checks_the_database(anon_client, ho_store):
    ok = anon_client.get("/healthz")
    assert ok.status_code == 200 and ok.json() == {"ok": True, "database": "up"}
    ho_store.close()
    down = anon_client.get("/healthz")
    assert down.status_code == 503 and down.json() == {"ok": False, "database": "down"}


def test_a_till_row_shows_each_cell_as_the_page_did():
    """The tills page's cells, worked out in Python (`till_row`) rather than in the template, for each case."""
    from headoffice.console.tills import describe, till_row

    now = datetime(2026, 10, 31, 21, 5, tzinfo=UTC)
    base = {"store_id": "S1", "till_id": "T1", "registered_at": "x", "active": True, "code_expires_at": None,
            "high_seq": 0, "last_contact_at": "2026-10-31T21:00:00+00:00", "last_push_at": None, "last_pull_at": None,
            "pending": 3, "version": "0.9.0", "clock_skew_ms": -75_000, "last_error": "push refused (400)",
            "revoked_at": None, "program_version": 1, "quarantined": 2}
    row = till_row(describe(base, now), 3)
    assert (row.state, row.state_class, row.contact, row.pending, row.version) == ("ok", "good", "5 min ago", "3",
                                                                                   "0.9.0")
    assert (row.program, row.program_class, row.skew, row.skew_class) == ("v1 (of v3)", " warn", "-75.0 s", " warn")
    assert (row.quarantined, row.quarantined_class, row.last_error) == (2, " bad", "push refused (400)")
    current = till_row(describe({**base, "program_version": 3, "clock_skew_ms": 1200, "quarantined": 0}, now), 3)
    assert (current.program, current.program_class, current.skew, current.skew_class) == ("v3", " good", "+1.2 s", "")
    assert current.quarantined_class == ""
    never = till_row(describe({**base, "active": False, "code_expires_at": "2099-01-01", "last_contact_at": None,
                               "pending": None, "version": None, "clock_skew_ms": None, "program_version": None,
                               "last_error": None}, now), 3)
    assert (never.state, never.state_class, never.contact, never.pending, never.version) == (
        "waiting for enrolment", "muted", "never", "–", "–")
    assert (never.program, never.program_class, never.skew, never.skew_class, never.last_error) == (
        "–", "", "–", "", "–")
    revoked = till_row(describe({**base, "active": False, "revoked_at": "2026-10-31T20:00:00+00:00"}, now), 3)
    assert (revoked.state, revoked.state_class) == ("revoked", "bad")

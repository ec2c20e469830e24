"""The Approvals page over HTTP on the real head-office server (loopback): who sees which request, CSRF, a
reason on every decision, the audit record written with it, and the owner's policy form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from headoffice.console import accounts
from headoffice.server import ServerThread
from headoffice.store.base import Principal
from tests.console.conftest import PASSWORD, csrf_of, log_in
from tests.sync.records import batch, erasure, member


@pytest.fixture
def server(ho_store):
    """Two stores' members at head office, and an erasure of each asked by another store's till."""
    ho_store.add_till("S1", "T1")
    ho_store.add_till("S2", "T1")
    ho_store.ingest(Principal("S1", "T1"), batch("S1", "T1", members=[member("m1", "S1", phone="0611111111")]))
    ho_store.ingest(Principal("S2", "T1"), batch("S2", "T1", members=[member("m2", "S2", phone="0622222222")]))
    asked = ho_store.ingest(Principal("S2", "T1"), batch("S2", "T1", docs=[erasure("S2", "T1", "m1")]))
    asked2 = ho_store.ingest(Principal("S1", "T1"), batch("S1", "T1", docs=[erasure("S1", "T1", "m2")]))
    assert [p.kind for p in asked.pending] == ["erase"] and [p.kind for p in asked2.pending] == ["erase"]
    accounts.add_user(ho_store, "olivia", "owner", None, PASSWORD)
    accounts.add_user(ho_store, "manager-S1", "manager", "S1", PASSWORD)
    running = ServerThread(ho_store).start()
    yield running
    running.stop()


@contextmanager
def _client(server: ServerThread, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert log_in(client, name).status_code == 303
        yield client


def _ids(ho_store) -> dict[str, str]:
    return {r["member_id"]: r["request_id"] for r in ho_store.approvals.page(None)}


def test_a_manager_sees_and_decides_only_their_stores_requests(server, ho_store):
    ids = _ids(ho_store)
    with _client(server, "manager-S1") as client:
        page = client.get("/approvals")
        assert page.status_code == 200 and ids["m1"] in page.text and ids["m2"] not in page.text
        assert "Policy" not in page.text  # owners only
        other = client.post(f"/approvals/{ids['m2']}/approve",
                            data={"csrf_token": csrf_of(client, "/approvals"), "reason": "mine now"})
        assert other.status_code == 403 and ho_store.member("m2")["status"] == "active"
        no_reason = client.post(f"/approvals/{ids['m1']}/deny", data={"csrf_token": csrf_of(client, "/approvals")})
        assert no_reason.status_code == 400 and "say why" in no_reason.text
        done = client.post(f"/approvals/{ids['m1']}/deny", follow_redirects=False,
                           data={"csrf_token": csrf_of(client, "/approvals"), "reason": "customer withdrew it"})
        assert done.status_code == 303
        assert "Request denied." in client.get("/approvals?done=denied").text
        policy = client.post("/approvals/settings", data={"csrf_token": csrf_of(client, "/approvals"),
                                                          "adjust_limit.till": "99999", "reason": "x"})
        assert policy.status_code == 403 and ho_store.approvals.setting("adjust_limit.till") == 500
    assert ho_store.member("m1")["status"] == "active"
    [record] = [a for a in ho_store.console.audit_page(None) if a["action"] == "approval.deny"]
    assert (record["user_name"], record["store_id"], record["target"], record["reason"]) == (
        "manager-S1", "S1", ids["m1"], "customer withdrew it")


def test_an_owner_approves_any_store_and_sets_the_policy(server, ho_store):
    ids = _ids(ho_store)
    with _client(server, "olivia") as client:
        page = client.get("/approvals")
        assert ids["m1"] in page.text and ids["m2"] in page.text and "Policy" in page.text
        approved = client.post(f"/approvals/{ids['m2']}/approve", follow_redirects=False,
                               data={"csrf_token": csrf_of(client, "/approvals"), "reason": "signed form on file"})
        assert approved.status_code == 303 and ho_store.member("m2")["status"] == "erased"
        saved = client.post("/approvals/settings", follow_redirects=False, data={
            "csrf_token": csrf_of(client, "/approvals"), "approvals.auto_merge": "1", "adjust_limit.till": "800",
            "lookup_limit.per_minute": "120", "reason": "merges are routine here"})
        assert saved.status_code == 303
        bad = client.post("/approvals/settings", data={
            "csrf_token": csrf_of(client, "/approvals"), "adjust_limit.till": "-5",
            "lookup_limit.per_minute": "120", "reason": "oops"})
        assert bad.status_code == 400 and "a whole number" in bad.text
    assert ho_store.approvals.settings() == {"adjust_limit.till": 800, "approvals.auto_erase": 0,
                                             "approvals.auto_merge": 1, "approvals.auto_adjust": 0,
                                             "approvals.auto_profile": 0, "lookup_limit.per_minute": 120}
    actions = [a["action"] for a in ho_store.console.audit_page(None)]
    assert "approval.approve" in actions and "approvals.settings" in actions
    # a merge across stores is now approved at once, and audited as the policy's
    ho_store.ingest(Principal("S2", "T1"), batch("S2", "T1", members=[
        member("m3", "S2", phone="0611111111", created_at="2027-01-01T00:00:00.000000+00:00")]))
    assert ho_store.member("m3")["status"] == "merged"


def test_a_decision_needs_the_sessions_csrf_token(server, ho_store):
    ids = _ids(ho_store)
    with _client(server, "olivia") as client:
        forged = client.post(f"/approvals/{ids['m1']}/approve", data={"reason": "from another site"})
        assert forged.status_code == 403
    assert ho_store.member("m1")["status"] == "active" and ho_store.approvals.page(None, "pending")

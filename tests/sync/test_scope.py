"""What one till token may do (issue 11, finding 5): real tills registered to the real head office on loopback.

A leaked token (store S2's till, used by hand over HTTP) tries to overwrite, erase, merge away and inflate a
store S1 member: head office answers 202 with pending requests and changes nothing; the owner approves in
the console over HTTP and the S1 till gets the change on its next pull. The same till's own store's members
it may still update, and ledger entries within the limit it may still append.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from records import entry, erasure, member
from tillkit import enrol, loyalty, register, sell

from pos_client.services.members import get_member
from pos_client.store import ledger
from pos_client.store import sync_state as state
from sync.engine import sync_once
from tests.console.conftest import PASSWORD, csrf_of, log_in


@pytest.fixture
def chain(headoffice, ho_store, make_till):
    """Store S1's till with Ann (points, a phone), and store S2's till whose token is the one that leaks."""
    s1, s2 = make_till("S1", "T1"), make_till("S2", "T1")
    register(s1, ho_store, headoffice.url)
    register(s2, ho_store, headoffice.url)
    ann = enrol(s1, 1, phone="0612345678")
    sell(s1, 1, 12_000)
    sync_once(s1)
    sync_once(s2)
    return s1, s2, ann


def _leaked(till) -> httpx.Client:
    token = state.get(till.conn, state.TOKEN)
    assert token
    return httpx.Client(base_url=till.config.section("headoffice")["url"] + "/v1",
                        headers={"authorization": f"Bearer {token}"}, timeout=10)


def _push(client: httpx.Client, store: str, till: str, **parts) -> httpx.Response:
    return client.post("/push", json={"store_id": store, "till_id": till, "entries": [], "sales": [], "members": [],
                                      "cards": [], "docs": [], **parts})


@pytest.fixture
def console(headoffice, ho_store):
    from headoffice.console import accounts

    accounts.add_user(ho_store, "olivia", "owner", None, PASSWORD)
    with httpx.Client(base_url=headoffice.url, timeout=10) as client:
        assert log_in(client, "olivia").status_code == 303
        yield client


def _decide(console: httpx.Client, request_id: str, decision: str, reason: str) -> httpx.Response:
    return console.post(f"/approvals/{request_id}/{decision}",
                        data={"csrf_token": csrf_of(console, "/approvals"), "reason": reason}, follow_redirects=False)


def test_finding_5_a_leaked_till_token_cannot_change_another_stores_member(chain, ho_store):
    s1, s2, ann = chain
    before = ho_store.member(ann.member_id)
    assert before["name"] == "Member 1" and before["balance"] > 0
    thief = member(ann.member_id, "S1", phone="0699999999", name="Mallory")
    thief["updated_at"] = "2026-06-01T10:00:00.000000+00:00"
    # an "older" member with Ann's phone would win the same-phone merge and take her cards and points
    older = member("m-clone", "S2", phone=before["phone"], created_at="2020-01-01T00:00:00.000000+00:00")
    with _leaked(s2) as client:
        answer = _push(client, "S2", "T1", members=[thief, older],
                       entries=[entry("S2", "T1", 1, ann.member_id, 1_000_000, kind="adjust"),
                                entry("S2", "T1", 2, ann.member_id, -501, kind="adjust")],
                       docs=[erasure("S2", "T1", ann.member_id)])
        assert answer.status_code == 202, answer.text
        body = answer.json()
        kinds = sorted(p["kind"] for p in body["pending"])
        assert kinds == ["adjust", "adjust", "erase", "merge", "profile"]
        assert body["high_seq"] == 2  # the held entries' seqs count as held: no gap, nothing to resend
        # the same batch again: the same requests, nothing new
        again = _push(client, "S2", "T1", members=[thief, older], docs=[])
        assert again.status_code == 202 and {p["request_id"] for p in again.json()["pending"]} <= {
            p["request_id"] for p in body["pending"]}
    after = ho_store.member(ann.member_id)
    assert {k: after[k] for k in ("name", "phone", "status", "balance", "cards")} == {
        k: before[k] for k in ("name", "phone", "status", "balance", "cards")}
    assert ho_store.member("m-clone")["status"] == "active"  # enrolled, but not merged with Ann
    assert len(ho_store.approvals.page(None, "pending")) == 5
    sync_once(s1)
    at_s1 = get_member(s1, ann.member_id)
    assert (at_s1.name, at_s1.status, at_s1.balance) == ("Member 1", "active", before["balance"])


def test_a_till_still_updates_its_own_stores_members_and_appends_small_entries_but_erasures_wait(chain, ho_store):
    s1, _s2, ann = chain
    with _leaked(s1) as client:
        moved = member(ann.member_id, "S1", phone="0611111111", name="Ann B.")
        moved["updated_at"] = "2026-06-01T10:00:00.000000+00:00"
        own_seq = state.get_int(s1.conn, state.PUSH_HIGH) + 1
        answer = _push(client, "S1", "T1", members=[moved],
                       entries=[entry("S1", "T1", own_seq, ann.member_id, 40, kind="adjust")])
    assert answer.status_code == 200, answer.text
    assert answer.json()["pending"] == []
    got = ho_store.member(ann.member_id)
    assert (got["name"], got["phone"]) == ("Ann B.", "0611111111")
    assert ho_store.approvals.page(None) == []
    with _leaked(s1) as client:  # even its own store's member: an erasure cannot be undone, so it waits
        gone = _push(client, "S1", "T1", docs=[erasure("S1", "T1", ann.member_id)])
    assert gone.status_code == 202 and [p["kind"] for p in gone.json()["pending"]] == ["erase"]
    assert ho_store.member(ann.member_id)["status"] == "active"
    assert [r["kind"] for r in ho_store.approvals.page(None)] == ["erase"]


def test_owner_approves_in_the_console_and_the_change_reaches_the_till(chain, ho_store, console):
    s1, s2, ann = chain
    with _leaked(s2) as client:
        answer = _push(client, "S2", "T1", docs=[erasure("S2", "T1", ann.member_id)],
                       entries=[entry("S2", "T1", 1, ann.member_id, 900, kind="adjust")])
    assert answer.status_code == 202
    ids = {p["kind"]: p["request_id"] for p in answer.json()["pending"]}
    balance = ho_store.balance(ann.member_id)

    page = console.get("/approvals")
    assert page.status_code == 200 and ids["erase"] in page.text and ids["adjust"] in page.text
    assert 'href="/approvals"' in page.text  # in the navigation
    refused = console.post(f"/approvals/{ids['erase']}/approve", data={"reason": "no token"})
    assert refused.status_code == 403 and ho_store.member(ann.member_id)["status"] == "active"
    assert _decide(console, ids["adjust"], "deny", "no such goodwill").status_code == 303
    assert _decide(console, ids["erase"], "approve", "asked in store, id checked").status_code == 303
    assert _decide(console, ids["erase"], "approve", "twice").status_code == 400  # already decided

    assert ho_store.member(ann.member_id)["status"] == "erased"
    assert ho_store.balance(ann.member_id) == balance  # the denied 900 went in with its reversal beside it
    history = [(e["till_id"], e["points"]) for e in ho_store.member_history(ann.member_id)]
    assert ("T1", 900) in history and ("HO", -900) in history
    audit = console.get("/audit").text
    assert "approval.approve" in audit and "approval.deny" in audit
    decided = {r["request_id"]: r for r in ho_store.approvals.page(None)}
    assert decided[ids["erase"]]["decided_by"] == "console:olivia" and decided[ids["adjust"]]["status"] == "denied"

    sync_once(s1)
    at_s1 = get_member(s1, ann.member_id)
    assert at_s1.status == "erased" and at_s1.name is None and at_s1.balance == balance
    card = s1.conn.execute("SELECT status FROM cards WHERE card_number = ?", (loyalty(1),)).fetchone()[0]
    assert card == "blocked"


def test_a_configured_policy_approves_at_once_and_is_audited(chain, ho_store):
    _s1, s2, ann = chain
    ho_store.approvals.set_setting("approvals.auto_erase", 1)
    with _leaked(s2) as client:
        answer = _push(client, "S2", "T1", docs=[erasure("S2", "T1", ann.member_id)])
    assert answer.status_code == 200 and answer.json()["pending"] == []
    assert ho_store.member(ann.member_id)["status"] == "erased"
    [request] = ho_store.approvals.page(None)
    assert (request["status"], request["decided_by"], request["kind"]) == ("auto", "policy", "erase")
    audit = ho_store.console.audit_page(None)
    assert [(a["user_name"], a["action"]) for a in audit] == [("policy", "approval.auto.erase")]


def test_a_tills_large_adjustment_is_sent_for_approval_and_said_so(chain, ho_store):
    s1, s2, ann = chain
    sync_once(s2)  # S2 knows Ann from its pull
    ledger.append(s2.conn, s2.store_id, s2.till_id, [
        ledger.Entry(member_id=ann.member_id, kind="adjust", points=5_000, reason="goodwill")])
    report = sync_once(s2)
    assert [p["kind"] for p in report.push.sent_for_approval] == ["adjust"]
    status = state.read_status(s2.conn, s2.store_id, s2.till_id)
    assert status.sent_for_approval == 1 and "1 sent for approval" in status.line()
    assert status.entries_waiting == 0  # head office holds it (as a request): nothing to push again
    assert ho_store.balance(ann.member_id) == get_member(s1, ann.member_id).balance  # not counted yet


def test_member_reads_by_a_till_are_exact_lookups_and_rate_limited(chain, ho_store):
    _s1, s2, ann = chain
    ho_store.approvals.set_setting("lookup_limit.per_minute", 4)
    with _leaked(s2) as client:
        by_card = client.get("/members/lookup", params={"card": loyalty(1)})
        assert by_card.status_code == 200, by_card.text
        assert by_card.json() == {"member_id": ann.member_id, "store_id": "S1", "status": "active",
                                  "card_status": "active", "balance": ho_store.balance(ann.member_id)}
        by_phone = client.get("/members/lookup", params={"phone": "06 12 34 56 78"})
        assert by_phone.status_code == 200 and by_phone.json()["member_id"] == ann.member_id
        assert "name" not in by_phone.json() and "phone" not in by_phone.json()
        assert client.get("/members/lookup", params={"card": loyalty(1), "phone": "0612345678"}).status_code == 422
        assert client.get("/members/lookup", params={"name": "Member"}).status_code == 422  # no name search
        assert client.get("/members/lookup", params={"phone": "0600000000"}).status_code == 404
        assert client.get(f"/members/{ann.member_id}/balance").status_code == 200
        over = client.get("/members/lookup", params={"card": loyalty(1)})
        assert over.status_code == 429 and "lookup_limit" in over.json()["error"]
        assert client.get(f"/members/{uuid.uuid4().hex}/balance").status_code == 429

"""The console's member pages through the real app: search, a member's page, and each action (with its reason,
its limit, its audit and its store scope), plus the directory's store methods on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from cardread.barcode import with_check_digit
from headoffice.store.directory import ActionRefused
from tests.console.conftest import csrf_of
from tests.sync.records import batch, card, entry, member

CARD_1 = with_check_digit("290000000011")
CARD_2 = with_check_digit("290000000012")
CARD_3 = with_check_digit("290000000013")
NEW_CARD = with_check_digit("290000000099")
VISA = "4111111111111111"  # a test bank card number: never looked up, never stored


def seed(store) -> None:
    """Two stores: m1 and m2 in S1 (m1 holds 120 points), m3 in S2."""
    for s in ("S1", "S2"):
        store.register(store.add_till(s, "T1"))
    from headoffice.store import Principal

    store.ingest(Principal("S1", "T1"), batch(
        "S1", "T1",
        members=[member("m1", "S1", phone="+33612345678", name="Ann Martin"),
                 member("m2", "S1", phone="+33698765432", name="Bob Stone")],
        cards=[card(CARD_1, "m1"), card(CARD_2, "m2")],
        entries=[entry("S1", "T1", 1, "m1", 100), entry("S1", "T1", 2, "m1", 20), entry("S1", "T1", 3, "m2", 30)]))
    store.ingest(Principal("S2", "T1"), batch(
        "S2", "T1", members=[member("m3", "S2", phone="+33611111111", name="Ann Other")],
        cards=[card(CARD_3, "m3")], entries=[entry("S2", "T1", 1, "m3", 5)]))


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf_of(client, path.rsplit("/", 1)[0]), **data},
                       follow_redirects=False)


def ids(html: str) -> list[str]:
    return re.findall(r'<td><a href="/members/(m\d+)">', html)


def audit_rows(store) -> list[tuple]:
    return store._execute("SELECT action, target, reason FROM audit ORDER BY audit_id")


# --- search -------------------------------------------------------------------------------------------
def test_search_by_phone_in_any_format_by_card_and_by_name_prefix(ho_store, owner_client):
    seed(ho_store)
    for q in ("06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", CARD_1, "ann m", "ANN MAR"):
        r = owner_client.get("/members", params={"q": q})
        assert r.status_code == 200 and ids(r.text) == ["m1"], q
    # a prefix matches every store for an owner, in name order; the phone is masked in the list
    r = owner_client.get("/members", params={"q": "Ann"})
    assert ids(r.text) == ["m1", "m3"] and "+33612345678" not in r.text and "678" in r.text
    assert "No member matches" in owner_client.get("/members", params={"q": "Zoe"}).text
    # a bank card number is never looked up (nor echoed as a match)
    assert ids(owner_client.get("/members", params={"q": VISA}).text) == []


def test_a_manager_searches_and_sees_only_their_store(ho_store, manager_client):
    seed(ho_store)
    client = manager_client("S1")
    assert ids(client.get("/members", params={"q": "Ann"}).text) == ["m1"]
    assert ids(client.get("/members", params={"q": CARD_3}).text) == []
    assert client.get("/members/m1").status_code == 200
    for path in ("/members/m3", "/members/nobody"):
        r = client.get(path)
        assert r.status_code == 403 and "Ann Other" not in r.text and "+33611111111" not in r.text
    r = post(client, "/members/m3/adjust", points="10", reason="goodwill")
    assert r.status_code == 403 and ho_store.balance("m3") == 5


def test_search_returns_at_most_fifty_through_the_name_index(ho_store, owner_client):
    from headoffice.store import Principal

    ho_store.register(ho_store.add_till("S1", "T1"))
    ho_store.ingest(Principal("S1", "T1"), batch(
        "S1", "T1", members=[member(f"z{i:03d}", "S1", name=f"Zed {i:03d}") for i in range(60)]))
    assert len(re.findall(r'href="/members/z\d+"', owner_client.get("/members", params={"q": "zed"}).text)) == 50


@pytest.mark.parametrize("scoped", [False, True], ids=["chain", "store"])
def test_name_search_reads_its_index_in_order_with_no_sort(any_store, scoped):
    """`ORDER BY lower(name), member_id LIMIT 50` is the index's own order: no sort of every match (at a million
    members that sort was most of the search's time)."""
    from headoffice.store.db import POSTGRES
    from headoffice.store.directory import name_sql

    pg = any_store.db.dialect == POSTGRES
    sql = name_sql(' COLLATE "C"' if pg else "", scoped)
    args = ["zed", "zed\U0010ffff", *(["S1"] if scoped else []), 50]
    if pg:
        any_store._execute("SET enable_seqscan = off")  # an empty table: make the planner show the index path
        plan = " ".join(str(r[0]) for r in any_store._execute(f"EXPLAIN {sql}", args))
        assert "Sort" not in plan and "_name_id" in plan, plan
    else:
        plan = " ".join(str(r) for r in any_store._execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert "TEMP B-TREE" not in plan and "SCAN m" not in plan, plan
        assert ("idx_ho_members_store_name_id" if scoped else "idx_ho_members_name_id") in plan, plan
    names = {r[0] for r in any_store._execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'members'" if pg
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'members'")}
    assert not names & {"idx_ho_members_name", "idx_ho_members_store_name"}


# --- the member's page ----------------------------------------------------------------------------------
def test_member_page_shows_balance_cards_consents_and_history(ho_store, owner_client):
    seed(ho_store)
    r = owner_client.get("/members/m1")
    assert r.status_code == 200
    text = r.text
    assert "Ann Martin" in text and "120 points" in text and CARD_1 in text and "email: yes" in text
    assert text.count("<td>earn</td>") == 2
    assert owner_client.get("/members/nobody").status_code == 404


def test_tier_and_stage_come_from_the_upkeep_snapshot(ho_store, tmp_path, make_user):
    from datetime import date

    from headoffice import upkeep
    from headoffice.app import create_app
    from tests.console.conftest import client_for, log_in

    seed(ho_store)
    path = tmp_path / "snapshot.db"
    assert upkeep.refresh(ho_store, path, date.today()) is not None
    make_user("olivia")
    with client_for(create_app(ho_store, path)) as client:
        assert log_in(client, "olivia").status_code == 303
        text = client.get("/members/m1").text
    assert "<dt>Tier</dt><dd>Member" in text and "snapshot built" in text


# --- actions ----------------------------------------------------------------------------------------------
def test_adjust_within_the_role_limit_writes_one_ho_entry_and_an_audit_row(ho_store, owner_client, manager_client):
    seed(ho_store)
    r = post(owner_client, "/members/m1/adjust", points="+50", reason="goodwill: late delivery")
    assert r.status_code == 303 and r.headers["location"] == "/members/m1?done=adjust"
    assert ho_store.balance("m1") == 170
    rows = ho_store._execute("SELECT store_id, till_id, kind, points, reason, operator FROM ledger"
                             " WHERE member_id = 'm1' AND store_id = 'HO'")
    assert rows == [("HO", "HO", "adjust", 50, "goodwill: late delivery", "console:olivia")]
    assert ("member.adjust", "m1", "goodwill: late delivery") in audit_rows(ho_store)
    assert "Points adjusted." in owner_client.get("/members/m1?done=adjust").text

    manager = manager_client("S1")
    r = post(manager, "/members/m1/adjust", points="501", reason="too generous")
    assert r.status_code == 400 and "at most 500 points" in r.text and ho_store.balance("m1") == 170
    # the owner raises the managers' limit on the program page; now it passes
    assert post(owner_client, "/program/settings", **{"adjust_limit.manager": "600", "adjust_limit.owner": "10000",
                                                      "reason": "busy season"}).status_code == 303
    assert post(manager, "/members/m1/adjust", points="501", reason="complaint").status_code == 303
    assert ho_store.balance("m1") == 671


@pytest.mark.parametrize(("data", "message"), [
    ({"points": "10", "reason": " "}, "say why"),
    ({"points": "1.5", "reason": "x"}, "a whole number"),
    ({"points": "0", "reason": "x"}, "other than zero"),
    ({"points": "-500", "reason": "correction"}, "cannot take it below zero"),
    ({"points": "10", "reason": f"card {VISA}"}, "bank card number"),
])
def test_a_refused_adjustment_says_why_next_to_the_form_and_writes_nothing(ho_store, owner_client, data, message):
    seed(ho_store)
    before = ho_store.counts()
    r = post(owner_client, "/members/m1/adjust", **data)
    assert r.status_code == 400 and message in r.text and 'role="alert"' in r.text
    assert ho_store.balance("m1") == 120 and ho_store.counts() == before and audit_rows(ho_store) == []
    assert VISA not in str(ho_store._execute("SELECT * FROM ledger"))


def test_a_post_without_the_csrf_token_is_refused(ho_store, owner_client):
    seed(ho_store)
    r = owner_client.post("/members/m1/adjust", data={"points": "10", "reason": "x"}, follow_redirects=False)
    assert r.status_code == 403 and ho_store.balance("m1") == 120


def test_block_and_replace_a_card(ho_store, owner_client):
    seed(ho_store)
    assert post(owner_client, "/members/m1/block", card_number=CARD_1, reason="stolen").status_code == 303
    assert ho_store._execute("SELECT status FROM cards WHERE card_number = ?", (CARD_1,)) == [("blocked",)]
    # another member's card is not this member's to block
    r = post(owner_client, "/members/m1/block", card_number=CARD_2, reason="typo")
    assert r.status_code == 400 and "not a card of this member" in r.text
    r = post(owner_client, "/members/m2/replace", card_number=CARD_2, new_card=VISA, reason="lost")
    assert r.status_code == 400 and "bank card" in r.text
    assert post(owner_client, "/members/m2/replace", card_number=CARD_2, new_card=NEW_CARD,
                reason="lost").status_code == 303
    assert ho_store._execute("SELECT card_number, status, replaced_by FROM cards WHERE member_id = 'm2'"
                             " ORDER BY card_number") == [(CARD_2, "blocked", NEW_CARD), (NEW_CARD, "active", None)]
    assert ho_store.balance("m2") == 30
    actions = [a for a, _, _ in audit_rows(ho_store)]
    assert actions == ["member.block", "member.replace"]
    assert CARD_2 not in str(ho_store._execute("SELECT detail FROM audit"))  # last four digits only


def test_merge_moves_cards_and_balance_and_erase_needs_confirmation(ho_store, owner_client, manager_client):
    seed(ho_store)
    manager = manager_client("S1")
    r = post(manager, "/members/m1/merge", other_id="m3", reason="same person")
    assert r.status_code == 400 and "no such member in your stores" in r.text
    assert post(manager, "/members/m1/merge", other_id="m2", reason="same person").status_code == 303
    assert ho_store.balance("m1") == 150 and ho_store.member("m2")["status"] == "merged"
    assert ho_store.member("m1")["cards"] == sorted([CARD_1, CARD_2])
    assert "m2" in owner_client.get("/members/m1").text

    r = post(owner_client, "/members/m3/erase", confirm="yes", reason="customer asked")
    assert r.status_code == 400 and "type ERASE" in r.text and ho_store.member("m3")["name"] == "Ann Other"
    assert post(owner_client, "/members/m3/erase", confirm="ERASE", reason="customer asked").status_code == 303
    gone = ho_store.member("m3")
    assert gone["status"] == "erased" and gone["name"] is None and gone["phone"] is None
    assert ho_store.balance("m3") == 5  # the ledger stays


# --- the directory on both backends -----------------------------------------------------------------------
def test_directory_contract_on_both_backends(any_store):
    seed(any_store)
    assert [m["member_id"] for m in any_store.search_members("ann")] == ["m1", "m3"]
    assert [m["member_id"] for m in any_store.search_members("ann", "S2")] == ["m3"]
    assert [m["member_id"] for m in any_store.search_members("06.12.34.56.78")] == ["m1"]
    assert [m["member_id"] for m in any_store.search_members(CARD_2)] == ["m2"]
    assert any_store.member_store("m3") == "S2" and any_store.card_owner(CARD_3) == ("m3", "S2")
    out = any_store.adjust_points("m1", -20, "correction", "console:olivia")
    assert out["balance"] == 100 and any_store.balance("m1") == 100
    with pytest.raises(ActionRefused):
        any_store.adjust_points("m1", -101, "too much", "console:olivia")
    assert any_store.replace_card(CARD_1, NEW_CARD) == "m1"
    with pytest.raises(ActionRefused):
        any_store.replace_card(CARD_2, NEW_CARD)  # already enrolled
    assert any_store.block_member_card(CARD_3) == "m3"
    any_store.merge_members("m2", "m1")
    with pytest.raises(ActionRefused):
        any_store.merge_members("m2", "m1")  # already merged
    page = any_store.member_page("m1")
    assert page["balance"] == 130 and page["merged_in"] == ["m2"]
    assert [(e["points"], e["reason"]) for e in page["entries"]] == [
        (30, "merge"), (-20, "correction"), (20, None), (100, None)]
    assert any_store.console_setting("adjust_limit.manager") == 500
    any_store.set_console_setting("adjust_limit.manager", 50)
    assert any_store.console_setting("adjust_limit.manager") == 50

"""What the console changes reaches a real till on its next sync: a real pos-client till registered to the real
head-office server on loopback, the console driven over HTTP on that same server (a real login), and the till's
own database read after `sync_once`: a points adjustment, a blocked card, a merge and an edited rule."""

from __future__ import annotations

import httpx
import pytest
from tillkit import assert_invariant, enrol, loyalty, register, sell

from cardread import parse_card
from pos_client.domain.errors import RefusedInput
from pos_client.services.marketing.rewards import catalog
from pos_client.services.members import get_member, member_for_card
from sync.engine import sync_once
from tests.console.conftest import PASSWORD, csrf_of, log_in


@pytest.fixture
def console(headoffice, ho_store):
    """The owner logged in to the console of the running server, over real HTTP."""
    from headoffice.console import accounts

    accounts.add_user(ho_store, "olivia", "owner", None, PASSWORD)
    with httpx.Client(base_url=headoffice.url, timeout=10) as client:
        assert log_in(client, "olivia").status_code == 303
        yield client


def post(client: httpx.Client, path: str, page: str, **data) -> httpx.Response:
    return client.post(path, data={"csrf_token": csrf_of(client, page), **data}, follow_redirects=False)


def test_adjustment_block_merge_and_rule_reach_the_till_on_its_next_sync(headoffice, ho_store, make_till, console):
    till = make_till("S1", "T1")
    register(till, ho_store, headoffice.url)
    ann, bob = enrol(till, 1, phone="0612345678"), enrol(till, 2)
    sell(till, 1, 12_000)
    sell(till, 2, 3_000)
    sync_once(till)
    ann_before, bob_before = get_member(till, ann.member_id).balance, get_member(till, bob.member_id).balance
    assert ann_before > 0 and bob_before > 0 and ho_store.balance(ann.member_id) == ann_before

    # the console finds Ann by her phone as the till stored it, and acts on her and on Bob
    found = console.get("/members", params={"q": "06 12 34 56 78"})
    assert f'href="/members/{ann.member_id}"' in found.text
    page = f"/members/{ann.member_id}"
    assert post(console, f"{page}/adjust", page, points="75", reason="goodwill: broken coffee machine"
                ).status_code == 303
    assert post(console, f"/members/{bob.member_id}/block", f"/members/{bob.member_id}", card_number=loyalty(2),
                reason="reported stolen").status_code == 303
    assert post(console, f"{page}/merge", page, other_id=bob.member_id, reason="same household card"
                ).status_code == 303
    rewards = {"rewards-rows": "1", "rewards-0-id": "tote", "rewards-0-name": "Tote bag",
               "rewards-0-kind": "free_product", "rewards-0-points": "250", "rewards-0-sku": "TOTE"}
    assert post(console, "/program/rules/rewards", "/program", reason="spring", **rewards).status_code == 303

    # nothing has reached the till yet
    assert get_member(till, ann.member_id).balance == ann_before
    assert "tote" not in [r.id for r in catalog(till)]

    sync_once(till)
    merged = get_member(till, bob.member_id)  # Bob's id now resolves to Ann
    assert merged.member_id == ann.member_id
    assert merged.balance == ann_before + 75 + bob_before == ho_store.balance(ann.member_id)
    with pytest.raises(RefusedInput, match="blocked"):
        member_for_card(till, parse_card(loyalty(2)))
    assert member_for_card(till, parse_card(loyalty(1))).member_id == ann.member_id
    adjust = till.conn.execute("SELECT store_id, till_id, kind, points, reason FROM ledger WHERE member_id = ?"
                               " AND kind = 'adjust' AND reason != 'merge'", (ann.member_id,)).fetchall()
    assert [tuple(r) for r in adjust] == [("HO", "HO", "adjust", 75, "goodwill: broken coffee machine")]
    assert [(r.id, r.kind, r.points, r.sku) for r in catalog(till)] == [("tote", "free_product", 250, "TOTE")]
    assert_invariant(till)

    # the program page shows the till as current once it has asked for what follows the rule
    sync_once(till)
    assert [t["state"] for t in ho_store.rule_versions()["tills"]] == ["current"]
    assert "1 of 1 till current" in console.get("/program").text

"""A program published in the console reaches a real till: the real head-office server on loopback, the
owner's console over real HTTP, a real pos-client till registered to it. The next sale after the till's
sync earns by the published earning rule, the published offer's holdout share is the till's, the till
reports the version it applied (X-Till-Program) and the Program and Stores pages show it."""

from __future__ import annotations

import re

import httpx
import pytest
from tillkit import assert_invariant, enrol, register, sell

from pos_client.services.marketing.offers import catalog
from pos_client.store.program_overlay import applied_version
from pos_client.till import open_till
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


def publish(client: httpx.Client, key: str, reason: str, **fields: str) -> httpx.Response:
    return client.post(f"/program/rules/{key}", data={"csrf_token": csrf_of(client, "/program"), "reason": reason,
                                                      **fields}, follow_redirects=False)


def applied_cell(page: str, till_id: str) -> str:
    """The Program page's "Applied" cell of a till's row."""
    m = re.search(rf"<td>{till_id}</td>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>", page)
    assert m, page
    return m.group(1)


def test_an_earning_rule_and_an_offer_published_in_the_console_reach_the_till(headoffice, ho_store, make_till,
                                                                              console):
    till = make_till("S1", "T1")
    register(till, ho_store, headoffice.url)
    ann = enrol(till, 1)
    assert sell(till, 1, 1_000).points_base == 10  # the till's own rule: 1 point per 1.00
    sync_once(till)

    assert publish(console, "earning", "launch: 4 points per 1.00", **{"earning-0-points_per_unit": "4"}
                   ).status_code == 303
    assert publish(console, "offers", "welcome test", **{
        "offers-rows": "1", "offers-0-id": "welcome", "offers-0-trigger": "first_purchase",
        "offers-0-reward": "amount_off", "offers-0-value": "300", "offers-0-holdout_pct": "30"}).status_code == 303
    assert ho_store.rule_versions()["version"] == 2
    assert sell(till, 1, 1_000).points_base == 10  # not pulled yet: the till's rule still
    assert [o.id for o in catalog(till)] != ["welcome"]

    sync_once(till)
    assert applied_version(till.conn) == 2
    assert sell(till, 1, 1_000).points_base == 40  # the next sale earns by the published rule
    welcome = [o for o in catalog(till) if o.id == "welcome"]
    assert [(o.holdout_pct, o.holdout_bp, o.action["value"]) for o in welcome] == [(30, 3000, 300)]

    sync_once(till)  # this round's requests carry X-Till-Program: 2 (and push the 40-point sale)
    assert ho_store.balance(ann.member_id) == 10 + 10 + 40
    program = console.get("/program").text
    assert "Program version v2: 1 of 1 till current" in program and applied_cell(program, "T1") == "v2"
    assert re.search(r'data-label="Program" class="num good">v2</td>', console.get("/stores").text)

    # a new version leaves the till behind until its next sync; the Stores page says which it has
    assert publish(console, "earning", "back to normal", **{"earning-0-points_per_unit": "1"}).status_code == 303
    assert [(t["state"], t["applied"]) for t in ho_store.rule_versions()["tills"]] == [("behind", 2)]
    assert 'class="num warn">v2 (of v3)</td>' in console.get("/stores").text
    assert "Program version v3: 0 of 1 till current" in console.get("/program").text

    # offline first: a restarted till keeps what it last pulled
    home = till.home
    till.close()
    again = open_till(home)
    try:
        assert applied_version(again.conn) == 2 and again.rules.points_per_unit == 4
        sync_once(again)
        assert again.rules.points_per_unit == 1 and applied_version(again.conn) == 3
        assert_invariant(again)
    finally:
        again.close()

"""The console's program page through the real app: forms built from the wire schema, publishing checked by the
wire's own validate_rule with each reason next to its field, owner-only publishing, and which tills have the
current program version (recorded as they pull)."""

from __future__ import annotations

import html as html_lib
import re

from tests.console.conftest import csrf_of
from wire.rules import RULE_KEYS, validate_rule

REWARD_COLUMNS = ("id", "name", "kind", "points", "value", "sku", "tier", "valid_days")


def rewards_form(rows: list[dict[str, str]], reason: str = "spring catalog") -> dict[str, str]:
    data = {"rewards-rows": str(len(rows)), "reason": reason}
    for i, row in enumerate(rows):
        for col in REWARD_COLUMNS:
            data[f"rewards-{i}-{col}"] = row.get(col, "")
    return data


def publish(client, key: str, data: dict[str, str]):
    return client.post(f"/program/rules/{key}", data={"csrf_token": csrf_of(client, "/program"), **data},
                       follow_redirects=False)


def cell_error(html: str, name: str) -> str | None:
    """The error shown in the same table cell as input `name`."""
    m = re.search(rf'name="{re.escape(name)}"[^>]*>\s*<span class="error" role="alert">([^<]*)</span>', html)
    return html_lib.unescape(m.group(1)) if m else None


def test_the_page_has_one_form_per_rule_key_from_the_wire_schema(owner_client):
    text = owner_client.get("/program").text
    for key in RULE_KEYS:
        assert f'action="/program/rules/{key}"' in text
    # the reward kinds are the schema's own choices
    for kind in ("amount_off", "percent_off", "free_product", "gift_certificate"):
        assert f"<option>{kind}</option>" in text


def test_publishing_the_rewards_form_stores_what_the_wire_accepts_and_audits_it(ho_store, owner_client):
    rows = [{"id": "coffee", "name": "Free coffee", "kind": "free_product", "points": "150", "sku": "C1"},
            {},  # an empty row in the middle is dropped
            {"id": "5off", "name": "5.00 off", "kind": "amount_off", "points": "500", "value": "500",
             "valid_days": "30"}]
    r = publish(owner_client, "rewards", rewards_form(rows))
    assert r.status_code == 303 and r.headers["location"] == "/program?done=rewards"
    value = ho_store.rules()["rewards"]
    assert value == [{"id": "coffee", "name": "Free coffee", "kind": "free_product", "points": 150, "sku": "C1"},
                     {"id": "5off", "name": "5.00 off", "kind": "amount_off", "points": 500, "value": 500,
                      "valid_days": 30}]
    assert validate_rule("rewards", value) == []
    assert ho_store._execute("SELECT action, target, reason FROM audit") == [
        ("program.publish", "rewards", "spring catalog")]
    page = owner_client.get("/program?done=rewards").text
    assert "published" in page and 'value="Free coffee"' in page  # the form shows what is published


def test_each_reason_is_shown_next_to_its_field_and_nothing_is_published(ho_store, owner_client):
    rows = [{"id": "a", "name": "A", "kind": "amount_off", "points": "10"},
            {},
            {"id": "b", "name": "B", "kind": "free_product", "points": "0"}]
    r = publish(owner_client, "rewards", rewards_form(rows))
    assert r.status_code == 400
    # the wire's reason names the value's row 1, which is the form's row 2 (the empty row was dropped)
    assert cell_error(r.text, "rewards-2-points") == "must be >= 1"
    assert 'value="B"' in r.text  # what was typed stays, to correct it
    r = publish(owner_client, "rewards", rewards_form([{"id": "b", "name": "B", "kind": "free_product",
                                                        "points": "5"}]))
    assert r.status_code == 400 and cell_error(r.text, "rewards-0-sku") == "a free product names its sku"
    r = publish(owner_client, "rewards", rewards_form([{"id": "c", "name": "C", "kind": "amount_off",
                                                        "points": "1.5"}]))
    assert r.status_code == 400 and cell_error(r.text, "rewards-0-points") == "a whole number (no decimals)"
    dup = [{"id": "x", "name": "X", "kind": "amount_off", "points": "5"}] * 2
    r = publish(owner_client, "rewards", rewards_form(dup))
    assert r.status_code == 400 and "is used twice" in r.text
    r = publish(owner_client, "tiers", {"tiers-rows": "1", "tiers-0-name": "Gold", "tiers-0-min_spend_cents": "100",
                                        "reason": "new ladder"})
    assert r.status_code == 400 and "the lowest tier must have min_spend_cents = 0" in r.text
    r = publish(owner_client, "offline_redeem_cap", {"offline_redeem_cap-value": "-1", "reason": "x"})
    assert r.status_code == 400 and "must be &gt;= 0" in r.text
    r = publish(owner_client, "offline_redeem_cap", {"offline_redeem_cap-value": "300", "reason": " "})
    assert r.status_code == 400 and "say why" in r.text
    assert ho_store.rules() == {} and ho_store._execute("SELECT COUNT(*) FROM audit") == [(0,)]
    assert publish(owner_client, "offline_redeem_cap", {"offline_redeem_cap-value": "300",
                                                        "reason": "fewer disputes"}).status_code == 303
    assert ho_store.rules() == {"offline_redeem_cap": 300}


def test_a_manager_sees_the_program_and_their_tills_but_cannot_publish(ho_store, manager_client):
    for s in ("S1", "S2"):
        ho_store.add_till(s, "T1")
    client = manager_client("S1")
    text = client.get("/program").text
    assert "<td>S1</td>" in text and "<td>S2</td>" not in text and "Only an owner publishes" in text
    r = publish(client, "offline_redeem_cap", {"offline_redeem_cap-value": "300", "reason": "x"})
    assert r.status_code == 403 and ho_store.rules() == {}
    r = client.post("/program/settings", data={"csrf_token": csrf_of(client, "/program"),
                                               "adjust_limit.manager": "99999", "adjust_limit.owner": "1",
                                               "reason": "x"}, follow_redirects=False)
    assert r.status_code == 403 and ho_store.console_setting("adjust_limit.manager") == 500


def test_which_tills_have_the_current_version(ho_store, owner_client):
    tills = {}
    for s in ("S1", "S2"):
        _token, who = ho_store.register(ho_store.add_till(s, "T1"))
        tills[s] = who
    assert publish(owner_client, "offline_redeem_cap", {"offline_redeem_cap-value": "300",
                                                        "reason": "launch"}).status_code == 303
    states = {t["store_id"]: t["state"] for t in ho_store.rule_versions()["tills"]}
    assert states == {"S1": "never pulled", "S2": "never pulled"}
    page = ho_store.pull(tills["S1"], 0)  # the rule goes out...
    assert {t["store_id"]: t["state"] for t in ho_store.rule_versions()["tills"]}["S1"] == "sent"
    ho_store.pull(tills["S1"], page.next_cursor)  # ...and the till asks for what follows: it applied it
    versions = ho_store.rule_versions()
    assert {t["store_id"]: t["state"] for t in versions["tills"]} == {"S1": "current", "S2": "never pulled"}
    assert "1 of 2 tills current" in owner_client.get("/program").text
    # a new publish leaves S1 behind until it pulls again
    assert publish(owner_client, "offline_redeem_cap", {"offline_redeem_cap-value": "200",
                                                        "reason": "tighter"}).status_code == 303
    after = ho_store.rule_versions()
    assert after["version"] > versions["version"]
    assert {t["store_id"]: t["state"] for t in after["tills"]}["S1"] == "behind"


def test_rule_versions_on_both_backends(any_store):
    _token, who = any_store.register(any_store.add_till("S1", "T1"))
    any_store.set_rule("offline_redeem_cap", 100)
    assert any_store.rules() == {"offline_redeem_cap": 100}
    page = any_store.pull(who, 0)
    any_store.pull(who, page.next_cursor)
    versions = any_store.rule_versions()
    assert versions["version"] > 0 and [t["state"] for t in versions["tills"]] == ["current"]
    admin = any_store.authenticate(any_store.add_admin("ops"))
    assert admin is not None
    any_store.pull(admin, 0)  # an administrator's pull is not a till's
    assert len(any_store.rule_versions()["tills"]) == 1

"""The Program page's earning, promotion and offer forms through the real app: one form per new rule key
(built from `wire.program`), every bad value refused next to its field with nothing published, a publish
stored as a new program version with who and why (audit and the page's history), and the API refusing
the same values and unknown keys with its reasons."""

from __future__ import annotations

import json

from tests.console.conftest import client_for
from tests.console.test_program import cell_error, publish

OFFER_COLUMNS = ("id", "trigger", "reward", "value", "sku", "message", "valid_days", "priority", "cap_max",
                 "cap_days", "holdout_pct", "window_days", "points_to_reward")


def rows_form(key: str, columns, rows: list[dict[str, str]], reason: str = "spring program") -> dict[str, str]:
    data = {f"{key}-rows": str(len(rows)), "reason": reason}
    for i, row in enumerate(rows):
        for col in columns:
            data[f"{key}-{i}-{col}"] = row.get(col, "")
    return data


def test_the_page_has_the_earning_promotion_and_offer_forms(owner_client):
    text = owner_client.get("/program").text
    for key in ("earning", "category_multipliers", "promotions", "offers"):
        assert f'action="/program/rules/{key}"' in text
    assert 'name="earning-0-points_per_unit"' in text and 'name="earning-rows"' not in text  # one row of fields
    for trigger in ("first_purchase", "second_purchase", "reactivated", "points_close"):
        assert f"<option>{trigger}</option>" in text
    assert 'name="offers-0-holdout_pct"' in text and 'placeholder="10"' in text  # the wire's default share


def test_publishing_earning_is_a_new_version_with_who_and_why(ho_store, owner_client):
    r = publish(owner_client, "earning", {"earning-0-points_per_unit": "3", "earning-0-unit_cents": "200",
                                          "earning-0-excluded_categories": "tobacco, gift_card,",
                                          "reason": "double points year"})
    assert r.status_code == 303 and r.headers["location"] == "/program?done=earning"
    value = {"points_per_unit": 3, "unit_cents": 200, "excluded_categories": ["tobacco", "gift_card"]}
    assert ho_store.rules() == {"earning": value}
    assert [(h["version"], h["key"], h["value"], h["published_by"], h["reason"])
            for h in ho_store.program_history()] == [(1, "earning", value, "olivia", "double points year")]
    action, target, reason, detail = ho_store._execute("SELECT action, target, reason, detail FROM audit")[0]
    assert (action, target, reason, json.loads(detail)) == ("program.publish", "earning", "double points year",
                                                            {"value": value, "version": 1})
    page = owner_client.get("/program?done=earning").text
    assert 'value="tobacco, gift_card"' in page and 'value="200"' in page  # the form shows what is published
    assert "<td>v1</td><td>earning</td>" in page and "Program version v1" in page
    # a second publish of any rule is the next version
    assert publish(owner_client, "offers", rows_form("offers", OFFER_COLUMNS, [
        {"id": "welcome", "trigger": "first_purchase", "reward": "amount_off", "value": "500",
         "holdout_pct": "20"}])).status_code == 303
    assert ho_store.rules()["offers"] == [{"id": "welcome", "trigger": "first_purchase", "reward": "amount_off",
                                           "value": 500, "holdout_pct": 20}]
    assert [h["version"] for h in ho_store.program_history()] == [2, 1]
    assert ho_store.rule_versions()["version"] == 2


def test_each_bad_value_is_refused_next_to_its_field_and_nothing_is_published(ho_store, owner_client):
    r = publish(owner_client, "earning", {"earning-0-unit_cents": "0", "earning-0-points_per_unit": "1.5",
                                          "reason": "x"})
    assert r.status_code == 400
    assert cell_error(r.text, "earning-0-points_per_unit") == "a whole number (no decimals)"
    r = publish(owner_client, "earning", {"earning-0-unit_cents": "0", "reason": "x"})
    assert r.status_code == 400 and cell_error(r.text, "earning-0-unit_cents") == "must be >= 1"
    assert 'value="0"' in r.text  # what was typed stays, to correct it

    promo = ("name", "start", "end", "multiplier_pct", "categories")
    r = publish(owner_client, "promotions", rows_form("promotions", promo, [
        {"name": "Spring", "start": "2026-04-01", "end": "2026-03-01"},
        {"name": "Bad day", "start": "2026-02-30", "end": "2026-03-01", "multiplier_pct": "1001"}]))
    assert r.status_code == 400
    assert cell_error(r.text, "promotions-0-end") == "a promotion ends on or after its start"
    assert cell_error(r.text, "promotions-1-start") == "not an ISO-8601 date"
    assert cell_error(r.text, "promotions-1-multiplier_pct") == "must be <= 1000"

    r = publish(owner_client, "offers", rows_form("offers", OFFER_COLUMNS, [
        {"id": "a", "trigger": "first_purchase", "reward": "percent_off", "value": "150"},
        {"id": "b", "trigger": "lapsed", "reward": "message", "holdout_pct": "95"},
        {"id": "c", "trigger": "reactivated", "reward": "free_product"}]))
    assert r.status_code == 400
    assert cell_error(r.text, "offers-0-value") == "a percent off is 1 to 100"
    assert cell_error(r.text, "offers-1-holdout_pct") == "must be <= 90"
    assert cell_error(r.text, "offers-2-sku") == "a free product names its sku"
    r = publish(owner_client, "offers", rows_form("offers", OFFER_COLUMNS, [  # once every row is right
        {"id": "a", "trigger": "first_purchase", "reward": "message"},
        {"id": "a", "trigger": "at_risk", "reward": "message"}]))
    assert r.status_code == 400 and cell_error(r.text, "offers-1-id") == "an offer's id is unique, 'a' is used twice"

    multipliers = rows_form("category_multipliers", ("category", "multiplier_pct"), [
        {"category": "oil", "multiplier_pct": "-1"}, {"category": "two words", "multiplier_pct": "200"}])
    r = publish(owner_client, "category_multipliers", multipliers)
    assert r.status_code == 400 and cell_error(r.text, "category_multipliers-0-multiplier_pct") == "must be >= 0"
    assert cell_error(r.text, "category_multipliers-1-category") == "1-64 letters, digits or _ . : - (no spaces)"
    assert ho_store.rules() == {} and ho_store.program_history() == []
    assert ho_store._execute("SELECT COUNT(*) FROM audit") == [(0,)]


def test_the_api_refuses_the_same_values_and_unknown_keys_with_reasons(ho_store, console_app):
    admin = {"authorization": f"Bearer {ho_store.add_admin('ops')}"}
    with client_for(console_app) as api:
        r = api.put("/v1/admin/rules/earning", json={"value": {"points_per_unit": 2, "bonus_points": 5}},
                    headers=admin)
        assert r.status_code == 422 and "earning.bonus_points: unknown field" in r.text
        r = api.put("/v1/admin/rules/offers", json={"value": [{"id": "w", "trigger": "birthday",
                                                                "reward": "message"}]}, headers=admin)
        assert r.status_code == 422 and "offers[0].trigger" in r.text
        r = api.put("/v1/admin/rules/earning_rate", json={"value": 2}, headers=admin)
        assert r.status_code == 404 and "no program rule 'earning_rate'" in r.text
        assert ho_store.rules() == {}
        r = api.put("/v1/admin/rules/promotions", headers=admin, json={"value": [
            {"name": "Spring", "start": "2026-04-01", "end": "2026-04-30", "multiplier_pct": 300,
             "categories": ["grocery"]}]})
        assert r.status_code == 200
    assert [(h["version"], h["published_by"]) for h in ho_store.program_history()] == [(1, "api")]

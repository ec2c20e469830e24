"""The OpenAPI document is generated from the wire Structs and the route table, and served as generated."""

from __future__ import annotations

import re

import httpx

from headoffice.app import create_app
from wire.fields import PREFIX
from wire.openapi import ROUTES, openapi
from wire.rules import RULE_KEYS


def test_the_served_document_is_the_generated_one(headoffice):
    served = httpx.get(f"{headoffice.url}/v1/openapi.json", timeout=5)
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    assert served.json() == openapi()


def test_every_route_of_the_server_is_documented_and_nothing_else(ho_store):
    documented = {(method.upper(), path) for path, ops in openapi()["paths"].items() for method in ops}
    served = set()
    for route in create_app(ho_store).routes:
        if not getattr(route, "path", "").startswith(PREFIX + "/"):
            continue  # the console's pages (headoffice/console) are HTML for people, not the tills' API
        for method in set(route.methods) - {"HEAD"}:
            paths = [route.path.replace("{key}", k) for k in RULE_KEYS] if "{key}" in route.path else [route.path]
            served |= {(method, p) for p in paths}
    assert served == documented


def test_path_parameters_are_defined_and_every_status_has_its_body():
    doc = openapi()
    schemas = doc["components"]["schemas"]
    by_name = {r.name: r for r in ROUTES}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path" and p["required"]}
            assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
            route = by_name["set_rule" if op["operationId"].startswith("set_rule_") else op["operationId"]]
            accepted = {"202"} if route.accepted else set()  # the `ok` body, some changes sent for approval
            binary = route.media != "application/json"  # a file's bytes: 206 answers a Range request
            partial = {"206"} if binary else set()
            assert set(op["responses"]) == {"200", *accepted, *partial, *map(str, route.statuses())}, (method, path)
            for status, answer in op["responses"].items():
                if binary and status in ("200", "206"):
                    assert list(answer["content"]) == [route.media], (method, path, status)
                    continue
                schema = answer["content"]["application/json"]["schema"]
                if status == "202":
                    assert schema == op["responses"]["200"]["content"]["application/json"]["schema"]
                elif status != "200":
                    assert _ref("Error") in [schema, *schema.get("anyOf", [])], (method, path, status)
            if op.get("security"):
                assert "401" in op["responses"] and op["x-role"] in ("till", "admin", "any")
    for ref in re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(doc).replace("'", '"')):
        assert ref in schemas, ref


def test_the_document_states_the_rules_json_schema_cannot():
    schemas = openapi()["components"]["schemas"]
    assert "points: a redemption cannot add points" in schemas["LedgerRecord"]["x-checks"]
    assert "total_cents: not the sum of the lines" in schemas["SaleRecord"]["x-checks"]
    assert schemas["Doc"]["x-checks"] == ["key: must be the key its data names"]
    assert schemas["PushResult"]["x-conflicts"]
    tiers = openapi()["paths"]["/v1/admin/rules/tiers"]["put"]["requestBody"]["content"]["application/json"]
    assert "the lowest tier must have min_spend_cents = 0" in str(tiers["schema"]["x-checks"])


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_what_the_document_does_not_name_is_refused_with_an_error_body(headoffice, ho_store):
    admin = {"authorization": f"Bearer {ho_store.add_admin('ops')}"}
    for method, path, status in (("PUT", "/v1/admin/rules/loyalty_colour", 404), ("GET", "/v1/nowhere", 404),
                                 ("DELETE", "/v1/push", 405)):
        r = httpx.request(method, f"{headoffice.url}{path}", json={"value": 1}, headers=admin, timeout=5)
        assert r.status_code == status and r.headers["content-type"] == "application/json"
        assert set(r.json()) == {"error"}, r.json()
    assert "POST" in httpx.delete(f"{headoffice.url}/v1/push", timeout=5).headers["allow"]

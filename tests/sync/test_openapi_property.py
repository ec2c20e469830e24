"""The head office behaves as its served document says, route by route (schemathesis, property-based).

For every operation of /v1/openapi.json, requests generated from the document (schema-valid ones, and
ones that break it) go to a real head office on loopback with a till's token, an administrator's, and
none. Every answer must be a documented status with a body of the documented schema, never a 500; a
request that breaks the document is refused; a schema-valid one is taken, or refused only for a reason
the document states (`x-checks`: rules JSON Schema cannot say; `x-conflicts`: clashes with what head
office already holds). Bounded: a few examples per operation, the whole file well under a minute.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from wire.openapi import openapi

TILL = ("S1", "T1")
CARD = "2900000000015"
SCALE = int(os.environ.get("WIRE_FUZZ_SCALE", "1"))  # e.g. 5 for a longer hunt (the bounded run is CI's)
EXAMPLES = {GenerationMode.POSITIVE: 12 * SCALE, GenerationMode.NEGATIVE: 8 * SCALE}
REFUSED_EXAMPLES = 3  # a role the route refuses outright (401/403) needs only a few to show it

def _runs() -> list[Any]:
    """(operation, mode, role) to run: without a token, or when nothing but the credentials could break the
    request, the invalid run would only repeat the valid run's 401."""
    runs = []
    for path, ops in openapi()["paths"].items():
        for method, op in ops.items():
            label = f"{method.upper()} {path}"
            breakable = bool({"parameters", "requestBody"} & set(op))
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                for role in ("till", "admin", "none"):
                    wanted = mode is GenerationMode.POSITIVE or (breakable and role != "none")
                    if path != "/v1/openapi.json" and wanted:
                        runs.append(pytest.param(label, mode, role, id=f"{label}-{mode.value}-{role}"))
    return runs


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Live:
    url: str
    tokens: dict[str, str | None]
    schema: Any
    checks: list[tuple[str, str]]  # (field, phrase) of every x-check in the document
    conflicts: list[str]


def _documented(doc: Any, key: str) -> list[str]:
    found: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += list(v) if k == key else _documented(v, key)
    elif isinstance(doc, list):
        for v in doc:
            found += _documented(v, key)
    return found


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    import httpx
    from records import batch, card, entry, member

    from headoffice.server import ServerThread
    from headoffice.store import Principal, open_store

    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('ho') / 'headoffice.db'}")
    code = store.add_till(*TILL)
    admin = store.add_admin("ops")
    store.ingest(Principal(*TILL), batch(*TILL, members=[member("m1", "S1")], cards=[card(CARD, "m1")],
                                         entries=[entry(*TILL, 1, "m1", 10)]))
    # the fuzzer sends thousands of refused tokens from one address: throttling (test_hostile_bodies) is off here
    server = ServerThread(store, api_fail_limit=10**9).start()
    till = httpx.post(f"{server.url}/v1/register", json={"code": code}).json()["token"]
    doc = httpx.get(f"{server.url}/v1/openapi.json").json()
    checks = [tuple(c.split(": ", 1)) for c in _documented(doc, "x-checks")]
    live = Live(server.url, {"till": till, "admin": admin, "none": None},
                schemathesis.openapi.from_url(f"{server.url}/v1/openapi.json"), checks,
                _documented(doc, "x-conflicts"))
    yield live
    server.stop()
    store.close()


def _own(body: Any, store_id: str, till_id: str) -> None:
    """Name this till in a generated push, so it reaches ingest instead of stopping at 403."""
    if not isinstance(body, dict):
        return
    body.update(store_id=store_id, till_id=till_id)
    for part in ("entries", "sales"):
        for rec in body.get(part) or []:
            if isinstance(rec, dict):
                rec.update(store_id=store_id, till_id=till_id)
    for d in body.get("docs") or []:
        if isinstance(d, dict) and isinstance(d.get("data"), dict):
            d["data"].update(store_id=store_id, till_id=till_id)
            if d.get("type") == "till_key":
                d["key"] = f"{store_id}/{till_id}"


def _reason_documented(live: Live, reason: str) -> bool:
    path, _, text = reason.partition(": ")
    name = re.split(r"[.\]]", path)[-1] or path
    return (any(name == f and text.startswith(p) for f, p in live.checks)
            or any(c in reason for c in live.conflicts))


def _accepted_as_documented(live: Live, case: Any, response: Any) -> None:
    """A schema-valid request is taken, or refused only for a reason the document gives."""
    status = response.status_code
    if status in (200, 401, 403, 404) or (status in (202, 429) and str(status) in case.operation.definition.raw[
            "responses"]):
        return  # 429: this address sent too many refused codes or tokens; 202: not ready yet (documented on the route)
    assert status == 422, f"{case.operation.label}: schema-valid request answered {status}: {response.text[:500]}"
    body = response.json()
    reasons = body.get("reasons") or [r for rej in body.get("rejected", []) for r in rej["reasons"]]
    undocumented = [r for r in reasons if not _reason_documented(live, r)]
    assert reasons and not undocumented, (
        f"{case.operation.label}: schema-valid request refused for undocumented reasons {undocumented or body}")


@pytest.mark.parametrize(("label", "mode", "role"), _runs())
def test_every_route_answers_as_documented(live, label, mode, role):
    method, path = label.split(" ", 1)
    operation = live.schema[path][method]
    token = live.tokens[role]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    cases = operation.as_strategy(generation_mode=mode)
    if "{card_number}" in label or "{member_id}" in label:  # sometimes a card or member head office holds
        known = {"card_number": CARD} if "{card_number}" in label else {"member_id": "m1"}
        cases = st.one_of(cases, operation.as_strategy(generation_mode=mode, path_parameters=known))
    pushing = label == "POST /v1/push" and role == "till"
    needs = operation.definition.raw.get("x-role")  # whose token the route takes: till, admin, any (or none)
    refused = (needs is not None and role == "none") or (needs in ("till", "admin") and needs != role)
    examples = REFUSED_EXAMPLES if refused else EXAMPLES[mode] * (2 if pushing else 1)

    @settings(max_examples=examples, deadline=None, database=None,
              derandomize=SCALE == 1, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(case=cases, own=st.booleans())
    def run(case, own):
        if pushing and own and mode is GenerationMode.POSITIVE:
            _own(case.body, *TILL)
        sent = headers
        if mode is GenerationMode.NEGATIVE and case.meta is not None and case.meta.is_negative_at(
                ParameterLocation.HEADER):
            sent = {}  # what was broken is the credentials: they go as generated (and must earn a 401)
        response = case.call(base_url=live.url, headers=sent)
        checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
        case.validate_response(response, checks=checks, headers=sent)
        if mode is GenerationMode.POSITIVE:
            if role == "none" and operation.definition.raw.get("security"):
                assert response.status_code == 401, response.text
            _accepted_as_documented(live, case, response)

    run()

"""The route table of /v1 and the OpenAPI 3.1 document generated from it and from the wire Structs.

The table is the one place a route is described: head office builds its Starlette routes, checks
credentials and decodes parameters and bodies from it, and the document is generated from it, so the
two cannot say different things. Every status a route can answer is listed with its body schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal

import msgspec

from wire.batches import Change, PullPage, PushBatch, PushResult, RecoverPage
from wire.docs import DOC_DATA, KEY_HELP, DocRecord
from wire.fields import PREFIX, PUSH_ONLY_DOCS, VERSION
from wire.messages import (
    Balance,
    Blocked,
    CardPath,
    CouponDoublesReport,
    Erased,
    Error,
    Health,
    MemberFound,
    MemberLookup,
    MemberPath,
    Ok,
    OverdraftReport,
    Product,
    ProductsStored,
    PullQuery,
    RecoverQuery,
    Registered,
    RegisterRequest,
    RejectsReport,
    TillKeysReport,
)
from wire.program import Offer, Promotion
from wire.records import CardRecord, LedgerRecord, MemberRecord, SaleLine, SaleRecord
from wire.rules import RULE_KEYS, ProgramRules, Reward, RuleData, RulePath, RuleValue
from wire.snapshot import DirectoryInfo, DirectoryPath, SnapshotPart, SnapshotQuery
from wire.view import BalanceData, Followed, FollowRequest

Auth = Literal["till", "admin", "any"] | None

# data of each change type a till pulls
CHANGE_DATA: dict[str, type[Any]] = {"entry": LedgerRecord, "member": MemberRecord, "card": CardRecord,
                                     "balance": BalanceData, "rule": RuleData, "product": Product,
                                     **{k: v for k, v in DOC_DATA.items() if k not in PUSH_ONLY_DOCS}}

# Structs with checks that span fields (JSON Schema cannot say them): listed in their schema as `x-checks`
CHECKED: tuple[type[Any], ...] = (LedgerRecord, SaleLine, SaleRecord, MemberRecord, CardRecord, DocRecord, Reward,
                                  Promotion, Offer, ProgramRules)

ERRORS: dict[int, str] = {
    400: "the body is not JSON, or the connection dropped mid-request",
    401: "missing or unknown bearer token",
    403: "the token may not do this",
    404: "no such resource",
    413: "body too large",
    422: "the request does not fit the schema; `reasons` says why, field by field",
    429: "too many refused tokens or enrolment codes from this address: wait and try again (Retry-After)",
}


@dataclass(frozen=True)
class Route:
    """One operation: what it takes, who may call it, and every status it answers with."""

    name: str  # operationId, and the name of head office's handler
    method: str
    path: str  # below PREFIX, with {parameters}
    summary: str
    ok: type[Any] | None  # the 200 body (None: any JSON object)
    auth: Auth = None  # bearer token needed: a till's, an administrator's, or either
    body: Any = None  # the request body's type
    query: type[Any] | None = None  # a Struct whose fields are the query parameters
    params: type[Any] | None = None  # a Struct whose fields are the path parameters
    errors: dict[int, str] = field(default_factory=dict)  # route-specific statuses (besides the implied ones)
    partial: bool = False  # 422 may also carry the `ok` body (a push with some records set aside)
    accepted: str | None = None  # why 202 may carry the `ok` body (a push with changes sent for approval)
    media: str = "application/json"  # the 200 body's type (a file's bytes: 206 answers a Range request)

    def statuses(self) -> dict[int, str]:
        """Every status this route can answer besides 200, with why."""
        out: dict[int, str] = {}
        if self.auth or self.name == "register":
            out[429] = ERRORS[429]
        if self.auth:
            out[401] = ERRORS[401]
        if self.auth in ("till", "admin"):
            out[403] = f"this needs a{'n administrator' if self.auth == 'admin' else ' till'} token"
        if self.body is not None:
            out.update({400: ERRORS[400], 413: ERRORS[413], 422: ERRORS[422]})
        if self.query is not None or self.params is not None:
            out[422] = ERRORS[422]
        for status, why in self.errors.items():
            out[status] = f"{out[status]}; {why}" if status in out else why
        return dict(sorted(out.items()))


ROUTES: tuple[Route, ...] = (
    Route("health", "GET", "/health", "liveness and protocol version", Health),
    Route("openapi", "GET", "/openapi.json", "this document", None),
    Route("register", "POST", "/register", "exchange a one-time enrolment code for the till's bearer token",
          Registered, body=RegisterRequest, errors={403: "unknown, expired or already used enrolment code"}),
    Route("push", "POST", "/push", "push a batch (idempotent by entry UUID; gaps detected; malformed records "
          "set aside with their reasons while the rest is taken)", PushResult, auth="till", body=PushBatch,
          errors={403: "a record or document names another store or till",
                  422: "with a PushResult body: some records were set aside, the rest were taken"}, partial=True,
          accepted="taken, but some changes this till's token may not make alone (another store's member"
          " erased or changed, a merge across stores, a large adjustment) wait for approval: see `pending`"),
    Route("pull", "GET", "/pull", "changes after a cursor (members, cards, balances or other tills' entries, rules, "
          "products, documents)", PullPage, auth="till", query=PullQuery),
    Route("snapshot", "GET", "/pull/snapshot", "a till's first pull: members, cards and opening balances as of one "
          "feed position, in parts of 5,000 members (then the feed from 0 with `floor`)", SnapshotPart, auth="till",
          query=SnapshotQuery),
    Route("directory", "GET", "/pull/directory", "an empty till's first pull: which directory file (the till's schema,"
          " as of `floor`) to download", DirectoryInfo, auth="till",
          accepted="no file yet: head office is building one; ask again after `retry_after` seconds"),
    Route("directory_file", "GET", "/pull/directory/{name}", "the directory file's bytes (HTTP Range resumes a cut"
          " download; check size and sha256 before use)", None, auth="till", params=DirectoryPath,
          errors={404: "no such file (a newer one replaced it): ask /pull/directory again",
                  416: "the Range starts past the file's end"}, media="application/vnd.sqlite3"),
    Route("follow", "POST", "/pull/follow", "a till follows members it sees (sold to, looked up): `view=seen` pulls"
          " then carry their entries; answers their history so far", Followed, auth="till", body=FollowRequest),
    Route("recover", "GET", "/recover", "a till restored from a backup: its own entries above a seq and its own "
          "sales after a time, as head office holds them", RecoverPage, auth="till", query=RecoverQuery),
    Route("balance", "GET", "/members/{member_id}/balance", "head office's balance for a member (after merges)",
          Balance, auth="any", params=MemberPath,
          errors={429: "a till over its member reads per minute (`lookup_limit.per_minute`)"}),
    Route("lookup", "GET", "/members/lookup", "a till finds one member by an exact card number or phone",
          MemberFound, auth="till", query=MemberLookup,
          errors={404: "no such member", 422: "give exactly one of card or phone",
                  429: "a till over its member reads per minute (`lookup_limit.per_minute`)"}),
    Route("overdraft", "GET", "/reports/overdraft", "members overdrawn by offline redemptions", OverdraftReport,
          auth="admin"),
    Route("rejects", "GET", "/reports/rejects", "quarantined malformed records", RejectsReport, auth="admin"),
    Route("coupon_doubles", "GET", "/reports/coupon-doubles", "coupon codes used at more than one till or sale",
          CouponDoublesReport, auth="admin"),
    Route("till_keys", "GET", "/reports/till-keys", "coupon-signing public keys of the tills", TillKeysReport,
          auth="admin"),
    Route("block", "POST", "/admin/cards/{card_number}/block", "block a card at every till", Blocked,
          auth="admin", params=CardPath, errors={404: "no such card"}),
    Route("erase", "POST", "/admin/members/{member_id}/erase", "erase a member's personal data, block their cards",
          Erased, auth="admin", params=MemberPath, errors={404: "no such member"}),
    Route("set_rule", "PUT", "/admin/rules/{key}", "set a program rule sent to every till", Ok, auth="admin",
          body=RuleValue, params=RulePath),  # documented as one path per rule key, each with its value's type
    Route("products", "PUT", "/admin/products", "upsert catalog products", ProductsStored, auth="admin",
          body=list[Product]),
)

_REF = "#/components/schemas/{name}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _parameters(struct: type[Any], where: str) -> list[dict[str, Any]]:
    """A Struct's fields as parameters (their types are scalars: no shared components)."""
    schema = msgspec.json.schema(struct)["$defs"][struct.__name__]
    out = []
    for f in msgspec.structs.fields(struct):
        p = {"name": f.encode_name, "in": where, "required": where == "path" or f.required,
             "schema": schema["properties"][f.encode_name]}
        if "description" in p["schema"]:
            p["description"] = p["schema"]["description"]
        out.append(p)
    return out


def _doc_schema(key: dict[str, Any]) -> dict[str, Any]:
    """A document: one shape per type (DocRecord checks `data` against DOC_DATA at run time)."""
    key = {**key, "description": KEY_HELP}
    return {"oneOf": [{"type": "object", "required": ["type", "key", "data"],
                       "properties": {"type": {"const": kind}, "key": key, "data": _ref(shape.__name__)}}
                      for kind, shape in DOC_DATA.items()]}


def _change_schema() -> dict[str, Any]:
    """A pulled change: its `data` has the shape of its type."""
    return {"oneOf": [{"type": "object", "required": ["cursor", "type", "data"],
                       "properties": {"cursor": {"type": "integer", "minimum": 1}, "type": {"const": kind},
                                      "data": _ref(shape.__name__)}}
                      for kind, shape in CHANGE_DATA.items()]}


def _add_checks(schema: dict[str, Any], checks: tuple[str, ...]) -> None:
    schema["x-checks"] = list(checks)
    also = "Also checked (422, or the record set aside): " + "; ".join(checks) + "."
    schema["description"] = f"{schema['description']}\n\n{also}" if schema.get("description") else also


def _operation(route: Route, body: dict[str, Any] | None) -> dict[str, Any]:
    ok = {"type": "object"} if route.ok is None else _ref(route.ok.__name__)
    responses: dict[str, Any] = {"200": _json(ok, "done")}
    if route.media != "application/json":
        raw = {"content": {route.media: {"schema": {"type": "string", "format": "binary"}}}}
        responses = {"200": {"description": "the whole file", **raw},
                     "206": {"description": "the part a Range header asked for", **raw}}
    if route.accepted:
        responses["202"] = _json(ok, route.accepted)
    for status, why in route.statuses().items():
        error: dict[str, Any] = _ref("Error")
        if route.partial and status == 422:
            error = {"anyOf": [ok, error]}
        responses[str(status)] = _json(error, why)
    op: dict[str, Any] = {"operationId": route.name, "summary": route.summary, "responses": responses}
    if route.auth:
        op["security"] = [{"bearer": []}]
        op["x-role"] = route.auth
        op["description"] = {"till": "needs a till's token", "admin": "needs an administrator's token",
                             "any": "needs a till's or an administrator's token"}[route.auth]
    params = []
    if route.params is not None:
        params += _parameters(route.params, "path")
    if route.query is not None:
        params += _parameters(route.query, "query")
    if params:
        op["parameters"] = params
    query_checks = getattr(route.query, "CHECKS", ())  # checks across query parameters (e.g. one of two)
    if query_checks:
        op["x-checks"] = list(query_checks)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _body(route: Route) -> dict[str, Any] | None:
    if route.body is None:
        return None
    (schema,), _ = msgspec.json.schema_components([route.body], ref_template=_REF)
    out: dict[str, Any] = schema
    return out


@cache
def _document() -> bytes:
    types: list[Any] = [r.ok for r in ROUTES if r.ok is not None]
    types += [r.body for r in ROUTES if r.body is not None] + [Error, Change, ProgramRules, *CHANGE_DATA.values(),
                                                               *DOC_DATA.values()]  # pushed-only documents too
    _, schemas = msgspec.json.schema_components(types, ref_template=_REF)
    schemas["Doc"] = _doc_schema(schemas[DocRecord.__name__]["properties"]["key"])
    schemas["Change"] = _change_schema()
    schemas["PushBatch"]["properties"]["docs"]["items"] = _ref("Doc")
    schemas.pop(DocRecord.__name__, None)
    for cls in CHECKED:
        _add_checks(schemas["Doc" if cls is DocRecord else cls.__name__], cls.CHECKS)
    schemas[PushResult.__name__]["x-conflicts"] = list(PushResult.CONFLICTS)
    rules = schemas[ProgramRules.__name__]["properties"]
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        if route.name == "set_rule":  # one path per rule key, each with its own value schema
            for key in RULE_KEYS:
                body = {"type": "object", "required": ["value"], "properties": {"value": rules[key]}}
                _add_checks(body, ProgramRules.CHECKS)
                op = _operation(replace(route, params=None), body)
                op["operationId"] = f"set_rule_{key}"
                paths.setdefault(PREFIX + route.path.replace("{key}", key), {})[route.method.lower()] = op
            continue
        op = _operation(route, _body(route))
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = op
    doc = {"openapi": "3.1.0",
           "info": {"title": "Loyalty head office", "version": str(VERSION),
                    "description": "The sync protocol between tills and head office, generated from wire/."},
           "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                          "schemas": dict(sorted(schemas.items()))},
           "paths": paths}
    return msgspec.json.encode(doc)


def openapi() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    out: dict[str, Any] = msgspec.json.decode(_document())
    return out


def openapi_json() -> bytes:
    """The document as head office serves it at /v1/openapi.json."""
    return _document()


"""The OpenAPI description of /v1, hand-written so it says what the protocol module enforces."""

from __future__ import annotations

from typing import Any

_INT = {"type": "integer"}
_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


LEDGER_ENTRY = _obj(
    ["entry_id", "member_id", "store_id", "till_id", "seq", "kind", "points", "created_at"],
    entry_id={"type": "string", "description": "UUID (32 hex digits or dashed)"}, member_id=_STR,
    store_id=_STR, till_id=_STR, seq={"type": "integer", "minimum": 1, "description": "the till's gap-free sequence"},
    kind={"enum": ["earn", "redeem", "adjust", "reverse", "expire", "bonus"]}, points=_INT, sale_id=_NSTR,
    amount_cents=_INT, created_at={"type": "string", "description": "till clock, kept for audit only"},
    operator=_NSTR, reason=_NSTR, ref=_NSTR)
SALE_LINE = _obj(["line_no", "name", "category", "qty", "unit_cents", "amount_cents"], line_no=_INT, name=_STR,
                 category=_STR, qty=_INT, unit_cents=_INT, amount_cents=_INT, points=_INT, sku=_NSTR, ean=_NSTR)
SALE = _obj(["sale_id", "store_id", "till_id", "total_cents", "created_at"], sale_id=_STR, store_id=_STR,
            till_id=_STR, member_id=_NSTR, total_cents=_INT, tender=_STR, points_earned=_INT, operator=_NSTR,
            created_at=_STR, lines={"type": "array", "items": {"$ref": "#/components/schemas/SaleLine"}})
MEMBER = _obj(["member_id", "store_id", "created_at", "updated_at"], member_id=_STR, store_id=_STR, name=_NSTR,
              phone=_NSTR, email=_NSTR, status={"enum": ["active", "erased", "merged"]}, merged_into=_NSTR,
              consent={"type": "object", "additionalProperties": {"type": "boolean"}}, created_at=_STR,
              updated_at=_STR)
CARD = _obj(["card_number", "member_id", "source", "status", "updated_at"], card_number=_STR, member_id=_STR,
            source=_STR, status={"enum": ["active", "lost", "blocked"]}, replaced_by=_NSTR, created_at=_NSTR,
            updated_at=_STR)
DOC = _obj(["type", "key", "data"], type={"enum": ["till_key", "coupon_use", "erasure"]},
           key={"type": "string", "description": "till_key: 'store/till'; coupon_use: use_id; erasure: erasure_id"},
           data={"oneOf": [
               _obj(["store_id", "till_id", "public_key"], store_id=_STR, till_id=_STR,
                    public_key={"type": "string", "description": "Ed25519 public key, 64 hex digits; first key wins"}),
               _obj(["use_id", "code", "store_id", "till_id", "sale_id", "used_at"], use_id=_STR, code=_STR,
                    store_id=_STR, till_id=_STR, sale_id=_STR, used_at=_STR),
               _obj(["erasure_id", "member_id", "store_id", "till_id", "at"], erasure_id=_STR, member_id=_STR,
                    store_id=_STR, till_id=_STR, at=_STR)]})
PUSH = _obj(["store_id", "till_id"], version={"const": 1}, store_id=_STR, till_id=_STR,
            entries={"type": "array", "items": {"$ref": "#/components/schemas/LedgerEntry"}},
            sales={"type": "array", "items": {"$ref": "#/components/schemas/Sale"}},
            members={"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
            cards={"type": "array", "items": {"$ref": "#/components/schemas/Card"}},
            docs={"type": "array", "items": {"$ref": "#/components/schemas/Doc"},
                  "description": "documents of the till's own store and till (a till key, coupon uses, erasures)"})
PUSH_RESULT = _obj(["accepted", "duplicates", "high_seq", "rejected"], accepted=_INT, duplicates=_INT,
                   high_seq={"type": "integer", "description": "highest seq up to which the till's sequence is held"},
                   gaps={"type": "array", "items": {"type": "array", "items": _INT}},
                   rejected={"type": "array", "items": _obj(["type", "index", "reasons"], type=_STR, index=_INT,
                                                            key=_NSTR, reasons={"type": "array", "items": _STR})},
                   sales=_INT, members=_INT, cards=_INT, merges=_INT, docs=_INT,
                   wants={"type": "array", "items": _STR,
                          "description": "document types head office lacks from this till (send again)"},
                   server_time=_STR)
CHANGE = _obj(["cursor", "type", "data"], cursor=_INT,
              type={"enum": ["member", "card", "entry", "rule", "product", "till_key", "coupon_use", "erasure"]},
              data={"type": "object"})
PULL_PAGE = _obj(["changes", "next_cursor", "more"], changes={"type": "array", "items": CHANGE},
                 next_cursor=_INT, more={"type": "boolean"}, total_pending=_INT, server_time=_STR)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_ERR = {"description": "error", **_json(_obj(["error"], error=_STR, reasons={"type": "array", "items": _STR}))}
_BEARER = [{"bearer": []}]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Loyalty head office", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"LedgerEntry": LEDGER_ENTRY, "SaleLine": SALE_LINE, "Sale": SALE, "Member": MEMBER,
                    "Card": CARD, "Doc": DOC, "PushBatch": PUSH, "PushResult": PUSH_RESULT, "PullPage": PULL_PAGE},
    },
    "paths": {
        "/v1/health": {"get": {"summary": "liveness", "responses": {"200": {"description": "ok"}}}},
        "/v1/register": {"post": {
            "summary": "exchange a one-time enrolment code for the till's bearer token",
            "requestBody": _json(_obj(["code"], code=_STR)),
            "responses": {"200": {"description": "token", **_json(_obj(["token", "store_id", "till_id"], token=_STR,
                                                                         store_id=_STR, till_id=_STR))},
                          "403": _ERR, "422": _ERR}}},
        "/v1/push": {"post": {
            "summary": "push a batch (idempotent by entry UUID; gaps detected; malformed records quarantined)",
            "security": _BEARER, "requestBody": _json(_ref("PushBatch")),
            "responses": {"200": {"description": "all taken", **_json(_ref("PushResult"))},
                          "422": {"description": "some records rejected; the rest were taken",
                                  **_json(_ref("PushResult"))},
                          "401": _ERR, "403": _ERR}}},
        "/v1/pull": {"get": {
            "summary": "changes after a cursor (members, cards, other tills' entries, rules, products)",
            "security": _BEARER,
            "parameters": [{"name": "cursor", "in": "query", "schema": _INT},
                           {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 5000}},
                           {"name": "total", "in": "query", "schema": {"enum": [0, 1]},
                            "description": "1 (default): count all pending changes for a progress bar"}],
            "responses": {"200": {"description": "a page", **_json(_ref("PullPage"))}, "401": _ERR}}},
        "/v1/members/{member_id}/balance": {"get": {
            "summary": "head office's balance for a member (after merges)", "security": _BEARER,
            "parameters": [{"name": "member_id", "in": "path", "required": True, "schema": _STR}],
            "responses": {"200": {"description": "balance"}}}},
        "/v1/reports/overdraft": {"get": {"summary": "members overdrawn by offline redemptions",
                                          "security": _BEARER, "responses": {"200": {"description": "report"}}}},
        "/v1/reports/rejects": {"get": {"summary": "quarantined malformed records", "security": _BEARER,
                                        "responses": {"200": {"description": "report"}}}},
        "/v1/reports/coupon-doubles": {"get": {"summary": "coupon codes used at more than one till or sale",
                                               "security": _BEARER, "responses": {"200": {"description": "report"}}}},
        "/v1/reports/till-keys": {"get": {"summary": "coupon-signing public keys of the tills", "security": _BEARER,
                                          "responses": {"200": {"description": "report"}}}},
        "/v1/admin/cards/{card_number}/block": {"post": {"summary": "block a card at every till", "security": _BEARER,
                                                         "responses": {"200": {"description": "blocked"}}}},
        "/v1/admin/members/{member_id}/erase": {"post": {"summary": "erase a member's personal data, block their cards",
                                                         "security": _BEARER,
                                                         "responses": {"200": {"description": "erased"}}}},
        "/v1/admin/rules/{key}": {"put": {
            "summary": "set a program rule sent to every till (offline_redeem_cap, rewards and tiers are checked)",
            "security": _BEARER, "requestBody": _json(_obj(["value"], value={})),
            "responses": {"200": {"description": "set"}, "422": _ERR}}},
        "/v1/admin/products": {"put": {"summary": "upsert catalog products", "security": _BEARER,
                                       "responses": {"200": {"description": "stored"}}}},
    },
}

"""The head-office HTTP API (Starlette): a thin layer of auth and JSON over the `Store` interface.

Storage calls run in the thread pool so one slow batch never stalls the event loop.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from headoffice.openapi import OPENAPI
from headoffice.store.base import Forbidden, Principal, Store
from wire.protocol import PREFIX, VERSION, Invalid, PushBatch, validate_rule

MAX_BODY = 64 * 1024 * 1024


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class _HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def create_app(store: Store) -> Starlette:
    """Build the ASGI app over a store (the caller owns the store and closes it)."""

    async def principal_of(request: Request, role: str | None = None) -> Principal:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        who = await run_in_threadpool(store.authenticate, token) if token else None
        if who is None:
            raise _HttpError(401, "missing or unknown bearer token: register the till first")
        if role is not None and who.role != role:
            raise _HttpError(403, f"this needs a {role} token")
        return who

    async def json_body(request: Request) -> Any:
        try:
            body = await request.body()
        except ClientDisconnect:
            raise _HttpError(400, "the till hung up mid-request") from None
        if len(body) > MAX_BODY:
            raise _HttpError(413, "batch too large: send smaller batches")
        try:
            return json.loads(body or b"null")
        except ValueError as exc:
            raise _HttpError(400, f"body is not JSON: {exc}") from None

    def guarded(handler):
        async def endpoint(request: Request) -> JSONResponse:
            try:
                return await handler(request)
            except _HttpError as exc:
                return _error(exc.status, str(exc))
            except Forbidden as exc:
                return _error(403, str(exc))
            except Invalid as exc:
                return _error(422, "malformed request", reasons=exc.reasons)
        return endpoint

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "version": VERSION})

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(OPENAPI)

    async def register(request: Request) -> JSONResponse:
        body = await json_body(request)
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, str) or not code.strip():
            raise Invalid(["code: required"])
        found = await run_in_threadpool(store.register, code)
        if found is None:
            raise _HttpError(403, "unknown or already used enrolment code: ask head office for a new one")
        token, who = found
        return JSONResponse({"token": token, "store_id": who.store_id, "till_id": who.till_id})

    async def push(request: Request) -> JSONResponse:
        who = await principal_of(request, "till")
        batch = PushBatch.parse(await json_body(request))
        result = await run_in_threadpool(store.ingest, who, batch)
        return JSONResponse(result.to_dict(), status_code=422 if result.rejected else 200)

    async def pull(request: Request) -> JSONResponse:
        who = await principal_of(request, "till")
        try:
            cursor = int(request.query_params.get("cursor", "0"))
            limit = int(request.query_params.get("limit", "1000"))
        except ValueError:
            raise Invalid(["cursor and limit must be integers"]) from None
        with_total = request.query_params.get("total", "1") != "0"
        page = await run_in_threadpool(store.pull, who, cursor, limit, with_total)
        return JSONResponse(page.to_dict())

    async def balance(request: Request) -> JSONResponse:
        await principal_of(request)
        member_id = request.path_params["member_id"]
        points = await run_in_threadpool(store.balance, member_id)
        return JSONResponse({"member_id": member_id, "balance": points})

    async def overdraft(request: Request) -> JSONResponse:
        await principal_of(request, "admin")
        return JSONResponse({"members": await run_in_threadpool(store.overdraft_report)})

    async def rejects(request: Request) -> JSONResponse:
        await principal_of(request, "admin")
        return JSONResponse({"rejects": await run_in_threadpool(store.rejects)})

    async def coupon_doubles(request: Request) -> JSONResponse:
        await principal_of(request, "admin")
        return JSONResponse({"double_uses": await run_in_threadpool(store.coupon_doubles)})

    async def till_keys(request: Request) -> JSONResponse:
        await principal_of(request, "admin")
        return JSONResponse({"till_keys": await run_in_threadpool(store.till_keys)})

    async def block(request: Request) -> JSONResponse:
        await principal_of(request, "admin")
        ok = await run_in_threadpool(store.block_card, request.path_params["card_number"])
        return JSONResponse({"blocked": ok}, status_code=200 if ok else 404)

    async def erase(request: Request) -> JSONResponse:
        await principal_of(request, "admin")
        ok = await run_in_threadpool(store.erase_member, request.path_params["member_id"])
        return JSONResponse({"erased": ok}, status_code=200 if ok else 404)

    async def set_rule(request: Request) -> JSONResponse:
        await principal_of(request, "admin")
        body = await json_body(request)
        if not isinstance(body, dict) or "value" not in body:
            raise Invalid(["value: required"])
        if reasons := validate_rule(request.path_params["key"], body["value"]):
            raise Invalid(reasons)
        await run_in_threadpool(store.set_rule, request.path_params["key"], body["value"])
        return JSONResponse({"ok": True})

    async def products(request: Request) -> JSONResponse:
        await principal_of(request, "admin")
        body = await json_body(request)
        if not isinstance(body, list):
            raise Invalid(["body must be a list of products"])
        try:
            n = await run_in_threadpool(store.upsert_products, body)
        except (KeyError, ValueError) as exc:
            raise Invalid([str(exc)]) from None
        return JSONResponse({"products": n})

    routes = [
        Route(f"{PREFIX}/health", guarded(health), methods=["GET"]),
        Route(f"{PREFIX}/openapi.json", guarded(openapi), methods=["GET"]),
        Route(f"{PREFIX}/register", guarded(register), methods=["POST"]),
        Route(f"{PREFIX}/push", guarded(push), methods=["POST"]),
        Route(f"{PREFIX}/pull", guarded(pull), methods=["GET"]),
        Route(f"{PREFIX}/members/{{member_id}}/balance", guarded(balance), methods=["GET"]),
        Route(f"{PREFIX}/reports/overdraft", guarded(overdraft), methods=["GET"]),
        Route(f"{PREFIX}/reports/rejects", guarded(rejects), methods=["GET"]),
        Route(f"{PREFIX}/reports/coupon-doubles", guarded(coupon_doubles), methods=["GET"]),
        Route(f"{PREFIX}/reports/till-keys", guarded(till_keys), methods=["GET"]),
        Route(f"{PREFIX}/admin/cards/{{card_number}}/block", guarded(block), methods=["POST"]),
        Route(f"{PREFIX}/admin/members/{{member_id}}/erase", guarded(erase), methods=["POST"]),
        Route(f"{PREFIX}/admin/rules/{{key}}", guarded(set_rule), methods=["PUT"]),
        Route(f"{PREFIX}/admin/products", guarded(products), methods=["PUT"]),
    ]
    return Starlette(routes=routes)

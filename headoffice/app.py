"""The head-office HTTP API (Starlette): a thin layer of auth and JSON over the `Store` interface.

Routes, credentials, parameters and bodies come from the route table in `wire.openapi`, the same table
the served OpenAPI document is generated from: what the document says is what this layer enforces.
Every refusal is an `Error` body. Storage calls run in the thread pool so one slow batch never stalls
the event loop.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from headoffice.console import app as console_app
from headoffice.console import tills as console_tills
from headoffice.directory_files import DirectoryFiles, cache_dir
from headoffice.store.base import Forbidden, Principal, Store
from wire import errors as wire_errors
from wire.batches import PushBatch, encode
from wire.fields import PREFIX, VERSION
from wire.messages import Error, Health, MemberLookup, Registered
from wire.openapi import ROUTES, openapi_json
from wire.openapi import Route as RouteSpec
from wire.rules import RULE_KEYS, validate_rule

MAX_BODY = 64 * 1024 * 1024
# Refused tokens or enrolment codes from one address in 10 minutes before it waits API_LOCK_SECONDS (429).
# Counted in the database (`login_attempts`, like console logins), so every worker sees the same count.
API_FAIL_LIMIT = 20
API_LOCK_SECONDS = 900
# Routes whose bodies are small: read no further than this (an enrolment code, one program rule).
BODY_LIMITS = {"register": 4 * 1024, "set_rule": 256 * 1024}
JSON = "application/json"


DIRECTORY_MEDIA = "application/vnd.sqlite3"
# bytes per read and send of a directory file: Starlette's 64 KB made 150 MB/s on loopback, 1 MB 300 MB/s (each
# chunk is a hop to a worker thread); one such buffer per download in flight
DIRECTORY_CHUNK = 1 << 20


def _directory_files(store: Store, directory: Path | None) -> DirectoryFiles:
    """The directory files of this app: in `directory`, beside a SQLite head office, else in a temporary
    directory of this app's own (deleted with it: no other store's files are ever served from it)."""
    path = getattr(store, "path", None)  # a SqliteStore's file
    if directory is not None or path is not None:
        return DirectoryFiles(store, directory or cache_dir(f"sqlite:///{path}"))
    files = DirectoryFiles(store, Path(tempfile.mkdtemp(prefix="headoffice-directory-")))
    weakref.finalize(files, shutil.rmtree, files.root, True)
    return files


class _HttpError(Exception):
    def __init__(self, status: int, message: str, reasons: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.reasons = reasons or []


@dataclass(frozen=True)
class Call:
    """One decoded request: who asked, its path and query parameters, and its body (typed per the table)."""

    caller: Principal | None
    params: Any
    body: Any

    @property
    def who(self) -> Principal:
        """The caller of a route the table says needs a token (checked before any handler runs)."""
        assert self.caller is not None
        return self.caller


Handler = Callable[[Call], Awaitable[tuple[int, Any]]]


def _answer(status: int, body: Any) -> Response:
    return Response(encode(body), status_code=status, media_type=JSON)


def _error(status: int, message: str, reasons: list[str] | None = None) -> Response:
    return _answer(status, Error(message, reasons or []))


def _scalar(text: str) -> Any:
    """A query value as the JSON scalar it spells (`5` -> 5), else the text itself."""
    try:
        return msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):  # not a scalar (a "[[[[..." query value included)
        return text


def _params(spec: RouteSpec, request: Request) -> Any:
    """The route's path and query parameters as its declared Struct (422 with every reason otherwise)."""
    if spec.params is not None:
        return wire_errors.convert(dict(request.path_params), spec.params)
    if spec.query is not None:
        query = {k: _scalar(v) for k, v in request.query_params.items()}
        return wire_errors.convert(query, spec.query)
    return None


def create_app(store: Store, snapshot: Path | None = None, *, api_fail_limit: int = API_FAIL_LIMIT,
               directory: Path | None = None) -> Starlette:
    """Build the ASGI app over a store (the caller owns the store and closes it), the console at `/` beside
    the API (`snapshot`: the marketing snapshot its pages read; `directory`: where the directory files for
    tills' first pulls live, by default beside a SQLite head office, else a temporary directory of its own)."""
    files = _directory_files(store, directory)

    def admit(key: str | None, token: str) -> tuple[str | None, Principal | None]:
        """Before a request is read: its address's lock-out (`key`), then its token, in one trip to the
        thread pool (each trip is a thread hand-over, and a push makes four: they showed in its profile)."""
        until = store.console.locked_until(key) if key is not None else None
        return until, (store.authenticate(token) if token and until is None else None)

    def principal_of(who: Principal | None, role: str) -> Principal:
        if who is None:
            raise _HttpError(401, "missing or unknown bearer token: register the till first")
        if role != "any" and who.role != role:
            raise _HttpError(403, f"this needs a{'n administrator' if role == 'admin' else ' till'} token")
        return who

    async def read_body(request: Request, spec: RouteSpec) -> Any:
        limit = BODY_LIMITS.get(spec.name, MAX_BODY)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refused before a byte of it is read
            raise _HttpError(413, f"body too large: at most {limit:,} bytes here")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _HttpError(413, f"body too large: at most {limit:,} bytes here")
                chunks.append(chunk)
        except ClientDisconnect:
            raise _HttpError(400, "the till hung up mid-request") from None
        raw = b"".join(chunks)
        if spec.body is PushBatch:  # a batch keeps its good records and sets the bad aside
            return PushBatch.decode(raw)
        return wire_errors.decode(raw, spec.body)

    def endpoint(spec: RouteSpec, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        throttled = bool(spec.auth) or spec.name == "register"
        async def run(request: Request) -> Response:
            # enrolment codes and tokens counted apart: a till mistyping its code never locks out the others' syncs
            address = request.client.host if request.client else "?"
            key = f"api-{'register' if spec.name == 'register' else 'token'}:{address}"
            header = request.headers.get("authorization", "") if spec.auth else ""
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            until, known = (await run_in_threadpool(admit, key if throttled else None, token)
                            if throttled or token else (None, None))
            if until:
                answer = _error(429, f"too many refused tokens or codes from this address: try again after {until}")
                answer.headers["retry-after"] = str(API_LOCK_SECONDS)
                return answer
            try:
                who = principal_of(known, spec.auth) if spec.auth else None
                request.state.caller = who  # the console records a till's contact (console_tills.recording)
                params = _params(spec, request)
                body = await read_body(request, spec) if spec.body is not None else None
                status, answer = await handler(Call(who, params, body))
                return answer if isinstance(answer, Response) else _answer(status, answer)
            except _HttpError as exc:
                presented = exc.status == 401 and "authorization" in request.headers  # a wrong token, not none
                if throttled and (presented or (spec.name == "register" and exc.status == 403)):
                    await run_in_threadpool(store.console.login_failed, key, api_fail_limit,
                                            timedelta(minutes=10), timedelta(seconds=API_LOCK_SECONDS))
                return _error(exc.status, str(exc), exc.reasons)
            except Forbidden as exc:
                return _error(403, str(exc))
            except wire_errors.NotJson as exc:
                return _error(400, str(exc))
            except wire_errors.Invalid as exc:
                return _error(422, "malformed request", exc.reasons)
        return console_tills.recording(store, spec.name, run) if spec.name in console_tills.CONTACTS else run

    async def health(call: Call) -> tuple[int, Any]:
        return 200, Health(True, VERSION)

    async def openapi(call: Call) -> tuple[int, Any]:
        return 200, msgspec.Raw(openapi_json())

    async def register(call: Call) -> tuple[int, Any]:
        found = await run_in_threadpool(store.register, call.body.code)
        if found is None:
            raise _HttpError(403, "unknown, expired or already used enrolment code: ask head office for a new one")
        token, who = found
        return 200, Registered(token, who.store_id, who.till_id)

    async def push(call: Call) -> tuple[int, Any]:
        result = await run_in_threadpool(store.ingest, call.who, call.body)
        # 202: taken, but what the till's token may not do alone waits for approval (headoffice/store/approvals.py)
        return (422 if result.rejected else 202 if result.pending else 200), result

    async def pull(call: Call) -> tuple[int, Any]:
        q = call.params
        return 200, await run_in_threadpool(store.pull, call.who, q.cursor, q.limit, q.total == 1, q.floor, q.view)

    async def follow(call: Call) -> tuple[int, Any]:
        return 200, await run_in_threadpool(store.follow, call.who, list(call.body.member_ids))

    async def snapshot_part(call: Call) -> tuple[int, Any]:
        q = call.params
        return 200, await run_in_threadpool(store.snapshot, call.who, q.after, q.top, q.limit)

    async def directory_info(call: Call) -> tuple[int, Any]:
        return await run_in_threadpool(files.info, call.who)

    async def directory_file(call: Call) -> tuple[int, Any]:
        path = files.path(call.params.name)
        if path is None:
            raise _HttpError(404, "no such directory file (a newer one replaced it): ask /pull/directory again")
        answer = FileResponse(path, media_type=DIRECTORY_MEDIA)  # answers Range requests itself (206)
        answer.chunk_size = DIRECTORY_CHUNK
        return 200, answer

    async def recover(call: Call) -> tuple[int, Any]:
        q = call.params
        return 200, await run_in_threadpool(store.recover, call.who, q.after_seq, q.sales_after, q.sales_after_id,
                                            q.limit)

    async def counted(who: Principal) -> None:
        """A till's member reads are rate-limited (per till, per minute): a leaked token cannot page the directory."""
        if who.role == "till" and not await run_in_threadpool(store.till_read_allowed, who):
            raise _HttpError(429, "too many member reads from this till: wait a minute (lookup_limit.per_minute)")

    async def balance(call: Call) -> tuple[int, Any]:
        await counted(call.who)
        member_id = call.params.member_id
        return 200, {"member_id": member_id, "balance": await run_in_threadpool(store.balance, member_id)}

    async def lookup(call: Call) -> tuple[int, Any]:
        q = call.params
        if (q.card is None) == (q.phone is None):
            raise wire_errors.Invalid(list(MemberLookup.CHECKS))
        await counted(call.who)
        found = await run_in_threadpool(store.lookup_member, None if q.card is None else str(q.card),
                                        None if q.phone is None else str(q.phone))
        if found is None:
            raise _HttpError(404, "no such member")
        if call.who.role == "till":  # a till that looks a member up sees them: its pulls carry their entries
            await run_in_threadpool(store.follow, call.who, [str(found["member_id"])], False)
        return 200, found

    def report(key: str, read: Callable[[], Any]) -> Handler:
        async def run(call: Call) -> tuple[int, Any]:
            return 200, {key: await run_in_threadpool(read)}
        return run

    async def block(call: Call) -> tuple[int, Any]:
        if not await run_in_threadpool(store.block_card, call.params.card_number):
            raise _HttpError(404, "no such card")
        return 200, {"blocked": True}

    async def erase(call: Call) -> tuple[int, Any]:
        if not await run_in_threadpool(store.erase_member, call.params.member_id):
            raise _HttpError(404, "no such member")
        return 200, {"erased": True}

    async def set_rule(call: Call) -> tuple[int, Any]:
        key = call.params.key
        if key not in RULE_KEYS:
            raise _HttpError(404, f"no program rule {key!r}: tills read {', '.join(RULE_KEYS)}")
        value = wire_errors.whole_numbers(call.body.value)
        if reasons := validate_rule(key, value):
            raise wire_errors.Invalid(reasons)
        await run_in_threadpool(store.set_rule, key, value, by="api")  # a new program version
        return 200, {"ok": True}

    async def products(call: Call) -> tuple[int, Any]:
        n = await run_in_threadpool(store.upsert_products, msgspec.to_builtins(call.body))
        return 200, {"products": n}

    handlers: dict[str, Handler] = {
        "health": health, "openapi": openapi, "register": register, "push": push, "pull": pull,
        "snapshot": snapshot_part, "directory": directory_info, "directory_file": directory_file,
        "follow": follow, "recover": recover,
        "balance": balance, "lookup": lookup, "overdraft": report("members", store.overdraft_report),
        "rejects": report("rejects", store.rejects), "coupon_doubles": report("double_uses", store.coupon_doubles),
        "till_keys": report("till_keys", store.till_keys), "block": block, "erase": erase, "set_rule": set_rule,
        "products": products,
    }
    missing = {r.name for r in ROUTES} ^ set(handlers)
    assert not missing, f"route table and handlers disagree: {missing}"

    console = console_app.build(store, snapshot, api_prefix=PREFIX)

    async def not_found(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(PREFIX + "/"):  # a console page: an HTML page, not an Error body
            return await console.http_error(request, exc)
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = getattr(exc, "headers", None)
        response = _error(status, "no such route" if status == 404 else str(getattr(exc, "detail", "error")))
        if headers:
            response.headers.update(headers)
        return response

    routes = [Route(PREFIX + spec.path, endpoint(spec, handlers[spec.name]), methods=[spec.method])
              for spec in ROUTES]
    return Starlette(routes=[*routes, *console.routes], middleware=console.middleware,
                     exception_handlers={HTTPException: not_found, **console.exception_handlers})

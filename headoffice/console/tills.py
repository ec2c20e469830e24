"""Stores and tills: enrolment codes, what each till last reported, its quarantined records, revocation.

Tills send `X-Till-Pending` (entries not yet pushed), `X-Till-Version`, `X-Till-Clock` (their UTC clock) and
`X-Till-Program` (the program version they applied) with every push and pull; `recording` keeps them with
the time of contact, so the page shows what the till itself says, not a guess. All four are optional: an older
till is simply shown without them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cardread.read import scrub
from headoffice.console.web import Console, Denied, reason_of
from headoffice.store.base import Store

CONTACTS = ("push", "pull")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_VERSION = re.compile(r"[A-Za-z0-9.+_-]{1,40}")
MAX_PENDING = 10 ** 12
STALE_SECONDS = 15 * 60  # a till silent this long is shown as such


def reported(headers: Headers, now: datetime | None = None) -> dict[str, Any]:
    """What a till says about itself in its headers, each kept only when well-formed."""
    out: dict[str, Any] = {}
    pending = headers.get("x-till-pending", "")
    if pending.isdigit() and int(pending) <= MAX_PENDING:
        out["pending"] = int(pending)
    version = headers.get("x-till-version", "")
    if _VERSION.fullmatch(version):
        out["version"] = version
    clock = headers.get("x-till-clock", "")
    try:
        till_now = datetime.fromisoformat(clock) if 0 < len(clock) <= 40 else None
    except ValueError:
        till_now = None
    if till_now is not None and till_now.tzinfo is not None:
        out["skew_ms"] = round((till_now - (now or datetime.now(UTC))).total_seconds() * 1000)
    program = headers.get("x-till-program", "")
    if program.isdigit() and len(program) <= 12:
        out["program_version"] = int(program)
    return out


def recording(store: Store, kind: str, run: Callable[[Request], Awaitable[Response]]
              ) -> Callable[[Request], Awaitable[Response]]:
    """Wrap the API's push or pull: after it answers, record the till's contact (and its error, if refused)."""

    async def recorded(request: Request) -> Response:
        response = await run(request)
        who = getattr(request.state, "caller", None)
        if who is None or who.role != "till":
            return response
        status = response.status_code
        body: dict[str, Any] = {}
        if kind == "push" or status >= 400:
            try:
                decoded = json.loads(bytes(response.body))
                body = decoded if isinstance(decoded, dict) else {}
            except ValueError:
                body = {}
        error = None
        if status >= 400:
            why = "; ".join(str(r) for r in body.get("reasons", [])[:3]) or str(body.get("error", ""))
            error = scrub(f"{kind} refused ({status}): {why}")[:300]
        entries = int(body.get("accepted", 0) or 0) if kind == "push" else 0
        await run_in_threadpool(lambda: store.console.record_contact(
            who.store_id, who.till_id, kind, error=error, entries=entries, **reported(request.headers)))
        return response

    return recorded


def _age(iso: str | None, now: datetime) -> int | None:
    """Seconds since an ISO time (None when never)."""
    if not iso:
        return None
    return max(0, int((now - datetime.fromisoformat(iso)).total_seconds()))


def describe(till: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A till row as the page shows it: ages in seconds, its state in words."""
    contact = _age(till["last_contact_at"], now)
    lag = min((a for a in (_age(till["last_push_at"], now), _age(till["last_pull_at"], now)) if a is not None),
              default=None)
    if not till["active"]:
        state = "revoked" if till["revoked_at"] else ("waiting for enrolment" if till["code_expires_at"]
                                                      else "not enrolled")
    elif contact is None:
        state = "never synced"
    else:
        state = "silent" if contact > STALE_SECONDS else "ok"
    return {**till, "contact_age": contact, "sync_lag": lag, "state": state}


def ago(seconds: int | None) -> str:
    """`42 s`, `5 min`, `3 h`, `2 d` (or `never`)."""
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass(frozen=True, slots=True)
class TillRow:
    """One row of the tills page with its cells already worked out: a chain's page has hundreds of rows, and the
    template's two dozen lookups per row on a dict (Jinja tries the attribute, fails, then the key) were most of
    the page's time."""

    store_id: str
    till_id: str
    state: str
    state_class: str
    contact: str
    pending: str
    version: str
    program: str
    program_class: str  # " good" / " warn" / "" after the cell's "num"
    skew: str
    skew_class: str
    quarantined: int
    quarantined_class: str
    last_error: str


def till_row(till: dict[str, Any], program: int) -> TillRow:
    """A described till (`describe`) as the tills page shows it, against the program version tills should have."""
    state, contact, version = till["state"], till["contact_age"], till["program_version"]
    skew, quarantined = till["clock_skew_ms"], till["quarantined"]
    return TillRow(
        store_id=till["store_id"], till_id=till["till_id"], state=state,
        state_class="good" if state == "ok" else "bad" if state in ("revoked", "silent") else "muted",
        contact=ago(contact) + ("" if contact is None else " ago"),
        pending="–" if till["pending"] is None else str(till["pending"]), version=till["version"] or "–",
        program="–" if version is None else f"v{version}" + (f" (of v{program})" if version < program else ""),
        program_class="" if version is None else " good" if version >= program else " warn",
        skew="–" if skew is None else f"{skew / 1000:+.1f} s",
        skew_class=" warn" if skew is not None and (skew > 60000 or skew < -60000) else "",
        quarantined=quarantined, quarantined_class=" bad" if quarantined else "", last_error=till["last_error"] or "–")


def routes(console: Console) -> list[BaseRoute]:
    records = console.store.console

    async def stores(request: Request, notice: str = "", error: str = "", code: str = "",
                     status: int = 200) -> Response:
        user = console.user(request)
        now = datetime.now(UTC)
        found = await run_in_threadpool(records.tills, None if user.is_owner else user.store_id or "")
        latest = await run_in_threadpool(console.store.program_history, 1)  # the program version tills should have
        program = latest[0]["version"] if latest else 0
        by_store: dict[str, list[TillRow]] = {}
        for t in found:
            row = till_row(describe(t, now), program)
            by_store.setdefault(row.store_id, []).append(row)
        return console.render(request, "tills.html", {
            "active": "stores", "stores": by_store, "notice": notice, "error": error, "code": code,
            "form_store": user.store_id or ""}, status=status)

    async def enrol(request: Request) -> Response:
        user = console.user(request)
        form = await console.form(request)
        store_id = str(form.get("store_id") or "").strip() if user.is_owner else (user.store_id or "")
        till_id = str(form.get("till_id") or "").strip()
        try:
            reason = reason_of(form)
            if not _ID.fullmatch(store_id) or not _ID.fullmatch(till_id):
                raise ValueError("store and till ids are 1-32 letters, digits, dots, dashes or underscores")
            if not user.sees(store_id):
                raise Denied("another store")
            code = await run_in_threadpool(console.audited, user, "till.enrolment_code", f"{store_id}/{till_id}",
                                           reason, lambda: console.store.add_till(store_id, till_id),
                                           {"store_id": store_id}, (store_id, till_id))
        except ValueError as exc:
            return await stores(request, error=str(exc), status=400)
        return await stores(request, notice=f"Enrolment code for {store_id}/{till_id} (one use, 7 days): on the"
                                            " till run `pos-client register URL CODE`.", code=code)

    def till_of(request: Request) -> tuple[str, str]:
        store_id, till_id = request.path_params["store_id"], request.path_params["till_id"]
        console.require(request, store_id=store_id)
        return store_id, till_id

    async def till(request: Request) -> Response:
        store_id, till_id = till_of(request)
        found = [t for t in await run_in_threadpool(records.tills, store_id) if t["till_id"] == till_id]
        if not found:
            return console.render(request, "error.html", {"status": 404, "message": "There is no such till."}, 404)
        rejects = await run_in_threadpool(records.till_rejects, store_id, till_id)
        for r in rejects:
            r["reasons"] = "; ".join(json.loads(r["reasons"])) if r["reasons"].startswith("[") else r["reasons"]
        return console.render(request, "till.html", {"active": "stores", "till": describe(found[0], datetime.now(UTC)),
                                                     "rejects": rejects, "ago": ago, "error": ""})

    async def revoke(request: Request) -> Response:
        store_id, till_id = till_of(request)
        user = console.user(request)
        form = await console.form(request)
        try:
            reason = reason_of(form)
        except ValueError as exc:
            return await stores(request, error=str(exc), status=400)
        if not await run_in_threadpool(console.audited, user, "till.revoke", f"{store_id}/{till_id}", reason,
                                       lambda: records.revoke_till(store_id, till_id), {"store_id": store_id},
                                       (store_id, till_id)):
            return console.render(request, "error.html", {"status": 404, "message": "There is no such till."}, 404)
        return RedirectResponse("/stores?revoked=" + f"{store_id}/{till_id}", status_code=303)

    async def stores_page(request: Request) -> Response:
        revoked = request.query_params.get("revoked", "")[:70]
        return await stores(request, notice=f"Till {revoked} revoked: its next call is refused." if revoked else "")

    async def tills_alias(request: Request) -> Response:
        return RedirectResponse("/stores", status_code=303)

    return [Route("/stores", stores_page, methods=["GET"]), Route("/stores", enrol, methods=["POST"]),
            Route("/tills", tills_alias, methods=["GET"]),
            Route("/tills/{store_id}/{till_id}", till, methods=["GET"]),
            Route("/tills/{store_id}/{till_id}/revoke", revoke, methods=["POST"])]

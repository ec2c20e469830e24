"""Logging in and out, and setting a password from a one-time link.

A wrong password costs the same ~0.1 s of scrypt as a right one (unknown names too); failures are counted in
the database per name and per address in one write each, so every worker sees the same count: five wrong
passwords for a name lock it for 15 minutes, thirty from one address block that address for as long.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from headoffice.console import passwords
from headoffice.console.web import SESSION_COOKIE, Console, Denied, User

USER_LIMIT, ADDRESS_LIMIT = 5, 30
WINDOW = LOCK = timedelta(minutes=15)
SYSTEM = User("system", "system", "owner", None)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never `//evil.example` or a full URL) may follow a login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def _address(request: Request) -> str:
    return "addr:" + (request.client.host if request.client else "unknown")


def _field(form: object, name: str, limit: int = 200) -> str:
    value = form.get(name) if hasattr(form, "get") else None
    return value.strip()[:limit] if isinstance(value, str) else ""


def routes(console: Console) -> list[BaseRoute]:
    records = console.store.console

    def login_page(request: Request, error: str = "", status: int = 200, name: str = "") -> Response:
        return console.render(request, "login.html", {"error": error, "name": name,
                                                      "next": _safe_next(request.query_params.get("next"))},
                              status=status)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            if console.current(request) is not None:
                return RedirectResponse("/", status_code=303)
            return login_page(request, "Password set: log in with it." if "done" in request.query_params else "")
        form = await console.form(request)
        name, password = _field(form, "name", 100), _field(form, "password", passwords.MAX_LENGTH + 1)
        user_key, address = "user:" + name.casefold(), _address(request)
        if await run_in_threadpool(records.locked_until, address):
            return login_page(request, "Too many failed logins from here: wait 15 minutes.", 429, name)
        if until := await run_in_threadpool(records.locked_until, user_key):
            return login_page(request, f"This account is locked after repeated failures until {until[11:16]} UTC.",
                              429, name)
        row = await run_in_threadpool(records.user_by_name, name) if name else None
        ok = await run_in_threadpool(passwords.verify, password, row["password_hash"] if row else None)
        if not ok or row is None or not row["active"]:
            if row is None:
                await run_in_threadpool(records.login_failed, user_key, USER_LIMIT, WINDOW, LOCK)
            else:  # the lock and its audit record in one transaction (a failure that locks nothing is not audited)
                known = row
                await run_in_threadpool(
                    console.audited, SYSTEM, "user.locked", known["name"], f"{USER_LIMIT} failed logins",
                    lambda: records.login_failed(user_key, USER_LIMIT, WINDOW, LOCK),
                    lambda until: {"address": _address(request)[5:], "until": until, "store_id": known["store_id"]})
            await run_in_threadpool(records.login_failed, address, ADDRESS_LIMIT, WINDOW, LOCK)
            return login_page(request, "Wrong name or password.", 401, name)
        await run_in_threadpool(records.login_succeeded, user_key)
        token = await run_in_threadpool(records.start_session, row["user_id"])
        response = RedirectResponse(_safe_next(_field(form, "next", 500)), status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/",
                            secure=request.url.scheme == "https")
        response.delete_cookie("ho_login_csrf", path="/")
        return response

    async def logout(request: Request) -> Response:
        await console.form(request)
        token = request.cookies.get(SESSION_COOKIE, "")
        if token:
            await run_in_threadpool(records.end_session, token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def set_password(request: Request) -> Response:
        if request.method == "GET":
            token = request.query_params.get("token", "")[:100]
            found = await run_in_threadpool(records.link_user, token) if token else None
            if found is None:
                return console.render(request, "error.html", {"status": 404, "message":
                                      "This link is unknown, used or expired: ask an owner for a new one."}, 404)
            return console.render(request, "set-password.html", {"token": token, "name": found["name"], "error": ""})
        form = await console.form(request)
        token, password = _field(form, "token", 100), _field(form, "password", passwords.MAX_LENGTH + 1)
        found = await run_in_threadpool(records.link_user, token) if token else None
        if found is None:
            return console.render(request, "error.html", {"status": 404, "message":
                                  "This link is unknown, used or expired: ask an owner for a new one."}, 404)
        try:
            if password != _field(form, "confirm", passwords.MAX_LENGTH + 1):
                raise ValueError("the two passwords differ")
            hashed = await run_in_threadpool(passwords.hash_password, password)
        except ValueError as exc:
            return console.render(request, "set-password.html",
                                  {"token": token, "name": found["name"], "error": str(exc).capitalize() + "."}, 400)
        who = User(found["user_id"], found["name"], found["role"], found["store_id"])
        if await run_in_threadpool(console.audited, who, "user.password_set", found["name"], "one-time link",
                                   lambda: records.use_password_link(token, hashed)) is None:
            raise Denied("this link was used meanwhile")
        return RedirectResponse("/login?done=1", status_code=303)

    return [Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"]),
            Route("/set-password", set_password, methods=["GET", "POST"])]

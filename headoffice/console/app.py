"""The console mounted beside the /v1 API: its page modules' routes, its error pages and the security guard.

`headoffice.app.create_app` calls `build` and adds the routes, exception handlers and middleware it returns
to the one Starlette app, so the console and the API share a process, a store and the same guard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from headoffice.console import approvals, audit, auth, dashboard, health, members, program, tills, users
from headoffice.console.security import Guard, RequestCounter
from headoffice.console.web import Console, Denied, Redirect
from headoffice.store.base import Store

HERE = Path(__file__).resolve().parent
HTML = b"text/html; charset=utf-8"
MESSAGES = {400: "That request was malformed.", 403: "You may not see or change this.",
            404: "There is no such page.", 405: "That page does not take this kind of request.",
            413: "That request is too large.", 429: "Too many attempts: wait a while and try again."}


@dataclass(frozen=True)
class ConsoleApp:
    """What create_app adds to its Starlette app."""

    console: Console
    routes: list[BaseRoute]
    exception_handlers: dict[Any, Callable[..., Any]]
    middleware: list[Middleware]
    http_error: Callable[[Request, Exception], Any]


def templates() -> Jinja2Templates:
    """Jinja2 with autoescaping on for every template (a member's name is never markup)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    return Jinja2Templates(env=env)


def build(store: Store, snapshot: Path | None = None, *, api_prefix: str = "/v1") -> ConsoleApp:
    """The console's routes, handlers and guard over `store`."""
    console = Console(store=store, snapshot=snapshot, templates=templates())
    counter = RequestCounter(store)
    routes: list[BaseRoute] = [Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    for module_routes in (auth.routes(console), dashboard.routes(console), members.routes(console),
                          program.routes(console), tills.routes(console), approvals.routes(console),
                          audit.routes(console),
                          users.routes(console), health.routes(console, counter)):
        routes += module_routes
    env = console.templates.env

    def page(status: int, message: str) -> bytes:
        text = env.get_template("error.html").render(status=status, message=message, user=None, nav=[],
                                                     csrf_token="")
        return text.encode()

    async def error_page(scope: Scope, status: int, message: str) -> tuple[bytes, bytes]:
        if scope["path"].startswith(api_prefix):
            return b"application/json", b'{"error":"%s","reasons":[]}' % message.encode()
        return HTML, page(status, MESSAGES.get(status, message))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = getattr(exc, "headers", None) or {}
        return console.render(request, "error.html", {"status": status, "message": MESSAGES.get(
            status, "Something went wrong.")}, status=status) if status != 405 else Response(
            page(status, MESSAGES[405]), status_code=405, media_type="text/html", headers=headers)

    async def denied(request: Request, exc: Exception) -> Response:
        return console.render(request, "error.html", {"status": 403, "message": str(exc) or MESSAGES[403]},
                              status=403)

    async def redirect(request: Request, exc: Exception) -> Response:
        url = exc.url if isinstance(exc, Redirect) else "/login"
        return RedirectResponse(url, status_code=303)

    known: dict[int, str] = {}  # endpoint -> route path, filled from the whole app (API included) on first use

    def route_of(scope: Scope) -> str:
        """The route's path template (`/v1/members/{member_id}/balance`), never the raw path (bounded labels)."""
        if not known:
            for r in scope["app"].routes:
                if isinstance(r, Route):
                    known[id(r.endpoint)] = r.path
        endpoint = scope.get("endpoint")
        if endpoint is not None and id(endpoint) in known:
            return known[id(endpoint)]
        return "/static" if scope["path"].startswith("/static/") else "unmatched"

    guard = Middleware(Guard, counter=counter, error_page=error_page, route_of=route_of, api_prefix=api_prefix)
    return ConsoleApp(console, routes, {Denied: denied, Redirect: redirect}, [guard], http_error)

"""What every console page shares: who is asking and what they may see, CSRF-checked forms, rendering, audit.

Page modules (`dashboard`, `members`, `program`, `tills`, ...) get one `Console` and never touch sessions,
cookies or tokens themselves: `user`/`require` decide who may see a page, `form` refuses a post without the
session's CSRF token, `render` fills the context every template relies on.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from headoffice.console.fragments import Fragments
from headoffice.console.warmer import FigureWarmer
from headoffice.store.base import Store

T = TypeVar("T")
SESSION_COOKIE = "ho_session"
LOGIN_CSRF_COOKIE = "ho_login_csrf"  # before a session exists, the login form is protected by a double-submit cookie
CSRF_FIELD = "csrf_token"
OWNER, MANAGER = "owner", "manager"
ROLES = (OWNER, MANAGER)


@dataclass(frozen=True)
class User:
    """A console user: an owner sees every store, a manager only `store_id`."""

    user_id: str
    name: str
    role: str  # "owner" | "manager"
    store_id: str | None  # a manager's store; None for an owner

    @property
    def is_owner(self) -> bool:
        return self.role == OWNER

    def sees(self, store_id: str) -> bool:
        """Owner: every store; manager: their own store only."""
        return self.is_owner or (self.store_id is not None and self.store_id == store_id)


class Denied(Exception):
    """The user may not see or change this: answered 403 with no data."""


class Redirect(Exception):
    """Not logged in (or a page that moved): answered 303 to `url`."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    key: str


def nav_for(user: User | None) -> list[NavItem]:
    """The navigation a user gets: the Users page for owners only."""
    if user is None:
        return []
    items = [NavItem("Dashboard", "/", "dashboard"), NavItem("Members", "/members", "members"),
             NavItem("Program", "/program", "program"), NavItem("Stores & tills", "/stores", "stores"),
             NavItem("Approvals", "/approvals", "approvals"), NavItem("Audit", "/audit", "audit")]
    if user.is_owner:
        items.append(NavItem("Users", "/users", "users"))
    return items


@dataclass
class Console:
    """The console's shared state: the API's own store, the marketing snapshot, the templates and the thread that
    computes dashboard figures a page found missing (pages never compute them themselves), and those figures
    rendered once per snapshot build."""

    store: Store
    snapshot: Path | None
    templates: Jinja2Templates
    warmer: FigureWarmer = field(default_factory=FigureWarmer)
    fragments: Fragments = field(default_factory=Fragments)

    def _session(self, request: Request) -> tuple[User, str] | None:
        """(user, csrf token) of the request's session cookie, looked up once per request."""
        if hasattr(request.state, "console_session"):
            found: tuple[User, str] | None = request.state.console_session
            return found
        token = request.cookies.get(SESSION_COOKIE, "")
        row = self.store.console.session(token) if token else None
        found = (User(row["user_id"], row["name"], row["role"], row["store_id"]), row["csrf"]) if row else None
        request.state.console_session = found
        return found

    def current(self, request: Request) -> User | None:
        """The logged-in user, or None (pages that also serve the logged-out, like the login form)."""
        found = self._session(request)
        return found[0] if found else None

    def user(self, request: Request) -> User:
        """The logged-in user, or Redirect to /login (303)."""
        found = self._session(request)
        if found is None:
            raise Redirect("/login")
        return found[0]

    def require(self, request: Request, *, owner: bool = False, store_id: str | None = None) -> User:
        """The user, after checking role and store scope; raises Denied (403)."""
        user = self.user(request)
        if owner and not user.is_owner:
            raise Denied("owners only")
        if store_id is not None and not user.sees(store_id):
            raise Denied("another store")
        return user

    def csrf_token(self, request: Request) -> str:
        """The session's CSRF token (the login form's double-submit cookie before a session exists)."""
        found = self._session(request)
        if found is not None:
            return found[1]
        if not hasattr(request.state, "login_csrf"):
            request.state.login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        token: str = request.state.login_csrf
        return token

    async def form(self, request: Request) -> FormData:
        """The posted form after the CSRF check (403 on a missing/wrong token)."""
        form = await request.form()
        sent = form.get(CSRF_FIELD)
        found = self._session(request)
        expected = found[1] if found is not None else request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
            raise Denied("the form's security token is missing or stale: reload the page and try again")
        return form

    def render(self, request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
        """Render with `user`, `csrf_token`, `nav`, `now` in the context; templates extend "base.html"."""
        user = self.current(request)
        full = {"user": user, "csrf_token": self.csrf_token(request), "nav": nav_for(user),
                "now": datetime.now(UTC), **context}
        response = self.templates.TemplateResponse(request, template, full, status_code=status)
        if user is None:  # the login/set-password forms: the double-submit cookie must match the hidden field
            response.set_cookie(LOGIN_CSRF_COOKIE, full["csrf_token"], httponly=True, samesite="strict",
                                secure=request.url.scheme == "https", path="/")
        response.headers["cache-control"] = "no-store"
        return response

    def audited(self, user: User, action: str, target: str, reason: str, change: Callable[[], T],
                detail: Callable[[T], dict[str, Any] | None] | dict[str, Any] | None = None,
                till: tuple[str, str] | None = None) -> T:
        """Make a change and record it on /audit in ONE transaction: both are written or neither is.

        `change` runs inside the transaction (its own writes join it); `detail` is the record's detail, or a
        function of the change's result. A change that returns None or False changed nothing and is not
        recorded. `till`: the change writes that till's row, which is then locked first (the order a push
        takes its locks). Runs on the calling thread: call it through `run_in_threadpool` from a handler.
        """
        with self.store.console.transaction(till):
            result = change()
            if result is not None and result is not False:
                self.audit(user, action, target, reason, detail(result) if callable(detail) else detail)
        return result

    def audit(self, user: User, action: str, target: str, reason: str, detail: dict[str, Any] | None = None) -> None:
        """Record who/when/what/why (shown on /audit); a manager's entries are filed under their store."""
        store_id = (detail or {}).get("store_id") or user.store_id
        self.store.console.audit_add(user.user_id, user.name, None if store_id is None else str(store_id),
                                     action, target, reason, json.dumps(detail or {}, sort_keys=True, default=str))


def reason_of(form: FormData) -> str:
    """Every change says why: a missing reason is refused (the page shows the message)."""
    reason = form.get("reason")
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValueError("say why (the reason is recorded on the audit page)")
    if len(text) > 500:
        raise ValueError("the reason is too long (500 characters at most)")
    return text

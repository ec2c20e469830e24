"""Safe on the internet: one ASGI middleware around the API and the console.

Every response gets the security headers (a Content-Security-Policy with no inline script or style, no
framing, nosniff); a body over the limit is refused 413 before it is read into memory; an unexpected
exception is logged with its trace on the server and answered 500 with a page (or an `Error` body under
/v1) that carries no trace; and every request is counted by route and status for /metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headoffice.store.base import Store

API_MAX_BODY = 64 * 1024 * 1024 + 1024  # the API checks its own 64 MiB batch limit; this only stops a flood
FORM_MAX_BODY = 1024 * 1024  # a console form is a few fields
FLUSH_SECONDS = 1.0

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
       " font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")

log = logging.getLogger("headoffice.console")

ErrorPage = Callable[[Scope, int, str], Awaitable[tuple[bytes, bytes]]]  # -> (content type, body)


class RequestCounter:
    """Requests by route and status, added up in memory for at most a second and then written to the
    database (shared by every worker; /metrics reads it there)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], int] = {}
        self._flushed = time.monotonic()

    def count(self, route: str, method: str, status: int) -> bool:
        """Count one request; True when it is time to flush."""
        key = ("http_requests", f"{method} {route} {status}")
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + 1
            return time.monotonic() - self._flushed >= FLUSH_SECONDS

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._flushed = time.monotonic()
        try:
            self._store.console.add_counts(pending)
        except Exception:
            log.exception("could not record request counts; keeping them for the next flush")
            with self._lock:
                for key, n in pending.items():
                    self._pending[key] = self._pending.get(key, 0) + n


class _TooLarge(Exception):
    pass


class Guard:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, *, counter: RequestCounter, error_page: ErrorPage,
                 route_of: Callable[[Scope], str], api_prefix: str = "/v1") -> None:
        self.app = app
        self.counter = counter
        self.error_page = error_page
        self.route_of = route_of
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = API_MAX_BODY if scope["path"].startswith(self.api_prefix) else FORM_MAX_BODY
        tls = scope.get("scheme") == "https"
        sent: dict[str, Any] = {"status": 500, "started": False}

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"], sent["started"] = message["status"], True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in dict(HEADERS)]
                headers += HEADERS + ([HSTS] if tls else [])
                message = {**message, "headers": headers}
            await send(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                raise _TooLarge()
            await self.app(scope, receive_limited, send_secured)
        except _TooLarge:
            await self._fail(scope, send_secured, sent, 413, "request too large")
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            await self._fail(scope, send_secured, sent, 500, "something went wrong on our side; it has been logged")
        finally:
            if self.counter.count(self.route_of(scope), scope.get("method", ""), int(sent["status"])):
                await run_in_threadpool(self.counter.flush)

    async def _fail(self, scope: Scope, send: Send, sent: dict[str, Any], status: int, message: str) -> None:
        if sent["started"]:  # the status line is out: all that is left is to end the body
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        content_type, body = await self.error_page(scope, status, message)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

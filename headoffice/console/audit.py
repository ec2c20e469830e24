"""The Audit page: who changed what, when and why, newest first, a page at a time (a manager sees their store's)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from headoffice.console.web import Console

PAGE = 100


def routes(console: Console) -> list[BaseRoute]:
    async def audit(request: Request) -> Response:
        user = console.user(request)
        before_text = request.query_params.get("before", "")
        before = int(before_text) if before_text.isdigit() and len(before_text) < 18 else None
        entries = await run_in_threadpool(console.store.console.audit_page,
                                          None if user.is_owner else user.store_id or "", before, PAGE)
        older = entries[-1]["audit_id"] if len(entries) == PAGE else None
        return console.render(request, "audit.html", {"active": "audit", "entries": entries, "older": older})

    return [Route("/audit", audit, methods=["GET"])]

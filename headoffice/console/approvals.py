"""The Approvals page: what tills asked for and may not do alone, approved or denied with a reason.

Owners see every request; a store manager only those about their store's members. Approving applies the
change through the store's own actions (`headoffice/store/approval_apply.py`) in the same transaction as
its audit record; denying sends head office's state back to the tills. Owners also set the policy here:
which kinds are approved at once (`approvals.auto_<kind>`), the till's adjustment limit and its member
reads per minute.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from headoffice.console.web import Console, Denied, User, reason_of
from headoffice.store.approvals import KINDS, SETTINGS, WHAT, ApprovalRefused

DONE = {"approved": "Request approved and applied.", "denied": "Request denied.", "settings": "Settings saved."}


def routes(console: Console) -> list[BaseRoute]:
    """`/approvals` (the list), `/approvals/settings` (POST, owners), `/approvals/{id}/{decision}` (POST)."""
    pages = ApprovalPages(console)
    return [Route("/approvals", pages.show, methods=["GET"]),
            Route("/approvals/settings", pages.settings, methods=["POST"]),
            Route("/approvals/{request_id}/{decision}", pages.decide, methods=["POST"])]


class ApprovalPages:
    """The handlers, over one Console (no state of their own)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def show(self, request: Request) -> Response:
        self.console.require(request)
        return await self._page(request, done=DONE.get(request.query_params.get("done", "")))

    async def decide(self, request: Request) -> Response:
        request_id, decision = request.path_params["request_id"], request.path_params["decision"]
        user = self.console.require(request)
        if decision not in ("approve", "deny"):
            raise Denied("no such decision")
        found = await run_in_threadpool(self.console.store.approvals.get, request_id)
        if found is None or not user.sees(str(found["member_store"] or "")):
            raise Denied("another store")  # a manager learns nothing, not even whether the request exists
        form = await self.console.form(request)
        try:
            reason = reason_of(form)
            await run_in_threadpool(self.console.audited, user, f"approval.{decision}", request_id, reason,
                                    lambda: self._decide(user, request_id, decision == "approve", reason), _detail)
        except (ApprovalRefused, ValueError) as exc:
            return await self._page(request, errors={request_id: str(exc)}, status=400)
        return RedirectResponse(f"/approvals?done={'approved' if decision == 'approve' else 'denied'}",
                                status_code=303)

    async def settings(self, request: Request) -> Response:
        user = self.console.require(request, owner=True)
        form = await self.console.form(request)
        values: dict[str, int] = {}
        errors: dict[str, str] = {}
        for name in SETTINGS:
            if name.startswith("approvals.auto_"):
                values[name] = 1 if form.get(name) == "1" else 0
                continue
            text = str(form.get(name, "")).strip()
            if text.isdigit() and len(text) < 10:
                values[name] = int(text)
            else:
                errors[name] = "a whole number, zero or more"
        try:
            reason = reason_of(form)
        except ValueError as exc:
            errors["reason"] = str(exc)
        if errors:
            return await self._page(request, errors=errors, status=400)
        approvals = self.console.store.approvals

        def save() -> dict[str, int]:
            for name, value in values.items():
                approvals.set_setting(name, value)
            return values
        await run_in_threadpool(self.console.audited, user, "approvals.settings", "approvals", reason, save, _detail)
        return RedirectResponse("/approvals?done=settings", status_code=303)

    # --- helpers ---------------------------------------------------------------------------------
    def _decide(self, user: User, request_id: str, approve: bool, reason: str) -> dict[str, Any]:
        return self.console.store.decide_request(request_id, approve, f"console:{user.name}", reason)

    async def _page(self, request: Request, *, done: str | None = None, errors: dict[str, str] | None = None,
                    status: int = 200) -> Response:
        user = self.console.user(request)
        approvals = self.console.store.approvals
        scope = None if user.is_owner else user.store_id or ""
        pending = await run_in_threadpool(approvals.page, scope, "pending")
        recent = [r for r in await run_in_threadpool(approvals.page, scope, None, 100) if r["status"] != "pending"]
        settings = await run_in_threadpool(approvals.settings)
        return self.console.render(request, "approvals.html", {
            "active": "approvals", "pending": pending, "recent": recent, "done": done, "errors": errors or {},
            "settings": settings, "kinds": KINDS, "what": WHAT}, status=status)


def _detail(result: dict[str, Any]) -> dict[str, Any]:
    """A decision's audit detail is what applying it reported (store, kind, member, till, points)."""
    return result

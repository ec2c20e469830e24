"""The console's member pages: search, a member's page, and the actions taken on a member.

Every action posts a reason, is checked against the user's store and role, runs as one transaction in
the store (headoffice/store/directory.py), is audited, and reaches every till on its next pull through
the change feed. Tier and lifecycle stage come from the marketing snapshot head office's upkeep
refreshes (never recomputed over the chain per request).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from headoffice import upkeep
from headoffice.console.web import Console, Denied, User, reason_of
from headoffice.store.directory import ActionRefused
from pos_client.services.marketing import lifecycle
from pos_client.services.marketing.tiers import qualifying_spend, tier_for_spend
from pos_client.services.program_settings import tiers

ACTIONS = ("adjust", "block", "replace", "merge", "erase")
DONE = {"adjust": "Points adjusted.", "block": "Card blocked.", "replace": "Card replaced.",
        "merge": "Members merged.", "erase": "Member erased."}


def routes(console: Console) -> list[BaseRoute]:
    """`/members` (search), `/members/{id}` (a member), `/members/{id}/{action}` (POST)."""
    pages = MemberPages(console)
    return [Route("/members", pages.search, methods=["GET"]),
            Route("/members/{member_id}", pages.show, methods=["GET"]),
            Route("/members/{member_id}/{action}", pages.act, methods=["POST"])]


class MemberPages:
    """The handlers, over one Console (no state of their own)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def search(self, request: Request) -> Response:
        user = self.console.require(request)
        q = request.query_params.get("q", "").strip()[:100]
        results = self.console.store.search_members(q, user.store_id) if q else []
        return self.console.render(request, "members.html", {"q": q, "results": results, "active": "members"})

    async def show(self, request: Request) -> Response:
        member_id = request.path_params["member_id"]
        self._scoped(request, member_id)
        done = DONE.get(request.query_params.get("done", ""))
        return self._page(request, member_id, done=done)

    async def act(self, request: Request) -> Response:
        member_id = request.path_params["member_id"]
        action = request.path_params["action"]
        user = self._scoped(request, member_id)
        if action not in ACTIONS:
            return self.console.render(request, "member_missing.html", {"member_id": member_id}, status=404)
        form = await self.console.form(request)
        fields = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
        try:
            reason = reason_of(form)
            await run_in_threadpool(self.console.audited, user, f"member.{action}", member_id, reason,
                                    lambda: self._do(user, action, member_id, fields, reason), _as_detail)
        except (ActionRefused, ValueError) as exc:
            errors = {action: str(exc)}
            return self._page(request, member_id, errors=errors, values=fields, status=400)
        return RedirectResponse(f"/members/{member_id}?done={action}", status_code=303)

    # --- helpers ---------------------------------------------------------------------------------
    def _scoped(self, request: Request, member_id: str) -> User:
        """The user, when the member exists and is in their store (else 404 or Denied, with no data)."""
        user = self.console.require(request)
        store_id = self.console.store.member_store(member_id)
        if store_id is None:
            if user.is_owner:
                return user  # the page answers 404
            raise Denied("another store")  # a manager learns nothing, not even whether the member exists
        if not user.sees(store_id):
            raise Denied("another store")
        return user

    def _do(self, user: User, action: str, member_id: str, fields: dict[str, str], reason: str) -> dict[str, Any]:
        """Take one action; returns what the audit records (never a card number in full)."""
        store = self.console.store
        home = store.member_store(member_id)
        if action == "adjust":
            points = _whole(fields.get("points", ""), "points")
            limit = store.console_setting(f"adjust_limit.{user.role}")
            if abs(points) > limit:
                raise ActionRefused(f"points: a {user.role} may adjust at most {limit} points at once")
            out = store.adjust_points(member_id, points, reason, f"console:{user.name}")
            return {"store_id": home, "points": points, "balance": out["balance"], "entry_id": out["entry_id"]}
        if action in ("block", "replace"):
            card = fields.get("card_number", "").strip()
            owner = store.card_owner(card) if card else None
            if owner is None or owner[0] != member_id:
                raise ActionRefused("card: not a card of this member")
            if action == "block":
                store.block_member_card(card)
                return {"store_id": home, "card": _tail(card)}
            new = fields.get("new_card", "").strip()
            store.replace_card(card, new)
            return {"store_id": home, "card": _tail(card), "new_card": _tail(new)}
        if action == "merge":
            other = fields.get("other_id", "").strip()
            other_store = store.member_store(other) if other else None
            if other_store is None or not user.sees(other_store):
                raise ActionRefused("merge: no such member in your stores")
            store.merge_members(other, member_id)
            return {"store_id": home, "merged": other, "into": member_id}
        if fields.get("confirm", "").strip() != "ERASE":
            raise ActionRefused("confirm: type ERASE to erase this member's personal details")
        if not store.erase_member(member_id):
            raise ActionRefused("no such member")
        return {"store_id": home}

    def _page(self, request: Request, member_id: str, *, done: str | None = None,
              errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
              status: int = 200) -> Response:
        user = self.console.user(request)
        data = self.console.store.member_page(member_id)
        if data is None:
            return self.console.render(request, "member_missing.html", {"member_id": member_id}, status=404)
        context = {"m": data, "marketing": self._marketing(member_id), "done": done, "errors": errors or {},
                   "values": values or {}, "limit": self.console.store.console_setting(f"adjust_limit.{user.role}"),
                   "active": "members"}
        return self.console.render(request, "member.html", context, status=status)

    def _marketing(self, member_id: str) -> dict[str, Any] | None:
        """Tier and lifecycle stage as of the last snapshot (None when upkeep has not built one yet)."""
        if self.console.snapshot is None:
            return None
        ctx = upkeep.open_snapshot(self.console.snapshot)
        if ctx is None:
            return None
        try:
            today = datetime.now(UTC).date()
            spend = qualifying_spend(ctx, member_id, today)
            return {"tier": tier_for_spend(tiers(ctx), spend).name, "spend_cents": spend,
                    "stage": lifecycle.recorded_stage(ctx, member_id),
                    "built_at": ctx.conn.execute("SELECT value FROM ho_snapshot_meta WHERE key = 'built_at'")
                    .fetchone()[0]}
        finally:
            ctx.close()


def _as_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """An action's result is what its audit record holds."""
    return detail


def _whole(text: str, name: str) -> int:
    """A whole number typed in a form (points are integers; "+50" and "-20" are fine)."""
    try:
        return int(text.strip().replace(" ", ""))
    except ValueError:
        raise ActionRefused(f"{name}: a whole number, e.g. 50 or -20") from None


def _tail(card: str) -> str:
    """What the audit shows of a card: its last four digits."""
    return "…" + card[-4:]

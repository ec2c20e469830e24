"""The Users page (owners only): add a user with a one-time password link, issue a new link, disable or enable."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from headoffice.console import accounts
from headoffice.console.web import Console, reason_of


def routes(console: Console) -> list[BaseRoute]:
    records = console.store.console

    async def page(request: Request, notice: str = "", error: str = "", link: str = "", status: int = 200
                   ) -> Response:
        console.require(request, owner=True)
        return console.render(request, "users.html", {
            "active": "users", "users": await run_in_threadpool(records.users), "notice": notice, "error": error,
            "link": link}, status=status)

    async def change(request: Request) -> Response:
        user = console.require(request, owner=True)
        form = await console.form(request)
        action = str(form.get("action") or "")
        base = str(request.base_url).rstrip("/")
        try:
            reason = reason_of(form)
            if action == "add":
                name, role = str(form.get("name") or "").strip(), str(form.get("role") or "")
                store_id = str(form.get("store_id") or "").strip() or None
                _, token = await run_in_threadpool(
                    console.audited, user, "user.add", name, reason,
                    lambda: accounts.add_user(console.store, name, role, store_id if role == "manager" else None),
                    {"role": role, "store_id": store_id})
                return await page(request, f"{name} added: send them this link to set a password.",
                                  link=f"{base}{accounts.LINK_PATH}{token}")
            target = next((u for u in await run_in_threadpool(records.users)
                           if u["user_id"] == str(form.get("user_id") or "")), None)
            if target is None:
                raise ValueError("no such user")
            if action == "link":
                token = await run_in_threadpool(console.audited, user, "user.password_link", target["name"], reason,
                                                lambda: records.password_link(target["user_id"]))
                return await page(request, f"New link for {target['name']} (earlier links no longer work).",
                                  link=f"{base}{accounts.LINK_PATH}{token}")
            if action in ("disable", "enable"):
                if target["user_id"] == user.user_id:
                    raise ValueError("you cannot disable yourself")
                await run_in_threadpool(console.audited, user, f"user.{action}", target["name"], reason,
                                        lambda: records.set_active(target["user_id"], action == "enable"))
                return await page(request, f"{target['name']} {action}d.")
            raise ValueError("unknown action")
        except ValueError as exc:
            return await page(request, error=str(exc), status=400)

    return [Route("/users", page, methods=["GET"]), Route("/users", change, methods=["POST"])]

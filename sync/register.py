"""Registering a till with head office: exchange the one-time code for a token, keep it locally."""

from __future__ import annotations

from typing import Any

from pos_client.domain.errors import Conflict, PosError
from pos_client.store import sync_state as state
from pos_client.store.config import write_config
from pos_client.store.context import TillContext
from sync.client import HeadOfficeClient, SyncError


def register_till(ctx: TillContext, url: str, code: str, *, transport: Any = None) -> dict[str, str]:
    """Register and write store/till/URL into config.toml; refuses to rename a till that already sold."""
    try:
        with HeadOfficeClient(url, transport=transport) as client:
            answer = client.register(code)
    except SyncError as exc:
        raise PosError(str(exc)) from None
    store_id, till_id = answer["store_id"], answer["till_id"]
    if (store_id, till_id) != (ctx.store_id, ctx.till_id):
        own = ctx.conn.execute("SELECT COUNT(*) FROM ledger WHERE store_id = ? AND till_id = ?",
                               (ctx.store_id, ctx.till_id)).fetchone()[0]
        if own:
            raise Conflict(f"this till already wrote {own} entries as {ctx.store_id}/{ctx.till_id}; the code is"
                           f" for {store_id}/{till_id}: ask head office for a code for this till")
    if ctx.home is not None:
        ctx.config = write_config(ctx.home, {"store_id": store_id, "till_id": till_id, "headoffice": {"url": url}})
    state.put(ctx.conn, **{state.TOKEN: answer["token"], state.STATE: "offline", state.LAST_ERROR: None})
    return {"store_id": store_id, "till_id": till_id, "url": url}

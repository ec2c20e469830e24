"""The till's side of its view (wire/view.py): which view it pulls and the members it follows.

A till follows the members it sold to: each round, before the pull, the members of its own entries since the
last round are sent to `POST /v1/pull/follow` (renewing those followed already), and the history head office
answers goes in through `sync.apply.apply_history`. Members looked up at head office are followed there.
The store's expiry till pulls `store`: expiry needs every dated earning of its store's members.
"""

from __future__ import annotations

from pos_client.services.marketing import expiry
from pos_client.store import sync_state as state
from pos_client.store.context import TillContext
from sync.apply import apply_history
from sync.client import HeadOfficeClient
from wire.view import MAX_FOLLOW, View

FOLLOW_MARK = "view_follow_seq"  # this till's own seq up to which the members it sold to are followed


def view_of(ctx: TillContext) -> View:
    """`store` at the till writing its store's members' expiry (docs/marketing.md), else `seen`."""
    return "store" if ctx.till_id == expiry.writer_till(ctx) else "seen"


def follow_seen(ctx: TillContext, client: HeadOfficeClient) -> int:
    """Follow the members of this till's own entries above the mark and take their history; the mark moves
    with the last part's history (a cut follows them again next round: following is idempotent)."""
    conn = ctx.conn
    rows = conn.execute("SELECT member_id, MAX(seq) FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ?"
                        " GROUP BY member_id ORDER BY member_id",
                        (ctx.store_id, ctx.till_id, state.get_int(conn, FOLLOW_MARK))).fetchall()
    if not rows:
        return 0
    top = max(int(r[1]) for r in rows)
    taken = 0
    for i in range(0, len(rows), MAX_FOLLOW):
        answer = client.follow([str(r[0]) for r in rows[i:i + MAX_FOLLOW]])
        taken += apply_history(ctx, answer.history, answer.through)
    state.put(conn, **{FOLLOW_MARK: top})
    return taken

"""A till's view: what it pulls after its first pull (ARCHITECTURE.md, "First pull and a till's view").

A till needs every member's current balance but the history only of the members it sees. With `view=seen`
(`GET /v1/pull`) head office sends a `balance` change per member whose balance moved (its balance now, at
the member's latest change) instead of other tills' entries, and entries only of the members the till
follows: those it looked up at head office or sold to (`POST /v1/pull/follow`), for `FOLLOW_DAYS`. The
store's expiry till asks `view=store`: also every entry of its store's members (expiry needs their dated
earnings). `view=all` is the feed as it was before the view (a till that does not ask for one).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from wire.batches import Change
from wire.fields import Count, Cursor, Id, Points

View = Literal["all", "seen", "store"]
FOLLOW_DAYS = 30  # a member a till saw is followed this long after it last saw them
MAX_FOLLOW = 500  # members per follow request


class BalanceData(msgspec.Struct, frozen=True):
    """A `balance` change: head office's balance of the member (all tills' entries it holds), as of the
    change's cursor. The till makes its own balance this plus its own entries head office does not hold yet,
    moving the member's opening balance by the difference (an appended `opening_balances` row)."""

    member_id: Id
    points: Points


class FollowRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of `POST /v1/pull/follow`: members this till sees (sold to, looked up)."""

    member_ids: Annotated[list[Id], Meta(max_length=MAX_FOLLOW)]


class Followed(msgspec.Struct, frozen=True):
    """How many members the till now follows (renewed or new), and their entries at head office up to
    `through` that are not this till's own: their history, which the balance it holds already counts."""

    following: Count
    through: Cursor
    history: list[Change]  # `entry` changes, cursor = the entry's server_seq

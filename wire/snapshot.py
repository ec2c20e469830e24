"""A till's first pull: the member directory as of one feed position, in parts, instead of the chain's history.

`GET /v1/pull/snapshot?after=<member_id>&top=<floor>` answers the members after `after` (member_id order),
their cards and their opening balances (head office's balance as of `floor`, less this till's own entries),
`floor` being the feed position the first part fixed. Rows travel as arrays (`array_like`): a part of 5,000
members is about a third of the bytes of the same rows as objects, and decodes faster. After the last part
the till pulls the feed from 0 with `floor`: entries and member/card changes at or below it are in the
snapshot already, everything else (rules, products, documents) and everything after it comes as usual.

An empty till takes the directory as one file instead (`GET /v1/pull/directory`, then the file by name with
HTTP Range): a SQLite database in the till's own schema, built by head office from one consistent read, its
feed position (`floor`) recorded inside it and in `DirectoryInfo`; the till checks its size and sha256,
ATTACHes it and copies its tables whole (sync/snapshot_file.py), then pulls the feed from 0 with `floor`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from wire.fields import Count, Cursor

PART = 5000  # members per part: one till transaction each, the unit a cut resumes at


class SnapshotQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query of `GET /v1/pull/snapshot` (keyset paging by member_id; `top` fixed by the first part)."""

    after: Annotated[str, Meta(max_length=64, description="the last member_id of the previous part")] = ""
    top: Annotated[Cursor, Meta(description="the part's feed position: 0 on the first part, then its `floor`")] = 0
    limit: Annotated[int, Meta(ge=1, le=PART, description="members per part")] = PART


class SnapMember(msgspec.Struct, array_like=True):
    """A member as head office holds it, with the opening balance the till starts from (see the module)."""

    member_id: str
    store_id: str
    name: str | None
    phone: str | None
    email: str | None
    status: str
    merged_into: str | None
    consent: str  # head office's JSON text ({"email": true, ...}); "{}" for none
    created_at: str
    updated_at: str
    points: int


class SnapCard(msgspec.Struct, array_like=True):
    card_number: str
    member_id: str
    source: str
    status: str
    replaced_by: str | None
    created_at: str | None
    updated_at: str


class SnapshotPart(msgspec.Struct):
    """One part; `next_after` is the `after` of the next request, `more` false on the last part."""

    floor: Cursor
    members: list[SnapMember]
    cards: list[SnapCard]
    next_after: str
    more: bool
    total: Count = 0  # members in the directory (counted on the first part, for progress)


DIRECTORY_NAME = r"^directory-[0-9a-f]{16}\.db$(?!\n)"  # a built file's name: its sha256's first 16 hex digits
# The tables a directory file fills, in the till's schema (its migrations): copied in this order.
DIRECTORY_TABLES = ("members", "member_consent", "balances", "opening_balances", "cards")


class DirectoryInfo(msgspec.Struct, frozen=True):
    """The directory file head office serves now (`ready` false, with 202: being built, ask again soon).

    `schema` is the till migration the file was built with: a till on another schema takes the parts instead.
    `own_entries`: head office holds entries of the asking till (their opening balances differ): parts too."""

    ready: bool
    name: str = ""
    size: Count = 0
    sha256: str = ""
    floor: Cursor = 0
    schema: str = ""
    members: Count = 0
    cards: Count = 0
    built_at: str = ""
    build_seconds: float = 0.0
    own_entries: bool = False
    retry_after: float = 0.0  # seconds to wait before asking again (while not ready)


class DirectoryPath(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The path of `GET /v1/pull/directory/{name}`: a file `DirectoryInfo` named (Range requests resume)."""

    name: Annotated[str, Meta(pattern=DIRECTORY_NAME, description="the `name` of a DirectoryInfo")]

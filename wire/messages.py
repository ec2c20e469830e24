"""The other HTTP bodies of /v1: registration, errors, the administrator's requests and reports.

Reports are TypedDicts: the store hands them out as dicts and the document still says their shape.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, TypedDict

import msgspec
from msgspec import Meta

from wire.bounds import PRICE
from wire.fields import AnyText, Count, Cursor, HighSeq, Id, Points, Text
from wire.view import View


class Error(msgspec.Struct, omit_defaults=True):
    """Every refusal the server answers (400, 401, 403, 404, 409, 413, 422): what is wrong, and why per field."""

    error: str
    reasons: list[str] = []


class Health(msgspec.Struct):
    ok: bool
    version: Annotated[int, Meta(ge=1, le=1000)]


class RegisterRequest(msgspec.Struct):
    """A one-time enrolment code, as head office printed it (dashes and case do not matter)."""

    code: Annotated[Text, Meta(description="enrolment code, e.g. ABCD-EFGH-JKLM")]


class Registered(msgspec.Struct):
    token: str
    store_id: str
    till_id: str


class Balance(msgspec.Struct):
    member_id: str
    balance: Points


class Product(msgspec.Struct, frozen=True):
    """A catalog product head office sends to every till."""

    sku: Text
    name: Text
    price_cents: Annotated[int, Meta(ge=PRICE.low, le=PRICE.high)]
    ean: AnyText | None = None
    category: Text = "general"


class ProductsStored(msgspec.Struct):
    products: Count


class Ok(msgspec.Struct):
    ok: Literal[True]


class Blocked(msgspec.Struct):
    blocked: Literal[True]


class Erased(msgspec.Struct):
    erased: Literal[True]


class PullQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query of `GET /v1/pull` (each parameter is a JSON scalar in the query string; no others)."""

    cursor: Annotated[Cursor, Meta(description="the last server_seq this till applied")] = 0
    limit: Annotated[int, Meta(ge=1, le=5000, description="changes per page")] = 1000
    total: Annotated[Literal[0, 1], Meta(description="1: count every pending change (first page)")] = 1
    floor: Annotated[Cursor, Meta(description="after a snapshot (`/pull/snapshot`): its floor; entries and member"
                                              " or card changes at or below it are left out")] = 0
    view: Annotated[View, Meta(description="`all`: every other till's entries, no balances (a till older than"
                                           " the view); `seen`: each changed member's balance, entries only of the"
                                           " members this till follows (`/pull/follow`); `store`: those and every"
                                           " entry of its store's members (the store's expiry till)")] = "all"


class RecoverQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query of `GET /v1/recover`: a till restored from a backup asks for what it pushed after it."""

    after_seq: Annotated[HighSeq, Meta(description="the till's own highest seq it still holds")] = 0
    sales_after: Annotated[str, Meta(max_length=64, description="own sales created after this ISO time"
                                                                  " (with sales_after_id: keyset paging)")] = ""
    sales_after_id: Annotated[str, Meta(max_length=64, description="the last sale id of the previous page")] = ""
    limit: Annotated[int, Meta(ge=1, le=5000, description="entries and sales per page")] = 1000


class MemberPath(msgspec.Struct, frozen=True):
    member_id: Id


class CardPath(msgspec.Struct, frozen=True):
    card_number: Text


class MemberLookup(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query of `GET /v1/members/lookup`: one exact card number or phone (digits may arrive as a number)."""

    CHECKS: ClassVar[tuple[str, ...]] = ("card: give exactly one of card or phone",)

    card: Annotated[Text | int | None, Meta(description="an exact loyalty card number")] = None
    phone: Annotated[Text | int | None, Meta(description="an exact phone number, as the till typed it")] = None


class MemberFound(msgspec.Struct):
    """What a till needs of a member it looked up: who, their store and state, their card's state, the balance."""

    member_id: str
    store_id: str
    status: str
    card_status: str | None
    balance: Points


# --- reports (administrator) ---------------------------------------------------------------
class Redemption(TypedDict):
    entry_id: str
    store_id: str
    till_id: str
    points: Points
    created_at: str
    received_at: str


class Overdraft(TypedDict):
    member_id: str
    balance: Points
    home_store: str | None
    redemptions: list[Redemption]


class OverdraftReport(msgspec.Struct):
    members: list[Overdraft]


class QuarantinedRecord(TypedDict):
    store_id: str
    till_id: str
    type: str
    seq: HighSeq | None
    reasons: list[str]
    raw: str | None  # the record as sent, card numbers scrubbed
    received_at: str


class RejectsReport(msgspec.Struct):
    rejects: list[QuarantinedRecord]


class CouponUse(TypedDict):
    use_id: str
    store_id: str
    till_id: str
    sale_id: str
    used_at: str
    received_at: str


class CouponDouble(TypedDict):
    code: str
    uses: list[CouponUse]


class CouponDoublesReport(msgspec.Struct):
    double_uses: list[CouponDouble]


class TillKey(TypedDict):
    store_id: str
    till_id: str
    public_key: str
    received_at: str


class TillKeysReport(msgspec.Struct):
    till_keys: list[TillKey]


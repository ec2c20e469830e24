"""The records a till pushes: ledger entries, sales, members and cards (msgspec Structs).

Field types carry every per-field rule (`wire.fields`); `__post_init__` holds the few that span fields,
each worded once in `CHECKS` (the OpenAPI document lists them as `x-checks`), and raises `Invalid`.
Points and cents are integers: a float or a bool is malformed, never rounded.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from cardread.payment import payment_card_in
from wire.errors import Invalid, convert
from wire.fields import (
    AnyText,
    CardStatus,
    Cents,
    Consent,
    Id,
    LedgerKind,
    MemberStatus,
    Points,
    Positive,
    Quantity,
    Seq,
    Text,
    Time,
    Uuid,
)
from wire.ledger_chain import CHAIN_COLUMNS, ChainHash

LEDGER_COLUMNS = (*CHAIN_COLUMNS, "prev_hash", "entry_hash")  # the hash chain: wire.ledger_chain


class LedgerRow(msgspec.Struct, frozen=True):
    """A till's own ledger row on its way out: built positionally from a SELECT of LEDGER_COLUMNS (in that
    order) and encoded as the same JSON object a LedgerRecord decodes, without a dict per row. Nothing is
    checked here: head office checks, and sets a wrong row aside with its reasons."""

    entry_id: str
    member_id: str
    store_id: str
    till_id: str
    seq: int
    kind: str
    points: int
    sale_id: str | None
    amount_cents: int
    created_at: str
    operator: str | None
    reason: str | None
    ref: str | None
    prev_hash: str | None
    entry_hash: str | None


class LedgerRecord(msgspec.Struct, frozen=True):
    """One ledger entry as the till wrote it; (store_id, till_id, seq) is the till's gap-free sequence."""

    entry_id: Uuid
    member_id: Id
    store_id: Id
    till_id: Id
    seq: Seq
    kind: LedgerKind
    points: Points
    created_at: Time
    sale_id: Id | None = None
    amount_cents: Cents = 0
    operator: AnyText | None = None
    reason: AnyText | None = None
    ref: AnyText | None = None
    prev_hash: ChainHash | None = None  # the till's hash chain (wire.ledger_chain); None from a till before it
    entry_hash: ChainHash | None = None

    CHECKS: ClassVar[tuple[str, ...]] = ("points: a redemption cannot add points",
                                         "points: earn and bonus cannot be negative",
                                         # checked by head office against the till's chain (validate.check_chain)
                                         "entry_hash: does not match the entry's content",
                                         "prev_hash: does not link to the till's entry")

    def __post_init__(self) -> None:
        if self.kind == "redeem" and self.points > 0:
            raise Invalid([self.CHECKS[0]])
        if self.points < 0 and self.kind in ("earn", "bonus"):
            raise Invalid([self.CHECKS[1]])

    @classmethod
    def parse(cls, data: Any) -> LedgerRecord:
        return convert(data, cls)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def chain_content(self) -> tuple[Any, ...]:
        """The values its hash covers, in CHAIN_COLUMNS order (wire.ledger_chain)."""
        return (self.entry_id, self.member_id, self.store_id, self.till_id, self.seq, self.kind, self.points,
                self.sale_id, self.amount_cents, self.created_at, self.operator, self.reason, self.ref)

    def row(self) -> tuple[Any, ...]:
        """The values in LEDGER_COLUMNS order (both head-office backends insert this tuple)."""
        return (self.entry_id, self.member_id, self.store_id, self.till_id, self.seq, self.kind, self.points,
                self.sale_id, self.amount_cents, self.created_at, self.operator, self.reason, self.ref,
                self.prev_hash, self.entry_hash)


class SaleLine(msgspec.Struct, frozen=True):
    line_no: Positive
    name: Text
    category: Text
    qty: Quantity
    unit_cents: Cents
    amount_cents: Cents
    points: Points = 0
    sku: AnyText | None = None
    ean: AnyText | None = None

    CHECKS: ClassVar[tuple[str, ...]] = ("amount_cents: not qty x unit_cents",)

    def __post_init__(self) -> None:
        if self.amount_cents != self.qty * self.unit_cents:
            raise Invalid([self.CHECKS[0]])


class SaleRecord(msgspec.Struct, frozen=True):
    sale_id: Id
    store_id: Id
    till_id: Id
    total_cents: Cents
    created_at: Time
    member_id: Id | None = None
    tender: Text = "cash"
    points_earned: Points = 0
    operator: AnyText | None = None
    lines: list[SaleLine] = []

    CHECKS: ClassVar[tuple[str, ...]] = ("total_cents: not the sum of the lines",)

    def __post_init__(self) -> None:
        if self.lines and sum(li.amount_cents for li in self.lines) != self.total_cents:
            raise Invalid([self.CHECKS[0]])

    @classmethod
    def parse(cls, data: Any) -> SaleRecord:
        return convert(data, cls)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


class MemberRecord(msgspec.Struct, frozen=True):
    """A member as a till or head office knows it; `consent` maps channel -> granted."""

    member_id: Id
    store_id: Id
    created_at: Time
    updated_at: Time
    name: AnyText | None = None
    phone: AnyText | None = None
    email: AnyText | None = None
    status: MemberStatus = "active"
    merged_into: Id | None = None
    consent: Consent = {}

    CHECKS: ClassVar[tuple[str, ...]] = ("merged_into: required when status is merged",
                                         "name: never a bank card number", "email: never a bank card number")

    def __post_init__(self) -> None:
        if self.status == "merged" and not self.merged_into:
            raise Invalid([self.CHECKS[0]])
        bad = [check for check, text in ((self.CHECKS[1], self.name), (self.CHECKS[2], self.email))
               if text and payment_card_in(text)]  # free text typed at a till: the second net covers it too
        if bad:
            raise Invalid(bad)

    @classmethod
    def parse(cls, data: Any) -> MemberRecord:
        return convert(data, cls)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


class CardRecord(msgspec.Struct, frozen=True):
    card_number: Text
    member_id: Id
    source: Text
    status: CardStatus
    updated_at: Time
    replaced_by: AnyText | None = None
    created_at: Time | None = None

    CHECKS: ClassVar[tuple[str, ...]] = ("card_number: looks like a payment card number, refused",
                                         # head office's allow-list (headoffice/store/card_formats.py)
                                         "card_number: not one of this program's cards")

    def __post_init__(self) -> None:
        number = self.card_number
        if payment_card_in(number):
            # Never store a bank card number, even one a faulty till sent (the reason never repeats it).
            raise Invalid([self.CHECKS[0]])

    @classmethod
    def parse(cls, data: Any) -> CardRecord:
        return convert(data, cls)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

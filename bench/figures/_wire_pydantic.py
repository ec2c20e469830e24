"""The push batch as pydantic v2 models, the candidate `wire/` did not keep (bench/figures/wire.py only).

Same rules as the msgspec Structs: strict types (no float or string for an int), the same patterns and
bounds, the same cross-field checks. Patterns end in a plain `$`: pydantic's Rust regex has no
lookahead, and its `$` is already the end of the text. Importing this needs pydantic installed.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from wire.fields import MAX_AMOUNT, MAX_SEQ, MAX_TEXT, TIME_PATTERN

_STRICT = ConfigDict(strict=True, frozen=True)
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Uuid = Annotated[str, StringConstraints(
    pattern=r"^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT, pattern=r"^[^\u0000]*$")]
AnyText = Annotated[str, StringConstraints(max_length=MAX_TEXT, pattern=r"^[^\u0000]*$")]
Time = Annotated[str, StringConstraints(min_length=1, pattern=TIME_PATTERN.removesuffix("(?!\\n)"))]
Amount = Annotated[int, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
Positive = Annotated[int, Field(ge=1, le=MAX_AMOUNT)]


class LedgerRecord(BaseModel):
    model_config = _STRICT
    entry_id: Uuid
    member_id: Id
    store_id: Id
    till_id: Id
    seq: Annotated[int, Field(ge=1, le=MAX_SEQ)]
    kind: Literal["earn", "redeem", "adjust", "reverse", "expire", "bonus"]
    points: Amount
    created_at: Time
    sale_id: Id | None = None
    amount_cents: Amount = 0
    operator: AnyText | None = None
    reason: AnyText | None = None
    ref: AnyText | None = None

    @model_validator(mode="after")
    def _signs(self) -> Self:
        if self.kind == "redeem" and self.points > 0:
            raise ValueError("points: a redemption cannot add points")
        if self.points < 0 and self.kind in ("earn", "bonus"):
            raise ValueError("points: earn and bonus cannot be negative")
        return self


class SaleLine(BaseModel):
    model_config = _STRICT
    line_no: Positive
    name: Text
    category: Text
    qty: Positive
    unit_cents: Amount
    amount_cents: Amount
    points: Amount = 0
    sku: AnyText | None = None
    ean: AnyText | None = None

    @model_validator(mode="after")
    def _amount(self) -> Self:
        if self.amount_cents != self.qty * self.unit_cents:
            raise ValueError("amount_cents: not qty x unit_cents")
        return self


class SaleRecord(BaseModel):
    model_config = _STRICT
    sale_id: Id
    store_id: Id
    till_id: Id
    total_cents: Amount
    created_at: Time
    member_id: Id | None = None
    tender: Text = "cash"
    points_earned: Amount = 0
    operator: AnyText | None = None
    lines: list[SaleLine] = []

    @model_validator(mode="after")
    def _total(self) -> Self:
        if self.lines and sum(li.amount_cents for li in self.lines) != self.total_cents:
            raise ValueError("total_cents: not the sum of the lines")
        return self


class PushBatch(BaseModel):
    model_config = ConfigDict(strict=True)
    store_id: Id
    till_id: Id
    version: Literal[1] = 1
    entries: list[LedgerRecord] = []
    sales: list[SaleRecord] = []

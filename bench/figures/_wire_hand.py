"""The hand validation the wire schema replaced (wire/protocol.py before msgspec, commit 1c42cf6), kept
only as the bench's baseline (bench/figures/wire.py): the ledger entry and sale parts, unchanged but for
type annotations."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

VERSION = 1
PREFIX = "/v1"

LEDGER_KINDS = frozenset({"earn", "redeem", "adjust", "reverse", "expire", "bonus"})

_UUID = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_TEXT = 500


class Invalid(ValueError):
    """A record that cannot be accepted; `reasons` says why, field by field."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class _Checker:
    """Collects every problem of one record instead of stopping at the first."""

    def __init__(self, data: Any):
        self.reasons: list[str] = []
        self.data = data if isinstance(data, dict) else {}
        if not isinstance(data, dict):
            self.reasons.append("record must be a JSON object")

    def int(self, name: str, *, minimum: int | None = None, required: bool = True, default: int = 0) -> int:
        value = self.data.get(name)
        if value is None:
            if required:
                self.reasons.append(f"{name}: required")
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            self.reasons.append(f"{name}: must be an integer, got {type(value).__name__}")
            return default
        if minimum is not None and value < minimum:
            self.reasons.append(f"{name}: must be >= {minimum}")
        return value

    def text(self, name: str, *, required: bool = True, pattern: re.Pattern[str] | None = None,
             choices: frozenset[str] | None = None) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                self.reasons.append(f"{name}: required")
            return None
        if not isinstance(value, str):
            self.reasons.append(f"{name}: must be a string")
            return None
        if len(value) > MAX_TEXT:
            self.reasons.append(f"{name}: longer than {MAX_TEXT} characters")
        elif pattern is not None and not pattern.match(value):
            self.reasons.append(f"{name}: malformed")
        elif choices is not None and value not in choices:
            self.reasons.append(f"{name}: must be one of {', '.join(sorted(choices))}")
        return value

    def time(self, name: str, *, required: bool = True) -> str | None:
        value = self.text(name, required=required)
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                self.reasons.append(f"{name}: not an ISO-8601 time")
        return value

    def done(self) -> None:
        if self.reasons:
            raise Invalid(self.reasons)


def _key_of(data: Any, *names: str) -> str | None:
    if isinstance(data, dict):
        for n in names:
            if isinstance(data.get(n), str | int) and not isinstance(data.get(n), bool):
                return str(data[n])
    return None


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One ledger entry as the till wrote it; (store_id, till_id, seq) is the till's gap-free sequence."""

    entry_id: str
    member_id: str
    store_id: str
    till_id: str
    seq: int
    kind: str
    points: int
    created_at: str
    sale_id: str | None = None
    amount_cents: int = 0
    operator: str | None = None
    reason: str | None = None
    ref: str | None = None

    @classmethod
    def parse(cls, data: Any) -> LedgerRecord:
        c = _Checker(data)
        rec = cls(
            entry_id=c.text("entry_id", pattern=_UUID) or "",
            member_id=c.text("member_id", pattern=_ID) or "",
            store_id=c.text("store_id", pattern=_ID) or "",
            till_id=c.text("till_id", pattern=_ID) or "",
            seq=c.int("seq", minimum=1),
            kind=c.text("kind", choices=LEDGER_KINDS) or "",
            points=c.int("points"),
            created_at=c.time("created_at") or "",
            sale_id=c.text("sale_id", required=False, pattern=_ID),
            amount_cents=c.int("amount_cents", required=False),
            operator=c.text("operator", required=False),
            reason=c.text("reason", required=False),
            ref=c.text("ref", required=False),
        )
        if rec.kind == "redeem" and rec.points > 0:
            c.reasons.append("points: a redemption cannot add points")
        if rec.kind in ("earn", "bonus") and rec.points < 0:
            c.reasons.append(f"points: {rec.kind} cannot be negative")
        c.done()
        return rec

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self) -> tuple[Any, ...]:
        return (self.entry_id, self.member_id, self.store_id, self.till_id, self.seq, self.kind, self.points,
                self.sale_id, self.amount_cents, self.created_at, self.operator, self.reason, self.ref)


LEDGER_COLUMNS = ("entry_id", "member_id", "store_id", "till_id", "seq", "kind", "points", "sale_id",
                  "amount_cents", "created_at", "operator", "reason", "ref")


@dataclass(frozen=True, slots=True)
class SaleLine:
    line_no: int
    name: str
    category: str
    qty: int
    unit_cents: int
    amount_cents: int
    points: int = 0
    sku: str | None = None
    ean: str | None = None

    @classmethod
    def parse(cls, data: Any) -> SaleLine:
        c = _Checker(data)
        line = cls(line_no=c.int("line_no", minimum=1), name=c.text("name") or "",
                   category=c.text("category") or "", qty=c.int("qty", minimum=1),
                   unit_cents=c.int("unit_cents"), amount_cents=c.int("amount_cents"),
                   points=c.int("points", required=False), sku=c.text("sku", required=False),
                   ean=c.text("ean", required=False))
        if not c.reasons and line.amount_cents != line.qty * line.unit_cents:
            c.reasons.append(f"line {line.line_no}: amount_cents is not qty x unit_cents")
        c.done()
        return line


@dataclass(frozen=True, slots=True)
class SaleRecord:
    sale_id: str
    store_id: str
    till_id: str
    total_cents: int
    created_at: str
    member_id: str | None = None
    tender: str = "cash"
    points_earned: int = 0
    operator: str | None = None
    lines: tuple[SaleLine, ...] = ()

    @classmethod
    def parse(cls, data: Any) -> SaleRecord:
        c = _Checker(data)
        lines: list[SaleLine] = []
        raw_lines = c.data.get("lines", [])
        if not isinstance(raw_lines, list):
            c.reasons.append("lines: must be a list")
            raw_lines = []
        for raw in raw_lines:
            try:
                lines.append(SaleLine.parse(raw))
            except Invalid as exc:
                c.reasons.extend(f"lines: {r}" for r in exc.reasons)
        rec = cls(sale_id=c.text("sale_id", pattern=_ID) or "", store_id=c.text("store_id", pattern=_ID) or "",
                  till_id=c.text("till_id", pattern=_ID) or "", total_cents=c.int("total_cents"),
                  created_at=c.time("created_at") or "", member_id=c.text("member_id", required=False, pattern=_ID),
                  tender=c.text("tender", required=False) or "cash",
                  points_earned=c.int("points_earned", required=False), operator=c.text("operator", required=False),
                  lines=tuple(lines))
        if not c.reasons and lines and sum(li.amount_cents for li in lines) != rec.total_cents:
            c.reasons.append("total_cents: not the sum of the lines")
        c.done()
        return rec

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)



@dataclass(frozen=True)
class Reject:
    """A record set aside with its reasons (kept at head office, reported to the till)."""

    type: str
    index: int
    key: str | None
    reasons: list[str]
    raw: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "index": self.index, "key": self.key, "reasons": self.reasons}


@dataclass
class PushBatch:
    """What one till sends in one request; parsing keeps the good records and lists the bad."""

    store_id: str
    till_id: str
    entries: list[LedgerRecord] = field(default_factory=list)
    sales: list[SaleRecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @classmethod
    def parse(cls, body: Any) -> PushBatch:
        if not isinstance(body, dict):
            raise Invalid(["body must be a JSON object"])
        c = _Checker(body)
        store, till = c.text("store_id", pattern=_ID), c.text("till_id", pattern=_ID)
        if body.get("version", VERSION) != VERSION:
            c.reasons.append(f"version: this head office speaks version {VERSION}")
        for name in ("entries", "sales"):
            if not isinstance(body.get(name, []), list):
                c.reasons.append(f"{name}: must be a list")
        c.done()
        batch = cls(store_id=store or "", till_id=till or "")
        parts: tuple[tuple[str, Callable[[Any], Any], list[Any], tuple[str, ...]], ...] = (
            ("entries", LedgerRecord.parse, batch.entries, ("entry_id", "seq")),
            ("sales", SaleRecord.parse, batch.sales, ("sale_id",)),
        )
        for name, parser, target, keys in parts:
            for i, raw in enumerate(body.get(name, [])):
                try:
                    target.append(parser(raw))
                except Invalid as exc:
                    batch.rejects.append(Reject(name, i, _key_of(raw, *keys), exc.reasons, raw))
        return batch

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "store_id": self.store_id, "till_id": self.till_id,
                "entries": [e.to_dict() for e in self.entries], "sales": [s.to_dict() for s in self.sales]}



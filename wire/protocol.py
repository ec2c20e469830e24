"""The sync protocol, version 1 (`/v1`): plain dataclasses with validation, shared by till and head office.

Both sides import only this module to agree on the wire format. Records are JSON objects;
points and cents are integers (a float or a bool is malformed, never rounded). Parsing a
push batch never fails as a whole: each malformed record is set aside with its reasons so
the rest of the batch is still ingested.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

VERSION = 1
PREFIX = "/v1"

LEDGER_KINDS = frozenset({"earn", "redeem", "adjust", "reverse", "expire", "bonus"})
MEMBER_STATUSES = frozenset({"active", "erased", "merged"})
CARD_STATUSES = frozenset({"active", "lost", "blocked"})
CHANNELS = frozenset({"email", "sms", "post", "phone"})
DOC_TYPES = ("till_key", "coupon_use", "erasure")  # documents other capabilities ask sync to carry
CHANGE_TYPES = ("member", "card", "entry", "rule", "product", *DOC_TYPES)
# Card states only move forward: a till can never re-activate a card head office blocked.
CARD_RANK = {"active": 0, "lost": 1, "blocked": 2}

_UUID = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")
_COUPON_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
MAX_TEXT = 500


def _looks_like_payment_card(digits: str) -> bool:
    from cardread.payment import looks_like_payment_card

    return looks_like_payment_card(digits)


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

    def row(self) -> tuple:
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


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member as a till or head office knows it; `consent` maps channel -> granted."""

    member_id: str
    store_id: str
    created_at: str
    updated_at: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    status: str = "active"
    merged_into: str | None = None
    consent: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any) -> MemberRecord:
        c = _Checker(data)
        consent = c.data.get("consent") or {}
        if not isinstance(consent, dict) or any(
                k not in CHANNELS or not isinstance(v, bool) for k, v in consent.items()):
            c.reasons.append("consent: must map email/sms/post/phone to true or false")
            consent = {}
        rec = cls(member_id=c.text("member_id", pattern=_ID) or "", store_id=c.text("store_id", pattern=_ID) or "",
                  created_at=c.time("created_at") or "", updated_at=c.time("updated_at") or "",
                  name=c.text("name", required=False), phone=c.text("phone", required=False),
                  email=c.text("email", required=False),
                  status=c.text("status", required=False, choices=MEMBER_STATUSES) or "active",
                  merged_into=c.text("merged_into", required=False, pattern=_ID), consent=dict(consent))
        if rec.status == "merged" and not rec.merged_into:
            c.reasons.append("merged_into: required when status is merged")
        c.done()
        return rec

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CardRecord:
    card_number: str
    member_id: str
    source: str
    status: str
    updated_at: str
    replaced_by: str | None = None
    created_at: str | None = None

    @classmethod
    def parse(cls, data: Any) -> CardRecord:
        c = _Checker(data)
        number = c.text("card_number") or ""
        if number and number.isdigit() and _looks_like_payment_card(number):
            # Never store a bank card number, even one a faulty till sent.
            c.reasons.append("card_number: looks like a payment card number, refused")
            number = "<refused>"
        rec = cls(card_number=number, member_id=c.text("member_id", pattern=_ID) or "",
                  source=c.text("source") or "", status=c.text("status", choices=frozenset(CARD_RANK)) or "",
                  updated_at=c.time("updated_at") or "", replaced_by=c.text("replaced_by", required=False),
                  created_at=c.time("created_at", required=False))
        c.done()
        return rec

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

def _till_key(c: _Checker) -> str:
    store, till = c.text("store_id", pattern=_ID), c.text("till_id", pattern=_ID)
    c.text("public_key", pattern=_HEX_KEY)
    return f"{store}/{till}"


def _coupon_use(c: _Checker) -> str:
    use_id = c.text("use_id", pattern=_ID)
    c.text("code", pattern=_COUPON_CODE)
    c.text("store_id", pattern=_ID)
    c.text("till_id", pattern=_ID)
    c.text("sale_id")  # any sale id a till accepted: a use must never be lost over its shape
    c.time("used_at")
    return use_id or ""


def _erasure(c: _Checker) -> str:
    erasure_id = c.text("erasure_id", pattern=_ID)
    c.text("member_id", pattern=_ID)
    c.text("store_id", pattern=_ID)
    c.text("till_id", pattern=_ID)
    c.time("at")
    return erasure_id or ""


# Each document type: a checker that validates its data and returns the key it must be pushed under.
_DOC_CHECKS = {"till_key": _till_key, "coupon_use": _coupon_use, "erasure": _erasure}
DOC_FIELDS = {
    "till_key": ("store_id", "till_id", "public_key"),
    "coupon_use": ("use_id", "code", "store_id", "till_id", "sale_id", "used_at"),
    "erasure": ("erasure_id", "member_id", "store_id", "till_id", "at"),
}


@dataclass(frozen=True, slots=True)
class DocRecord:
    """A document another capability asks sync to carry (`docs: [{type, key, data}]`), immutable once written.

    till_key: a till's Ed25519 coupon-signing public key (hex), key "store/till", first key wins.
    coupon_use: one use of a coupon at a till, key use_id. erasure: an erasure request, key erasure_id.
    Every document names the store and till that wrote it; head office takes a till's own documents only.
    """

    type: str
    key: str
    data: dict[str, Any]

    @classmethod
    def parse(cls, raw: Any) -> DocRecord:
        c = _Checker(raw)
        kind = c.text("type", choices=frozenset(DOC_TYPES)) or ""
        key = c.text("key") or ""
        data = c.data.get("data")
        if not isinstance(data, dict):
            c.reasons.append("data: must be a JSON object")
            data = {}
        if kind in _DOC_CHECKS:
            inner = _Checker(data)
            expected = _DOC_CHECKS[kind](inner)
            c.reasons.extend(f"data.{r}" for r in inner.reasons)
            if not inner.reasons and key != expected:
                c.reasons.append(f"key: must be {expected!r} for this {kind}")
            data = {f: data.get(f) for f in DOC_FIELDS[kind]}
        c.done()
        return cls(kind, key, data)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "key": self.key, "data": dict(self.data)}


def doc(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The wire form of a document, its key derived from its data."""
    key = f"{data['store_id']}/{data['till_id']}" if kind == "till_key" else str(
        data["use_id" if kind == "coupon_use" else "erasure_id"])
    return {"type": kind, "key": key, "data": {f: data.get(f) for f in DOC_FIELDS[kind]}}


REWARD_KINDS = frozenset({"amount_off", "percent_off", "free_product", "gift_certificate"})


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def validate_rule(key: str, value: Any) -> list[str]:
    """Why a program rule head office is asked to send cannot be sent to tills (empty when fine).

    Only the rules tills read from head office are checked; others travel as they are.
    """
    reasons: list[str] = []
    if key == "offline_redeem_cap":
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            reasons.append("offline_redeem_cap: a whole number of points >= 0")
    elif key == "rewards":
        if not isinstance(value, list) or not value:
            return ["rewards: a non-empty JSON list of rewards"]
        ids: set[str] = set()
        for i, r in enumerate(value):
            if not isinstance(r, dict):
                reasons.append(f"rewards[{i}]: must be an object")
                continue
            if not isinstance(r.get("id"), str) or not r["id"] or r["id"] in ids:
                reasons.append(f"rewards[{i}].id: a unique non-empty string")
            ids.add(str(r.get("id")))
            if not isinstance(r.get("name"), str) or not r["name"]:
                reasons.append(f"rewards[{i}].name: required")
            if r.get("kind") not in REWARD_KINDS:
                reasons.append(f"rewards[{i}].kind: one of {', '.join(sorted(REWARD_KINDS))}")
            if not _positive_int(r.get("points")):
                reasons.append(f"rewards[{i}].points: a positive whole number")
            if "value" in r and not (isinstance(r["value"], int) and not isinstance(r["value"], bool)):
                reasons.append(f"rewards[{i}].value: whole cents (or percent)")
            if r.get("kind") == "free_product" and not r.get("sku"):
                reasons.append(f"rewards[{i}].sku: a free product names its sku")
    elif key == "tiers":
        if not isinstance(value, list) or not value:
            return ["tiers: a non-empty JSON list of tiers"]
        for i, t in enumerate(value):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
                reasons.append(f"tiers[{i}]: an object with a name")
                continue
            for f in ("min_spend_cents", "multiplier_pct"):
                v = t.get(f, 0 if f == "min_spend_cents" else 100)
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    reasons.append(f"tiers[{i}].{f}: a whole number >= 0")
        if not reasons and min(int(t.get("min_spend_cents", 0)) for t in value) != 0:
            reasons.append("tiers: the lowest tier must have min_spend_cents = 0")
    return reasons


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
    members: list[MemberRecord] = field(default_factory=list)
    cards: list[CardRecord] = field(default_factory=list)
    docs: list[DocRecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @classmethod
    def parse(cls, body: Any) -> PushBatch:
        if not isinstance(body, dict):
            raise Invalid(["body must be a JSON object"])
        c = _Checker(body)
        store, till = c.text("store_id", pattern=_ID), c.text("till_id", pattern=_ID)
        if body.get("version", VERSION) != VERSION:
            c.reasons.append(f"version: this head office speaks version {VERSION}")
        for name in ("entries", "sales", "members", "cards", "docs"):
            if not isinstance(body.get(name, []), list):
                c.reasons.append(f"{name}: must be a list")
        c.done()
        batch = cls(store_id=store or "", till_id=till or "")
        for name, parser, target, keys in (
            ("entries", LedgerRecord.parse, batch.entries, ("entry_id", "seq")),
            ("sales", SaleRecord.parse, batch.sales, ("sale_id",)),
            ("members", MemberRecord.parse, batch.members, ("member_id",)),
            ("cards", CardRecord.parse, batch.cards, ("member_id",)),
            ("docs", DocRecord.parse, batch.docs, ("key",)),
        ):
            for i, raw in enumerate(body.get(name, [])):
                try:
                    target.append(parser(raw))
                except Invalid as exc:
                    batch.rejects.append(Reject(name, i, _key_of(raw, *keys), exc.reasons, raw))
        return batch

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "store_id": self.store_id, "till_id": self.till_id,
                "entries": [e.to_dict() for e in self.entries], "sales": [s.to_dict() for s in self.sales],
                "members": [m.to_dict() for m in self.members], "cards": [c.to_dict() for c in self.cards],
                "docs": [d.to_dict() for d in self.docs]}


@dataclass
class PushResult:
    """Head office's answer: what it took, what was already there, and the till's contiguous high seq."""

    accepted: int = 0
    duplicates: int = 0
    high_seq: int = 0
    gaps: list[list[int]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    sales: int = 0
    members: int = 0
    cards: int = 0
    merges: int = 0
    docs: int = 0
    # document types head office lacks from this till and wants (re)sent, e.g. ["till_key"]
    wants: list[str] = field(default_factory=list)
    server_time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PushResult:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class Change:
    cursor: int
    type: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "type": self.type, "data": self.data}


@dataclass
class PullPage:
    """Changes after a cursor, in head office's receive order; `next_cursor` never goes backwards."""

    changes: list[Change]
    next_cursor: int
    more: bool
    total_pending: int = 0
    server_time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "next_cursor": self.next_cursor,
                "more": self.more, "total_pending": self.total_pending, "server_time": self.server_time}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PullPage:
        changes = [Change(int(c["cursor"]), str(c["type"]), dict(c["data"])) for c in data.get("changes", [])]
        return cls(changes, int(data["next_cursor"]), bool(data.get("more")), int(data.get("total_pending", 0)),
                   str(data.get("server_time", "")))

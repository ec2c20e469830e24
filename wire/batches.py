"""The two sync exchanges: a till's push (PushBatch -> PushResult) and its pull (cursor -> PullPage).

Parsing a push never fails because of one record: the whole batch is decoded in one msgspec call, and
only when that refuses something is it taken apart record by record, each malformed record set aside
(`rejects`) with every reason while the rest is ingested.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any, ClassVar, TypedDict

import msgspec
from msgspec import Meta
from msgspec.structs import astuple

from wire import bulk_check
from wire.bounds import CURSOR
from wire.docs import DocRecord
from wire.errors import TOO_DEEP, Invalid, NotJson, explain, has_nul, json_value, nul_reasons, whole_numbers
from wire.fields import ChangeType, Count, Cursor, DocType, HighSeq, Id, Index, Seq, Version
from wire.records import CardRecord, LedgerRecord, MemberRecord, SaleRecord

_ENCODER = msgspec.json.Encoder()


def encode(message: Any) -> bytes:
    """JSON bytes of any wire message, or of plain dicts and lists holding them."""
    return _ENCODER.encode(message)


class Reject(msgspec.Struct, frozen=True, kw_only=True):
    """A record set aside with its reasons (kept at head office with its raw form, reported to the till)."""

    type: str
    index: Index
    key: str | None
    reasons: list[str]
    raw: Any = None

    def to_dict(self) -> RejectedRecord:
        return {"type": self.type, "index": self.index, "key": self.key, "reasons": self.reasons}


class PendingChange(msgspec.Struct, frozen=True):
    """A change the till's token may not make alone (another store's member erased or changed, a merge across
    stores, a large adjustment): head office keeps it as a request the owner or the member's store manager
    approves."""

    request_id: str
    kind: Annotated[str, Meta(description="erase | merge | adjust | profile")]
    member_id: str


class RejectedRecord(TypedDict):
    """A reject as the till learns it (a dict: the till reads it with .get)."""

    type: str
    index: Index
    key: str | None
    reasons: list[str]


# each list of a push, the record type it holds, and the fields that name a record in a reject
_PARTS: tuple[tuple[str, type[Any], tuple[str, ...]], ...] = (
    ("entries", LedgerRecord, ("entry_id", "seq")),
    ("sales", SaleRecord, ("sale_id",)),
    ("members", MemberRecord, ("member_id",)),
    ("cards", CardRecord, ("member_id",)),
    ("docs", DocRecord, ("key",)),
)


def _key_of(data: Any, names: tuple[str, ...]) -> str | None:
    if isinstance(data, dict):
        for n in names:
            value = data.get(n)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
    return None


class PushBatch(msgspec.Struct, kw_only=True, dict=True):
    """What one till sends in one request; parsing keeps the good records and lists the bad in `rejects`."""

    store_id: Id
    till_id: Id
    version: Version = 1
    entries: list[LedgerRecord] = []
    sales: list[SaleRecord] = []
    members: list[MemberRecord] = []
    cards: list[CardRecord] = []
    docs: list[DocRecord] = []

    @property
    def rejects(self) -> list[Reject]:
        """Malformed records set aside by parsing (not a wire field: never sent, never documented)."""
        found: list[Reject] = self.__dict__.setdefault("rejects", [])
        return found

    @classmethod
    def parse(cls, body: Any) -> PushBatch:
        """A decoded JSON body as a batch; Invalid only when the batch itself (not a record) is wrong."""
        try:
            batch = msgspec.convert(body, cls)
        except msgspec.ValidationError:
            body = whole_numbers(body)
            try:
                batch = msgspec.convert(body, cls)
            except msgspec.ValidationError:
                return cls._sort(body)
        return cls._sort(body) if has_nul(body) else batch

    @classmethod
    def decode(cls, raw: bytes) -> PushBatch:
        """A request body as a batch (NotJson when it is not JSON)."""
        fast = _decode_checked_in_bulk(raw)
        if fast is not None:
            return fast
        try:
            batch = _BATCH_DECODER.decode(raw)
        except msgspec.ValidationError:
            pass
        except msgspec.DecodeError as exc:
            raise NotJson(f"body is not JSON: {exc}") from None
        except RecursionError:
            raise NotJson(TOO_DEEP) from None
        else:
            if b"\\u0000" not in raw:  # free text holds no NUL (JSON writes it only as this escape)
                return batch
        return cls.parse(json_value(raw))

    @classmethod
    def _sort(cls, body: Any) -> PushBatch:
        """The slow path: record by record, every malformed one set aside with all its reasons."""
        if not isinstance(body, dict):
            raise Invalid(["body must be a JSON object"])
        head = {k: v for k, v in body.items() if k in ("store_id", "till_id", "version")}
        reasons = explain(cls, head)
        reasons += [f"{name}: must be a list" for name, _, _ in _PARTS if not isinstance(body.get(name, []), list)]
        if reasons:
            raise Invalid(reasons)
        batch = msgspec.convert(head, cls)
        for name, record, keys in _PARTS:
            target: list[Any] = getattr(batch, name)
            for i, raw in enumerate(body.get(name, [])):
                try:
                    found = msgspec.convert(raw, record)
                except msgspec.ValidationError as exc:
                    why = explain(record, raw) or [str(exc)]
                else:
                    if not (why := nul_reasons(record, raw)):
                        target.append(found)
                        continue
                batch.rejects.append(Reject(type=name, index=i, key=_key_of(raw, keys), reasons=why, raw=raw))
        return batch

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "store_id": self.store_id, "till_id": self.till_id,
                "entries": [e.to_dict() for e in self.entries], "sales": [s.to_dict() for s in self.sales],
                "members": [m.to_dict() for m in self.members], "cards": [c.to_dict() for c in self.cards],
                "docs": [d.to_dict() for d in self.docs]}


_BATCH_DECODER = msgspec.json.Decoder(PushBatch)


class _BulkLedgerRecord(LedgerRecord, frozen=True):
    """A ledger entry whose string patterns are left to `wire.bulk_check` (a whole batch in one regex pass)."""

    entry_id: str
    member_id: str
    store_id: str
    till_id: str
    created_at: str
    sale_id: str | None = None
    prev_hash: str | None = None
    entry_hash: str | None = None


class _BulkPushBatch(PushBatch, kw_only=True, dict=True):
    entries: list[_BulkLedgerRecord] = []  # type: ignore[assignment]  # decoded here, rebuilt as LedgerRecord


_BULK_DECODER = msgspec.json.Decoder(_BulkPushBatch)


def _decode_checked_in_bulk(raw: bytes) -> PushBatch | None:
    """The usual push, decoded with its entries' patterns checked in bulk: the same batch the strict decoder
    gives, or None when anything (a pattern, a NUL, any other refusal) needs the strict path and its reasons."""
    if b"\\" in raw and b"\\u0000" in raw:  # one memchr first: a body without escapes (the usual) holds no NUL
        return None
    try:
        got = _BULK_DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    es = got.entries
    def values(*fields: str) -> set[str | None]:  # C loops (map, set.union): half a generator's cost
        return set().union(*(map(attrgetter(f), es) for f in fields))

    ids = values("entry_id")
    if not ((bulk_check.all_hex(ids, 32) or bulk_check.all_match(bulk_check.UUIDS, ids))  # tills' ids: 32 hex
            and bulk_check.all_match(bulk_check.IDS, values("member_id", "store_id", "till_id", "sale_id"))
            and bulk_check.all_match(bulk_check.TIMES, values("created_at"))
            and bulk_check.all_hex(values("prev_hash", "entry_hash"), 64)):  # HASH_PATTERN
        return None
    return PushBatch(store_id=got.store_id, till_id=got.till_id, version=got.version,
                     entries=[LedgerRecord(*astuple(e)) for e in es], sales=got.sales, members=got.members,
                     cards=got.cards, docs=got.docs)

Gap = Annotated[list[Seq], Meta(min_length=2, max_length=2, description="[first, last] missing seq")]


class PushResult(msgspec.Struct, kw_only=True):
    """Head office's answer: what it took, what was already there, and the till's contiguous high seq."""

    accepted: Count
    duplicates: Count
    high_seq: Annotated[HighSeq, Meta(description="highest seq up to which the till's sequence is held")]
    gaps: list[Gap]
    rejected: list[RejectedRecord]
    sales: Count
    members: Count
    cards: Count
    merges: Count
    docs: Count
    wants: Annotated[list[DocType], Meta(description="document types head office lacks from this till (send)")]
    server_time: str
    pending: Annotated[list[PendingChange], Meta(
        description="changes sent for approval at head office (the push is answered 202)")] = []

    # why head office sets aside a record that is well formed: it conflicts with what it already holds
    # What head office checks beyond the schema (headoffice/store/validate.py): a record is set aside with one
    # of these in its reason.
    CONFLICTS: ClassVar[tuple[str, ...]] = ("already holds another entry of this till",
                                            "head office already holds another key",
                                            "already holds an entry with other content",
                                            "past this till's sequence",
                                            "points per unit",
                                            "points on a total of")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> PushResult:
        return msgspec.convert(data, cls)


class Change(msgspec.Struct):
    """One change a till pulls; `data` has the shape of its type (documented per type in the OpenAPI)."""

    cursor: Annotated[int, Meta(ge=1, le=CURSOR.high)]
    type: ChangeType
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "type": self.type, "data": self.data}


class PullPage(msgspec.Struct):
    """Changes after a cursor, in head office's receive order; `next_cursor` never goes backwards."""

    changes: list[Change]
    next_cursor: Cursor
    more: bool
    total_pending: Count = 0
    server_time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "next_cursor": self.next_cursor,
                "more": self.more, "total_pending": self.total_pending, "server_time": self.server_time}

    @classmethod
    def from_dict(cls, data: Any) -> PullPage:
        return msgspec.convert(data, cls)


class RecoverPage(msgspec.Struct):
    """A restored till's own entries (seq order) and sales (created_at, sale_id order) head office holds,
    and the till's high seq there: the till numbers its next entry past it."""

    entries: list[LedgerRecord]
    sales: list[SaleRecord]
    high_seq: HighSeq
    more: bool

"""The field types of the sync protocol: every constraint is declared here once, so the decoder
(msgspec), the error messages (`wire.errors`) and the OpenAPI document (`wire.openapi`) read the same rule.

Patterns end in `$(?!\\n)`: Python's `$` also matches before a final newline, JSON Schema's does not, and the
document must mean what the server does. Numbers are bounded so that a sum of them always fits the
64-bit integers both head-office databases store.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from msgspec import Meta

from wire.bounds import CENTS, COUNT, CURSOR, POINTS, QUANTITY, SEQ

VERSION: Final = 1
PREFIX: Final = "/v1"
MAX_TEXT: Final = 500
MAX_AMOUNT: Final = CENTS.high  # points or cents in one record (wire.bounds): 10 billion in currency
MAX_SEQ: Final = SEQ.high  # a till's sequence (exact in every JSON reader)

LEDGER_KINDS = frozenset({"earn", "redeem", "adjust", "reverse", "expire", "bonus"})
MEMBER_STATUSES = frozenset({"active", "erased", "merged"})
CARD_STATUSES = frozenset({"active", "lost", "blocked"})
CHANNELS = frozenset({"email", "sms", "post", "phone"})
DOC_TYPES = ("till_key", "coupon_use", "erasure", "offer_target", "tier_change")  # documents sync carries
PUSH_ONLY_DOCS = ("tier_change",)  # documents tills push and head office keeps for its reports, never pulled
CHANGE_TYPES = ("member", "card", "entry", "balance", "rule", "product",
                *(d for d in DOC_TYPES if d not in PUSH_ONLY_DOCS))
# Card states only move forward: a till can never re-activate a card head office blocked.
CARD_RANK = {"active": 0, "lost": 1, "blocked": 2}

LedgerKind = Literal["earn", "redeem", "adjust", "reverse", "expire", "bonus"]
MemberStatus = Literal["active", "erased", "merged"]
CardStatus = Literal["active", "lost", "blocked"]
Channel = Literal["email", "sms", "post", "phone"]
OfferGroup = Literal["treated", "control"]
DocType = Literal["till_key", "coupon_use", "erasure", "offer_target", "tier_change"]
ChangeType = Literal["member", "card", "entry", "balance", "rule", "product", "till_key", "coupon_use", "erasure",
                     "offer_target"]

_END = r"$(?!\n)"
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}" + _END
UUID_PATTERN = r"^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})" + _END
HEX_KEY_PATTERN = r"^[0-9a-f]{64}" + _END
COUPON_CODE_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}" + _END
# PostgreSQL text cannot hold NUL. Free text says so in its schema, but the check is made once per message
# (`wire.errors.nul_reasons`: one scan of the bytes) rather than by a regex on every field: the decode of a
# push batch is ~30% faster for it (bench/figures/wire.py).
TEXT_PATTERN = r"^[^\u0000]*$"
_NUL_FREE: dict[str, object] = {"nul_free": True}

# ISO-8601 as tills write it (`datetime.isoformat`): a real calendar date (leap years included), an
# optional time to the second, milli- or microsecond, and an optional offset. Every match parses with
# `datetime.fromisoformat` (tests/sync/test_wire_schema.py checks it). Digits are [0-9]: Python's \d
# also takes other scripts' digits, JSON Schema's does not.
_YEAR = r"(?:[1-9][0-9]{3}|0(?:[1-9][0-9]{2}|0[1-9][0-9]|00[1-9]))"
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_DATE = (rf"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
         rf"|02-(?:0[1-9]|1[0-9]|2[0-8]))|{_LEAP_YEAR}-02-29)")
_CLOCK = r"(?:[01][0-9]|2[0-3])(?::[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{3}|\.[0-9]{6})?)?)?"
_TIME = rf"(?:[T ]{_CLOCK}(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?"
TIME_PATTERN = f"^{_DATE}{_TIME}{_END}"
DAY_PATTERN = f"^{_DATE}{_END}"
# An offer's id is the till's config text: bounded so that a document key "offer/sale" stays within MAX_TEXT.
MAX_OFFER_ID: Final = 200
MAX_WINDOW_DAYS: Final = 3660  # ten years, as a coupon's valid_days

Id = Annotated[str, Meta(pattern=ID_PATTERN, description="1-64 letters, digits or _ . : -")]
Uuid = Annotated[str, Meta(pattern=UUID_PATTERN, description="UUID: 32 hex digits, or dashed")]
Text = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT, extra_json_schema={"pattern": TEXT_PATTERN},
                           extra=_NUL_FREE)]
AnyText = Annotated[str, Meta(max_length=MAX_TEXT, extra_json_schema={"pattern": TEXT_PATTERN},
                              extra=_NUL_FREE)]  # optional free text: "" allowed
Time = Annotated[str, Meta(min_length=1, pattern=TIME_PATTERN, description="ISO-8601 time",
                           extra={"reason": "not an ISO-8601 time"})]
Day = Annotated[str, Meta(pattern=DAY_PATTERN, description="ISO-8601 date (YYYY-MM-DD)",
                          extra={"reason": "not an ISO-8601 date"})]
OfferId = Annotated[str, Meta(min_length=1, max_length=MAX_OFFER_ID, extra_json_schema={"pattern": TEXT_PATTERN},
                              extra=_NUL_FREE, description="an offer's id as in the till's [[program.offers]]")]
BasisPoints = Annotated[int, Meta(ge=0, le=10_000, description="a share in hundredths of a percent")]
WindowDays = Annotated[int, Meta(ge=1, le=MAX_WINDOW_DAYS, description="days")]
HexKey = Annotated[str, Meta(pattern=HEX_KEY_PATTERN, description="Ed25519 public key, 64 hex digits")]
CouponCode = Annotated[str, Meta(pattern=COUPON_CODE_PATTERN)]
Amount = Annotated[int, Meta(ge=-MAX_AMOUNT, le=MAX_AMOUNT, description="whole points or cents")]
Points = Annotated[int, Meta(ge=POINTS.low, le=POINTS.high, description="whole points")]
Cents = Annotated[int, Meta(ge=CENTS.low, le=CENTS.high, description="whole cents")]
Quantity = Annotated[int, Meta(ge=QUANTITY.low, le=QUANTITY.high, description="units")]
Count = Annotated[int, Meta(ge=COUNT.low, le=COUNT.high)]
Positive = Annotated[int, Meta(ge=1, le=MAX_AMOUNT)]
Seq = Annotated[int, Meta(ge=1, le=MAX_SEQ, description="the till's gap-free sequence")]
HighSeq = Annotated[int, Meta(ge=0, le=MAX_SEQ, description="a till's high seq (0: none yet)")]
Cursor = Annotated[int, Meta(ge=CURSOR.low, le=CURSOR.high, description="head office's server_seq")]
Index = Annotated[int, Meta(ge=0, le=COUNT.high, description="a record's position in its list")]
Consent = Annotated[dict[Channel, bool], Meta(description="channel -> granted",
                                              extra={"reason": "must map email/sms/post/phone to true or false"})]
Version = Annotated[Literal[1], Meta(extra={"reason": f"this head office speaks version {VERSION}"})]

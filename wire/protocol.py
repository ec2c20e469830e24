"""The sync protocol, version 1 (`/v1`), as till and head office import it.

The messages are defined once, as typed msgspec Structs in the modules below; this module only gathers
their public names. msgspec was chosen on speed (bench/figures/wire.py: encode + decode of a push batch
against pydantic and the former hand validation).

- `wire.fields`: constants and the constrained field types (patterns, bounds, enums)
- `wire.records`: ledger entries, sales, members, cards
- `wire.docs`: documents (till keys, coupon uses, erasures, offer targetings, tier changes)
- `wire.batches`: push and pull (PushBatch, PushResult, PullPage, Change, Reject), `encode`
- `wire.rules`: the program rules tills read, `validate_rule`
- `wire.messages`: the other HTTP bodies (errors, registration, reports, products)
- `wire.openapi`: the route table and the OpenAPI document generated from all of the above
"""

from __future__ import annotations

from wire.batches import Change, PullPage, PushBatch, PushResult, Reject, RejectedRecord, encode
from wire.docs import (
    DOC_DATA,
    DOC_FIELDS,
    CouponUseData,
    DocRecord,
    ErasureData,
    OfferTargetData,
    TierChangeData,
    TillKeyData,
    doc,
)
from wire.errors import Invalid, NotJson, convert, decode
from wire.fields import (
    CARD_RANK,
    CARD_STATUSES,
    CHANGE_TYPES,
    CHANNELS,
    DOC_TYPES,
    LEDGER_KINDS,
    MAX_TEXT,
    MEMBER_STATUSES,
    PREFIX,
    PUSH_ONLY_DOCS,
    VERSION,
)
from wire.records import LEDGER_COLUMNS, CardRecord, LedgerRecord, MemberRecord, SaleLine, SaleRecord
from wire.rules import REWARD_KINDS, RULE_KEYS, ProgramRules, Reward, Tier, validate_rule

__all__ = [
    "CARD_RANK", "CARD_STATUSES", "CHANGE_TYPES", "CHANNELS", "DOC_DATA", "DOC_FIELDS", "DOC_TYPES",
    "LEDGER_COLUMNS", "LEDGER_KINDS", "MAX_TEXT", "MEMBER_STATUSES", "PREFIX", "PUSH_ONLY_DOCS", "REWARD_KINDS",
    "RULE_KEYS", "VERSION", "CardRecord", "Change", "CouponUseData", "DocRecord", "ErasureData", "Invalid",
    "LedgerRecord", "MemberRecord", "NotJson", "OfferTargetData", "ProgramRules", "PullPage", "PushBatch",
    "PushResult", "Reject", "RejectedRecord", "Reward", "SaleLine", "SaleRecord", "Tier", "TierChangeData",
    "TillKeyData", "convert", "decode", "doc", "encode", "validate_rule",
]

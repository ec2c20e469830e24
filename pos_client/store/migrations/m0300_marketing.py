"""Rewards and marketing: tiers, managers and approvals, redemptions, signed coupons and their
uses, till public keys, lifecycle stages, offers shown, erasures.

History tables (tiers, stages, approvals, coupon uses, erasures) are append-only like the
ledger: reports count movements from them and sync carries them as they are.
"""

from __future__ import annotations

import sqlite3

from pos_client.store.migrations.m0001_core import _split

APPEND_ONLY = ("member_tiers", "member_stages", "approvals", "coupon_uses", "erasures")

DDL = """
CREATE TABLE member_tiers (
    member_id  TEXT NOT NULL REFERENCES members(member_id),
    tier       TEXT NOT NULL,
    prev_tier  TEXT,
    since      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    sale_id    TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_member_tiers ON member_tiers(member_id, since);

CREATE TABLE managers (
    manager_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    pin_hash   TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE pin_lock (
    scope        TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT
);

CREATE TABLE approvals (
    approval_id  TEXT PRIMARY KEY,
    manager_id   TEXT NOT NULL REFERENCES managers(manager_id),
    manager_name TEXT NOT NULL,
    action       TEXT NOT NULL,
    ref          TEXT,
    reason       TEXT,
    store_id     TEXT NOT NULL,
    till_id      TEXT NOT NULL,
    at           TEXT NOT NULL
);

CREATE TABLE redemptions (
    redemption_id TEXT PRIMARY KEY,
    member_id     TEXT NOT NULL REFERENCES members(member_id),
    reward_id     TEXT NOT NULL,
    points        INTEGER NOT NULL CHECK (points > 0),
    value         INTEGER NOT NULL,
    coupon_code   TEXT NOT NULL,
    entry_id      TEXT NOT NULL,
    approval_id   TEXT NOT NULL REFERENCES approvals(approval_id),
    restored_entry_id TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX idx_redemptions_member ON redemptions(member_id, created_at);

CREATE TABLE coupons (
    code          TEXT PRIMARY KEY,
    token         TEXT NOT NULL UNIQUE,
    store_id      TEXT NOT NULL,
    till_id       TEXT NOT NULL,
    serial        INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    value         INTEGER NOT NULL,
    sku           TEXT,
    expires       TEXT NOT NULL,
    member_id     TEXT,
    source        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (store_id, till_id, serial)
);

CREATE TABLE coupon_uses (
    use_id   TEXT PRIMARY KEY,
    code     TEXT NOT NULL,
    store_id TEXT NOT NULL,
    till_id  TEXT NOT NULL,
    sale_id  TEXT NOT NULL,
    used_at  TEXT NOT NULL,
    UNIQUE (code, store_id, till_id, sale_id)
);
CREATE INDEX idx_coupon_uses_code ON coupon_uses(code);

CREATE TABLE till_keys (
    store_id   TEXT NOT NULL,
    till_id    TEXT NOT NULL,
    public_key BLOB NOT NULL,
    added_at   TEXT NOT NULL,
    PRIMARY KEY (store_id, till_id)
);

CREATE TABLE member_stages (
    member_id  TEXT NOT NULL REFERENCES members(member_id),
    stage      TEXT NOT NULL,
    prev_stage TEXT,
    since      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_member_stages ON member_stages(member_id, since);

CREATE TABLE offer_log (
    offer_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    sale_id     TEXT NOT NULL,
    coupon_code TEXT,
    message     TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (offer_id, sale_id)
);
CREATE INDEX idx_offer_log_member ON offer_log(member_id, offer_id, at);

CREATE TABLE erasures (
    erasure_id  TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL,
    store_id    TEXT NOT NULL,
    till_id     TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    at          TEXT NOT NULL
);
"""


def apply(db: sqlite3.Connection) -> None:
    for statement in _split(DDL):
        db.execute(statement)
    for table in APPEND_ONLY:
        for op in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )

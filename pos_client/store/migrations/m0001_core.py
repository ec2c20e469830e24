"""Till core: members, cards, consent, products, sales, the append-only ledger, balances."""

from __future__ import annotations

import sqlite3

DDL = """
CREATE TABLE members (
    member_id   TEXT PRIMARY KEY,
    name        TEXT,
    phone       TEXT,
    email       TEXT,
    store_id    TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','erased','merged')),
    merged_into TEXT REFERENCES members(member_id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX idx_members_phone ON members(phone);
CREATE INDEX idx_members_name ON members(name COLLATE NOCASE);

CREATE TABLE cards (
    card_number TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL REFERENCES members(member_id),
    source      TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','lost','blocked')),
    replaced_by TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX idx_cards_member ON cards(member_id);

CREATE TABLE member_consent (
    member_id TEXT NOT NULL REFERENCES members(member_id),
    channel   TEXT NOT NULL,
    granted   INTEGER NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (member_id, channel)
);

CREATE TABLE products (
    sku         TEXT PRIMARY KEY,
    ean         TEXT UNIQUE,
    name        TEXT NOT NULL,
    category    TEXT NOT NULL DEFAULT 'general',
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    updated_at  TEXT NOT NULL
);

CREATE TABLE sales (
    sale_id       TEXT PRIMARY KEY,
    store_id      TEXT NOT NULL,
    till_id       TEXT NOT NULL,
    member_id     TEXT REFERENCES members(member_id),
    total_cents   INTEGER NOT NULL,
    tender        TEXT NOT NULL DEFAULT 'cash',
    points_earned INTEGER NOT NULL DEFAULT 0,
    balance_after INTEGER,
    content_hash  TEXT NOT NULL,
    operator      TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX idx_sales_member ON sales(member_id, created_at);

CREATE TABLE sale_lines (
    sale_id      TEXT NOT NULL REFERENCES sales(sale_id),
    line_no      INTEGER NOT NULL,
    sku          TEXT,
    ean          TEXT,
    name         TEXT NOT NULL,
    category     TEXT NOT NULL,
    qty          INTEGER NOT NULL CHECK (qty > 0),
    unit_cents   INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL,
    points       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sale_id, line_no)
);

CREATE TABLE refunds (
    refund_id       TEXT PRIMARY KEY,
    sale_id         TEXT NOT NULL REFERENCES sales(sale_id),
    amount_cents    INTEGER NOT NULL,
    points_reversed INTEGER NOT NULL,
    balance_after   INTEGER,
    content_hash    TEXT NOT NULL,
    operator        TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX idx_refunds_sale ON refunds(sale_id);

CREATE TABLE refund_lines (
    refund_id    TEXT NOT NULL REFERENCES refunds(refund_id),
    sale_id      TEXT NOT NULL,
    line_no      INTEGER NOT NULL,
    qty          INTEGER NOT NULL CHECK (qty > 0),
    amount_cents INTEGER NOT NULL,
    points       INTEGER NOT NULL,
    PRIMARY KEY (refund_id, line_no),
    FOREIGN KEY (sale_id, line_no) REFERENCES sale_lines(sale_id, line_no)
);
CREATE INDEX idx_refund_lines_sale ON refund_lines(sale_id, line_no);

CREATE TABLE ledger (
    entry_id     TEXT PRIMARY KEY,
    member_id    TEXT NOT NULL REFERENCES members(member_id),
    store_id     TEXT NOT NULL,
    till_id      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('earn','redeem','adjust','reverse','expire','bonus')),
    points       INTEGER NOT NULL,
    sale_id      TEXT,
    amount_cents INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    operator     TEXT,
    reason       TEXT,
    ref          TEXT,
    UNIQUE (store_id, till_id, seq)
);
CREATE INDEX idx_ledger_member ON ledger(member_id, created_at);
CREATE INDEX idx_ledger_sale ON ledger(sale_id);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the points ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the points ledger is append-only'); END;

CREATE TABLE balances (
    member_id  TEXT PRIMARY KEY REFERENCES members(member_id),
    points     INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE till_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def apply(db: sqlite3.Connection) -> None:
    for statement in _split(DDL):
        db.execute(statement)


def _split(sql: str) -> list[str]:
    """Split on ';' at statement ends, keeping trigger bodies whole."""
    out, buf = [], []
    for line in sql.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and (not text.upper().startswith("CREATE TRIGGER") or text.endswith("END;")):
            out.append(text)
            buf = []
    return out

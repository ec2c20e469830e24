"""Sync state on the till: token, push high-water seq, pull cursor, last sync, and an outbox.

Own ledger entries need no outbox: they are the rows of this till with seq above the push
high-water mark head office confirmed. Members, cards and sales change in place, so triggers
record their keys in `sync_outbox`; the triggers stay quiet while pulled changes are applied
(`sync_apply.applying = 1` inside the applying transaction) so nothing echoes back.

Entries pulled from other tills are inserted into `ledger` itself with their own store, till and
seq, in the same transaction that moves the balance, so `balances` stays the sum of `ledger`.
"""

from __future__ import annotations

import sqlite3

from pos_client.store.migrations.m0001_core import _split

DDL = """
CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE sync_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, key TEXT NOT NULL);
CREATE TABLE sync_apply (applying INTEGER NOT NULL);
INSERT INTO sync_apply (applying) VALUES (0);
CREATE TABLE sync_rules (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TRIGGER sync_members_ins AFTER INSERT ON members WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('member', NEW.member_id); END;
CREATE TRIGGER sync_members_upd AFTER UPDATE ON members WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('member', NEW.member_id); END;
CREATE TRIGGER sync_consent_ins AFTER INSERT ON member_consent WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('member', NEW.member_id); END;
CREATE TRIGGER sync_consent_upd AFTER UPDATE ON member_consent WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('member', NEW.member_id); END;
CREATE TRIGGER sync_cards_ins AFTER INSERT ON cards WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('card', NEW.card_number); END;
CREATE TRIGGER sync_cards_upd AFTER UPDATE ON cards WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('card', NEW.card_number); END;
CREATE TRIGGER sync_sales_ins AFTER INSERT ON sales WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('sale', NEW.sale_id); END;
INSERT INTO sync_outbox (type, key) SELECT 'member', member_id FROM members;
INSERT INTO sync_outbox (type, key) SELECT 'card', card_number FROM cards;
INSERT INTO sync_outbox (type, key) SELECT 'sale', sale_id FROM sales;
"""


def apply(db: sqlite3.Connection) -> None:
    for statement in _split(DDL):
        db.execute(statement)

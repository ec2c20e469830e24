"""Sync outbox for marketing: coupon uses and erasures written at this till are queued for head office.

Numbered after m0300 (which creates the tables) and tracked by name like every migration. Like
m0200 for members, the triggers stay quiet while pulled changes are applied (`sync_apply.applying`),
so a use or an erasure that came from another till never echoes back. Rows written before this
migration are queued once.
"""

from __future__ import annotations

import sqlite3

from pos_client.store.migrations.m0001_core import _split

DDL = """
CREATE TRIGGER sync_coupon_uses_ins AFTER INSERT ON coupon_uses WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('coupon_use', NEW.use_id); END;
CREATE TRIGGER sync_erasures_ins AFTER INSERT ON erasures WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('erasure', NEW.erasure_id); END;
INSERT INTO sync_outbox (type, key) SELECT 'coupon_use', use_id FROM coupon_uses;
INSERT INTO sync_outbox (type, key) SELECT 'erasure', erasure_id FROM erasures;
"""


def apply(db: sqlite3.Connection) -> None:
    for statement in _split(DDL):
        db.execute(statement)

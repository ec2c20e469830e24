"""Sync outbox for offer targetings: every `offer_targets` row this till writes is queued for head office.

Head office runs the offer-lift report across stores on these rows (docs/offer-lift.md, "At head office"),
and every other till pulls them, so a frequency cap and a member's recorded group hold chain-wide. The
outbox key is "offer_id/sale_id" (the table's primary key; a sale id has no "/", so it splits at the
last one). Like m0310, the trigger stays quiet while pulled changes are applied (`sync_apply.applying`),
so another till's row never echoes back, and the rows written before this migration are queued once
(the push builds only this till's own rows: copies of another till's rows are skipped there).
"""

from __future__ import annotations

import sqlite3

from pos_client.store.migrations.m0001_core import _split

DDL = """
CREATE TRIGGER sync_offer_targets_ins AFTER INSERT ON offer_targets WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('offer_target', NEW.offer_id || '/' || NEW.sale_id); END;
INSERT INTO sync_outbox (type, key) SELECT 'offer_target', offer_id || '/' || sale_id FROM offer_targets ORDER BY at;
"""


def apply(db: sqlite3.Connection) -> None:
    for statement in _split(DDL):
        db.execute(statement)

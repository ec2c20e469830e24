"""Sync outbox for tier changes: every `member_tiers` row this till writes is queued for head office.

Head office's tier-migration report and its console's tier mix run on these rows from every till
(issue 12, "the Gold -> Silver question"). An upgrade on a sale, a review day's downgrade and the rows an
import of history writes all pass through the one table, so one trigger queues them all. The outbox key is
the row's rowid: `member_tiers` is append-only (no update, no delete), so a rowid always names the row it
was queued for. Like m0310, the trigger stays quiet while `sync_apply.applying` is set (head office's
report snapshot sets it); the rows written before this migration are queued once, in order.
"""

from __future__ import annotations

import sqlite3

from pos_client.store.migrations.m0001_core import _split

DDL = """
CREATE TRIGGER sync_member_tiers_ins AFTER INSERT ON member_tiers WHEN (SELECT applying FROM sync_apply) = 0
BEGIN INSERT INTO sync_outbox (type, key) VALUES ('tier_change', CAST(NEW.rowid AS TEXT)); END;
INSERT INTO sync_outbox (type, key) SELECT 'tier_change', CAST(rowid AS TEXT) FROM member_tiers ORDER BY rowid;
"""


def apply(db: sqlite3.Connection) -> None:
    for statement in _split(DDL):
        db.execute(statement)

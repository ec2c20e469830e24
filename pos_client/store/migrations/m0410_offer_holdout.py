"""Offers measured against a control group: every time an offer is chosen for a member, in which group.

`offer_targets` has one row per visit at which an offer was chosen for a member: `grp` 'treated' (the
member got it: `offer_log` holds what was printed) or 'control' (held out: recorded as "would have
received it", given nothing). `holdout_bp` is the held-out share in force then, in basis points (0: no
control group, as for every row copied from `offer_log` written before this migration); `window_days` how
long after the visit the offer-lift report looks for a purchase (kept with the row, so head office needs
no offer configuration). Caps count these rows, so a held-out member is capped like a treated one.

Append-only like the ledger. Synced as the `offer_target` document: m0420 adds the outbox trigger and queues
the rows written before it (as m0310 did for coupon uses); offer presentations (`offer_log`) stay at the till.
"""

from __future__ import annotations

import sqlite3

from pos_client.store.migrations.m0001_core import _split

DDL = """
CREATE TABLE offer_targets (
    offer_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    sale_id     TEXT NOT NULL,
    grp         TEXT NOT NULL CHECK (grp IN ('treated', 'control')),
    holdout_bp  INTEGER NOT NULL CHECK (holdout_bp BETWEEN 0 AND 10000),
    window_days INTEGER NOT NULL CHECK (window_days > 0),
    coupon_code TEXT,
    store_id    TEXT NOT NULL,
    till_id     TEXT NOT NULL,
    day         TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (offer_id, sale_id)
);
CREATE INDEX idx_offer_targets_member ON offer_targets(offer_id, member_id, day);
CREATE INDEX idx_offer_targets_sale ON offer_targets(sale_id);
CREATE TRIGGER offer_targets_no_update BEFORE UPDATE ON offer_targets
BEGIN SELECT RAISE(ABORT, 'offer_targets is append-only'); END;
CREATE TRIGGER offer_targets_no_delete BEFORE DELETE ON offer_targets
BEGIN SELECT RAISE(ABORT, 'offer_targets is append-only'); END;
INSERT INTO offer_targets (offer_id, member_id, sale_id, grp, holdout_bp, window_days, coupon_code, store_id, till_id,
                           day, at)
SELECT l.offer_id, l.member_id, l.sale_id, 'treated', 0, 30, l.coupon_code, COALESCE(s.store_id, ''),
       COALESCE(s.till_id, ''), substr(l.at, 1, 10), l.at
FROM offer_log l LEFT JOIN sales s ON s.sale_id = l.sale_id ORDER BY l.at;
"""


def apply(db: sqlite3.Connection) -> None:
    for statement in _split(DDL):
        db.execute(statement)

"""Schema version 5: the tills' ledger hash chain kept at head office (issue 11, finding 4).

Each pushed entry carries `prev_hash` and `entry_hash` (`wire.ledger_chain`); head office verifies them as
the entries arrive (`headoffice.store.validate.check_chain`, a break is quarantined with its reason) and
keeps them, so the next push links to what it holds and a till pulling entries gets them as they were.
Entries taken before this version keep NULL (no chain to check against). Same SQL on both dialects.
"""

from __future__ import annotations

from headoffice.store.db import Db


def apply(db: Db) -> None:
    db.execute("ALTER TABLE ledger ADD COLUMN prev_hash TEXT")
    db.execute("ALTER TABLE ledger ADD COLUMN entry_hash TEXT")

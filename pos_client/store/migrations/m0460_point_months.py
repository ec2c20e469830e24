"""Each member's points by month (`point_months`) and the members whose lots need the ledger (`point_irregular`).

Kept by a trigger on the ledger, in the transaction of each row, and filled here from the ledger already
held (`pos_client.store.point_months`): the points-liability report reads it instead of every ledger row.
"""

from __future__ import annotations

import sqlite3

from pos_client.store import point_months


def apply(db: sqlite3.Connection) -> None:
    point_months.create(db)

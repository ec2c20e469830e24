"""Every member's lifecycle stage at once: the day's upkeep (`record_stages`) and the reports (`stages_at`).

Kept apart from `lifecycle` (one member at a time, what a sale's hook needs) because it works in
numpy array passes over `purchase_table`: the till's start and its sales never load numpy.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pos_client.domain.dates import as_date
from pos_client.services.marketing import pacing, purchase_table
from pos_client.services.marketing.lifecycle import record, stage_rules
from pos_client.services.marketing.purchase_table import PurchaseTable
from pos_client.store.context import TillContext
from pos_client.store.db import write_txn

CHUNK = 1000  # stage changes per write transaction: a sale never waits long on the day's upkeep


def stages_at(ctx: TillContext, day: date, table: PurchaseTable | None = None) -> dict[str, str]:
    """Every member with a purchase by `day` -> their stage at its end (`table` from `purchase_table.read`, any end).

    All members at once in array passes (`purchase_table.stages`); the same rules as `stage_of_days`.
    """
    t = purchase_table.read(ctx, day) if table is None else table
    members, codes = purchase_table.stages(t, day.toordinal(), stage_rules(ctx))
    return dict(zip([t.ids[i] for i in members.tolist()], purchase_table.stage_names(codes), strict=True))


def _recorded(ctx: TillContext, members: list[str] | None = None) -> dict[str, str]:
    """The last recorded stage of every member (or of `members`)."""
    among = f" WHERE member_id IN ({','.join('?' * len(members))})" if members is not None else ""
    return dict(ctx.conn.execute(
        "SELECT member_id, stage FROM member_stages WHERE rowid IN"
        f" (SELECT MAX(rowid) FROM member_stages{among} GROUP BY member_id)", members or []).fetchall())


def record_stages(ctx: TillContext, as_of: date | str | None = None) -> list[dict[str, Any]]:
    """Evaluate every member's stage as of the day (time alone moves people to at risk or lapsed).

    One read of every purchase day and of the last recorded stage, then the pure rules: a day's
    upkeep for a million members stays a bulk job, not a query per member. The changes are written
    `CHUNK` members per write transaction, each member's last stage read again under the lock (a sale
    that recorded a newer stage meanwhile wins), so a sale never waits long. Running it twice for the
    same day records nothing the second time.
    """
    day = as_date(as_of)
    recorded = _recorded(ctx)
    proposed = [(member_id, stage) for member_id, stage in sorted(stages_at(ctx, day).items())
                if stage != recorded.get(member_id)]
    out = []
    for part in pacing.paced(ctx.conn, [proposed[i:i + CHUNK] for i in range(0, len(proposed), CHUNK)]):
        with write_txn(ctx.conn):  # paced: a sale waiting for the lock gets it between two chunks
            now = _recorded(ctx, [m for m, _ in part])
            for member_id, stage in part:
                if now.get(member_id) != recorded.get(member_id):
                    continue
                change = record(ctx, member_id, stage, day, now.get(member_id))
                if change:
                    out.append(change)
    return out

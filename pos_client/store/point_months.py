"""Each member's points by month: the ledger summed per (member, month), kept by a trigger on every insert.

Why: points liability as of a day (docs/marketing.md) is, per member, min(balance by the day, points earned in
the twelve months before it): summing ten million ledger rows for it took minutes at chain scale; reading
these rows (and the ledger only for the two part months at the window's ends) takes seconds.

`net` is the month's sum of every entry; `gain` the sum of its positive entries that are lots (not expiry).
That is the lot rule exactly unless a sale's lot nets negative entries (a refund's reversal, a negative earn)
or spreads over days: such members are listed in `point_irregular` and computed from the ledger.

Derived data: the trigger writes it in the transaction of the ledger row (every writer: checkout, the
importer, sync, bulk loads that keep triggers), `rebuild` makes it again from the ledger, and `differences`
lets doctor check it. The ledger itself stays append-only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

# A lot's positive part, as the trigger and the rebuild count it (expiry is never a lot).
GAIN = "CASE WHEN {t}.kind != 'expire' AND {t}.points > 0 THEN {t}.points ELSE 0 END"
# A sale's lot entries (earn, tier bonus, refund reversal) net into one lot dated on the sale's day.
_IN_SALE_LOT = "{t}.sale_id IS NOT NULL AND {t}.kind IN ('earn', 'bonus', 'reverse')"

DDL = (
    "CREATE TABLE point_months (member_id TEXT NOT NULL, month TEXT NOT NULL, net INTEGER NOT NULL,"
    " gain INTEGER NOT NULL, PRIMARY KEY (member_id, month)) WITHOUT ROWID",
    "CREATE TABLE point_irregular (member_id TEXT PRIMARY KEY) WITHOUT ROWID",
    f"""CREATE TRIGGER ledger_point_months AFTER INSERT ON ledger BEGIN
    INSERT INTO point_months (member_id, month, net, gain)
    VALUES (NEW.member_id, substr(NEW.created_at, 1, 7), NEW.points, {GAIN.format(t='NEW')})
    ON CONFLICT (member_id, month) DO UPDATE SET net = net + excluded.net, gain = gain + excluded.gain;
    INSERT OR IGNORE INTO point_irregular (member_id) SELECT NEW.member_id
    WHERE {_IN_SALE_LOT.format(t='NEW')} AND (NEW.points < 0 OR EXISTS (
        SELECT 1 FROM ledger l WHERE l.sale_id = NEW.sale_id AND l.member_id = NEW.member_id
        AND l.kind IN ('earn', 'bonus', 'reverse') AND substr(l.created_at, 1, 10) != substr(NEW.created_at, 1, 10)));
END""",
)

_MONTHS_SQL = (f"SELECT member_id, substr(created_at, 1, 7) AS month, SUM(points) AS net,"
               f" SUM({GAIN.format(t='ledger')}) AS gain FROM ledger GROUP BY member_id, month")
_IRREGULAR_SQL = f"""
SELECT member_id FROM ledger l WHERE {_IN_SALE_LOT.format(t='l')} AND points < 0
UNION
SELECT member_id FROM ledger l WHERE {_IN_SALE_LOT.format(t='l')}
GROUP BY member_id, sale_id HAVING MIN(substr(created_at, 1, 10)) != MAX(substr(created_at, 1, 10))
"""


TRIGGER = "ledger_point_months"


@contextmanager
def bulk_load(conn: sqlite3.Connection) -> Iterator[None]:
    """A bulk insert into the ledger without the per-row trigger (its lookup by sale id needs the ledger's indexes,
    which a bulk load drops: row by row it would scan the ledger for each row), then the summary made once from
    the loaded ledger and the trigger put back; all inside the caller's write transaction."""
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (TRIGGER,)).fetchone()
    conn.execute(f'DROP TRIGGER "{TRIGGER}"')
    yield
    rebuild(conn)
    conn.execute(sql)


def create(conn: sqlite3.Connection) -> None:
    """The tables and the trigger (migration m0460), filled from the ledger already there."""
    for statement in DDL:
        conn.execute(statement)
    rebuild(conn)


def rebuild(conn: sqlite3.Connection) -> None:
    """Make both tables again from the ledger (inside the caller's write transaction)."""
    conn.execute("DELETE FROM point_months")
    conn.execute("DELETE FROM point_irregular")
    conn.execute(f"INSERT INTO point_months (member_id, month, net, gain) {_MONTHS_SQL}")
    conn.execute(f"INSERT INTO point_irregular (member_id) {_IRREGULAR_SQL}")


def differences(conn: sqlite3.Connection, limit: int = 10) -> list[str]:
    """Members whose summary rows disagree with the ledger (empty when it is right), for doctor."""
    rows = conn.execute(
        f"""SELECT COALESCE(l.member_id, p.member_id), COALESCE(l.month, p.month) FROM ({_MONTHS_SQL}) l
        FULL JOIN point_months p ON p.member_id = l.member_id AND p.month = l.month
        WHERE l.member_id IS NULL OR p.member_id IS NULL OR l.net != p.net OR l.gain != p.gain
        LIMIT ?""", (limit,)).fetchall()
    missing = conn.execute(f"SELECT member_id FROM ({_IRREGULAR_SQL}) EXCEPT SELECT member_id FROM point_irregular"
                           " LIMIT ?", (limit,)).fetchall()
    return [f"{m} {month}" for m, month in rows] + [f"{m} irregular" for (m,) in missing]

"""Every member's distinct purchase days as flat arrays, and every member's lifecycle stage at once.

Why: the reports and the day's upkeep ask the stage of every member (a million at head office); one
Python call per member and per purchase day cost 15-35 s there. Here SQLite hands back one string per
member (its sale days, 10 characters each, from the covering index on sales(member_id, created_at)),
numpy turns them into day numbers and applies the rules of docs/marketing.md to all members in a few
vectorised passes. The pure `pos_client.domain.lifecycle` stays the definition (`twice_median_gap` of the
days before a return, when bounds do not settle it, is computed for all such returns at once by sorting their
gaps: one Python call each cost 30 s for a million members), and the tests compare both on generated logs.

With ten million sales (head office) that one index-only query alone took 40-130 s on a loaded machine, so
a snapshot that is written once and read many times (head office's) keeps `member_purchase_days`: a
thousand rows of 1,024 members each, their purchase days and each day's sale count and spend encoded as
characters (decoded at once as UTF-32), built by one SQL pass (`build_summary`) and used by `read` only while
no sale has been added since (`SUMMARY_META`). A till keeps none: its sales change with every sale.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from pos_client.domain.dates import plus_days
from pos_client.domain.lifecycle import STAGES, StageRules
from pos_client.services.marketing.report_base import of_store
from pos_client.store.context import TillContext

Ints = npt.NDArray[np.int64]
NEW, ACTIVE, AT_RISK, LAPSED, REACTIVATED = range(5)  # codes: indexes into STAGES
_SHIFT = 21  # day numbers (< 2**20 until year 2870) and gaps fit below the member index
_LOW = (1 << _SHIFT) - 1
_EPOCH = date(1970, 1, 1).toordinal()


def ordinals_of(y: Ints, m: Ints, d: Ints) -> Ints:
    """`date(y, m, d).toordinal()` for arrays (days from civil, proleptic Gregorian, integers only)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468 + _EPOCH, np.int64)


def month_indexes(ordinals: Ints) -> Ints:
    """`report_base.month_index` (year x 12 + month - 1) for arrays of day numbers."""
    z = ordinals - _EPOCH + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + np.where(mp < 10, 3, -9)
    year = yoe + era * 400 + (month <= 2)
    return np.asarray(year * 12 + month - 1, np.int64)


@dataclass(frozen=True)
class PurchaseTable:
    """Distinct (member, day) pairs sorted by member then day; `member` indexes `ids`. `sales` and `cents`
    (that day's sale count and spend) are there when read from the summary with `amounts=True`."""

    ids: list[str]
    member: Ints
    day: Ints
    sales: Ints | None = None
    cents: Ints | None = None

    def upto(self, end: int) -> PurchaseTable:
        keep = self.day <= end
        if bool(keep.all()):
            return self
        return PurchaseTable(self.ids, self.member[keep], self.day[keep],
                             None if self.sales is None else self.sales[keep],
                             None if self.cents is None else self.cents[keep])

    def groups(self) -> tuple[Ints, Ints, Ints]:
        """(first position, one past the last position, member index) of each member present."""
        n = len(self.day)
        if not n:  # no purchase at all (a new till, a head office before its first sync): no groups
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        starts = np.flatnonzero(np.r_[True, self.member[1:] != self.member[:-1]])
        return starts, np.r_[starts[1:], n].astype(np.int64), self.member[starts]


SUMMARY = "member_purchase_days"
SUMMARY_META = "member_purchase_days_meta"  # the last sale's rowid when the summary was built
# Text whose characters' code points are the numbers (decoded at once as UTF-32): a purchase day is one
# character, days since 1970 (1 to 55295, below the surrogates: until 2121); a day's sale count and spend
# are four, 1 + the count and 1 + each 15-bit third of the cents (no NUL character in SQLite text).
_DAY_MAX, _CHUNK = 55295, 1 << 15
_CHUNK_MEMBERS = 1024  # members per summary row: a million members are a thousand rows to fetch
_SUMMARY_SQL = """
INSERT INTO {summary} (chunk, ids, counts, days, amounts, ok)
SELECT chunk, group_concat(member_id, char(10)), group_concat(char(length(days)), ''), group_concat(days, ''),
       group_concat(amounts, ''), MIN(ok) FROM (
    SELECT member_id, days, amounts, ok AND instr(member_id, char(10)) = 0 AND length(days) < {days_max} AS ok,
           {chunk} AS chunk FROM (
        SELECT member_id, group_concat(char(d), '') AS days,
               group_concat(char(n + 1, (c >> 30) + 1, ((c >> 15) & 32767) + 1, (c & 32767) + 1), '') AS amounts,
               MIN(d) >= 1 AND MAX(d) <= {day_max} AND MAX(n) < {count_max} AND MIN(c) >= 0
               AND MAX(c) < {cents_max} AS ok
        FROM (SELECT member_id, CAST(julianday(substr(created_at, 1, 10)) - 2440587.5 AS INTEGER) AS d,
                     COUNT(*) AS n, SUM(total_cents) AS c FROM sales {source}
              GROUP BY member_id, d ORDER BY member_id, d)
        GROUP BY member_id))
GROUP BY chunk
"""


def _summary_sql(chunk: str, source: str) -> str:
    return _SUMMARY_SQL.format(summary=SUMMARY, chunk=chunk, source=source, day_max=_DAY_MAX, count_max=_CHUNK - 1,
                               cents_max=_CHUNK ** 3, days_max=_CHUNK)


def build_summary(conn: sqlite3.Connection) -> bool:
    """(Re)build the purchase summary of a snapshot from its sales in one SQL pass, in the caller's
    transaction (NOT INDEXED: one sequential scan and a sort beats a lookup of each sale through the member
    index, 3x at a million sales). False (and no summary) when a day, count or spend is outside what it encodes."""
    conn.execute(f"DROP TABLE IF EXISTS {SUMMARY}")
    conn.execute(f"DROP TABLE IF EXISTS {SUMMARY_META}")
    conn.execute(f"CREATE TABLE {SUMMARY} (chunk INTEGER PRIMARY KEY, ids TEXT NOT NULL, counts TEXT NOT NULL,"
                 " days TEXT NOT NULL, amounts TEXT NOT NULL, ok INTEGER NOT NULL)")
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute("PRAGMA cache_size = -262144")  # 256 MB: the sort of every sale stays mostly in memory
    try:
        conn.execute(_summary_sql(f"(row_number() OVER (ORDER BY member_id) - 1) / {_CHUNK_MEMBERS}",
                                  "NOT INDEXED WHERE member_id IS NOT NULL"))
    finally:
        conn.execute(f"PRAGMA cache_size = {int(cache)}")
    if conn.execute(f"SELECT 1 FROM {SUMMARY} WHERE NOT ok LIMIT 1").fetchone():
        conn.execute(f"DROP TABLE {SUMMARY}")  # e.g. a sale dated before 1970 or a negative total: index path
        return False
    conn.execute(f"CREATE TABLE {SUMMARY_META} (sales_rowid INTEGER)")
    conn.execute(f"INSERT INTO {SUMMARY_META} SELECT COALESCE(MAX(rowid), 0) FROM sales")
    return True


def rebuild_chunk(conn: sqlite3.Connection, chunk: int, low: str | None, high: str | None) -> bool:
    """Replace one summary row by the members in [low, high) (None: unbounded), from their sales through the
    member index (a snapshot's daily refresh, `headoffice.snapshot_delta`); False when one is not encodable."""
    conn.execute(f"DELETE FROM {SUMMARY} WHERE chunk = ?", (chunk,))
    where = "member_id IS NOT NULL" + (" AND member_id >= :low" if low is not None else "") + (
        " AND member_id < :high" if high is not None else "")
    conn.execute(_summary_sql(str(int(chunk)), f"INDEXED BY idx_sales_member WHERE {where}"),
                 {"low": low, "high": high})
    return conn.execute(f"SELECT 1 FROM {SUMMARY} WHERE chunk = ? AND NOT ok", (chunk,)).fetchone() is None


def has_summary(conn: sqlite3.Connection) -> bool:
    """The summary exists and no sale was added since it was built (else it is ignored)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (SUMMARY_META,)).fetchone():
        return False
    built = conn.execute(f"SELECT sales_rowid FROM {SUMMARY_META}").fetchone()
    return built is not None and built[0] == conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM sales").fetchone()[0]


def _days_of(text: bytes) -> Ints:
    """Day numbers of concatenated YYYY-MM-DD strings."""
    digits = np.frombuffer(text, np.uint8).reshape(-1, 10).astype(np.int64) - 48
    y = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    return ordinals_of(y, digits[:, 5] * 10 + digits[:, 6], digits[:, 8] * 10 + digits[:, 9])


def _code_points(texts: list[str]) -> Ints:
    """The characters' code points of the concatenated texts."""
    return np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32).astype(np.int64)


def read(ctx: TillContext, end: date, store: str | None = None, *, amounts: bool = False) -> PurchaseTable:
    """Every member's distinct purchase days up to the end of `end` (one grouped, index-only query, or the
    summary where a snapshot has one); with `store`, only the members whose home store it is
    (`report_base.of_store`). With `amounts`, each day's sale count and spend where the summary has them."""
    if has_summary(ctx.conn):
        return _read_summary(ctx, end, store, amounts)
    cur = ctx.conn.cursor()
    cur.row_factory = None  # plain tuples: a million rows
    only, params = of_store(store)
    rows = cur.execute(
        "SELECT member_id, group_concat(substr(created_at, 1, 10), '') FROM sales"
        f" WHERE member_id IS NOT NULL AND created_at < ?{only} GROUP BY member_id",
        (plus_days(end, 1).isoformat(), *params)).fetchall()
    ids = [r[0] for r in rows]
    counts = np.fromiter((len(r[1]) // 10 for r in rows), np.int64, len(rows))
    days = _days_of("".join(r[1] for r in rows).encode("ascii"))
    key = (np.repeat(np.arange(len(ids), dtype=np.int64), counts) << _SHIFT) | days
    if len(key) and not bool((key[1:] >= key[:-1]).all()):  # SQLite's order within a group is not promised
        key.sort()
    key = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
    return PurchaseTable(ids, key >> _SHIFT, key & _LOW)


def _read_summary(ctx: TillContext, end: date, store: str | None, amounts: bool) -> PurchaseTable:
    cur = ctx.conn.cursor()
    cur.row_factory = None
    rows = cur.execute(f"SELECT ids, counts, days{', amounts' if amounts else ''} FROM {SUMMARY}"
                       " ORDER BY chunk").fetchall()
    ids = "\n".join(r[0] for r in rows).split("\n") if rows else []
    counts = _code_points([r[1] for r in rows])
    member = np.repeat(np.arange(len(ids), dtype=np.int64), counts)
    key = (member << _SHIFT) | (_code_points([r[2] for r in rows]) + _EPOCH)
    sales = cents = None
    if amounts:
        chars = _code_points([r[3] for r in rows]).reshape(-1, 4) - 1
        sales, cents = chars[:, 0], (chars[:, 1] << 30) | (chars[:, 2] << 15) | chars[:, 3]
    keep = key >= 0
    if store is not None:  # the members whose home store it is (`report_base.of_store`)
        home = {r[0] for r in cur.execute("SELECT member_id FROM members WHERE store_id = ?", (store,))}
        keep = np.fromiter((i in home for i in ids), bool, len(ids))[member]
    keep &= (key & _LOW) <= end.toordinal()
    key = key[keep]
    sales, cents = (None, None) if sales is None or cents is None else (sales[keep], cents[keep])
    if len(key) and not bool((key[1:] > key[:-1]).all()):  # built sorted and distinct; stay exact if not
        order = np.argsort(key, kind="stable")
        key = key[order]
        heads = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        key = key[heads]
        if sales is not None and cents is not None:
            sales, cents = np.add.reduceat(sales[order], heads), np.add.reduceat(cents[order], heads)
    return PurchaseTable(ids, key >> _SHIFT, key & _LOW, sales, cents)


def stages(table: PurchaseTable, end: int, rules: StageRules) -> tuple[Ints, Ints]:
    """(member index, stage code) of every member with a purchase by the end of day `end` (docs/marketing.md)."""
    t = table.upto(end)
    starts, ends, members = t.groups()
    if not len(members):
        return members, members
    m, d = t.member, t.day
    n, first, recency = ends - starts, d[starts], end - d[ends - 1]
    is_start = np.zeros(len(d), bool)
    is_start[starts] = True
    gap = np.r_[0, np.diff(d)]
    gap[is_start] = 0
    # 2 x the median gap: gaps sorted within each member, then the middle one or two
    ngaps = n - 1
    sorted_gaps = np.sort((m[~is_start] << _SHIFT) | gap[~is_start]) & _LOW
    offset = np.r_[0, np.cumsum(ngaps)[:-1]].astype(np.int64)
    mid = np.minimum(offset + ngaps // 2, max(len(sorted_gaps) - 1, 0))
    below = np.maximum(mid - 1, 0)
    if len(sorted_gaps):
        u2 = np.where(ngaps % 2 == 1, 2 * sorted_gaps[mid], sorted_gaps[below] + sorted_gaps[mid])
    else:
        u2 = np.zeros(len(n), np.int64)
    code = np.full(len(n), ACTIVE, np.int64)
    code[np.where(n == 1, recency > rules.second_purchase_days, 2 * recency > rules.at_risk_factor * u2)] = AT_RISK
    code[end - first <= rules.new_days] = NEW
    code[recency > rules.lapsed_days] = LAPSED
    code[_reactivated(d, m, gap, is_start, starts, first, code, end, rules)] = REACTIVATED
    return members, code


def _reactivated(d: Ints, m: Ints, gap: Ints, is_start: npt.NDArray[np.bool_], starts: Ints, first: Ints,
                 code: Ints, end: int, rules: StageRules) -> Ints:
    """Group numbers (positions in `starts`) of the at risk or active members who came back (the rule's dk)."""
    group = np.cumsum(is_start) - 1
    pos = np.flatnonzero(~is_start & (end - d <= rules.reactivated_days))
    pos = pos[np.isin(code[group[pos]], (AT_RISK, ACTIVE))]
    if not len(pos):
        return pos
    g = group[pos]
    before = d[pos] - 1  # the end of day dk - 1, with d1..d(k-1) = positions start .. pos - 1
    rp = before - d[pos - 1]
    prior = pos - starts[g]
    lapsed = rp > rules.lapsed_days
    settled_new = before - first[g] <= rules.new_days
    yes = lapsed | (~settled_new & (prior == 1) & (rp > rules.second_purchase_days))
    open_ = ~lapsed & ~settled_new & (prior >= 2)
    # the median of d1..d(k-1)'s gaps lies between their smallest and largest gap: most cases end here
    high = np.maximum.accumulate((m << _SHIFT) | gap) & _LOW
    low = _LOW - (np.maximum.accumulate((m << _SHIFT) | np.where(is_start, 0, _LOW - gap)) & _LOW)
    k = rules.at_risk_factor
    yes |= open_ & (rp > k * high[pos - 1])
    unsure = np.flatnonzero(open_ & (rp > k * low[pos - 1]) & ~(rp > k * high[pos - 1]))
    if len(unsure):  # 2 x the median of each prefix's gaps (`twice_median_gap`), all prefixes at once
        yes[unsure] = 2 * rp[unsure] > k * _prefix_twice_medians(gap, starts[g[unsure]] + 1, pos[unsure])
    return np.unique(g[yes])


def _prefix_twice_medians(gap: Ints, first: Ints, stop: Ints) -> Ints:
    """`twice_median_gap` of each run gap[first:stop] (at least one gap each), in batches of ~16M gaps."""
    out = np.zeros(len(first), np.int64)
    lengths = stop - first
    batch = np.cumsum(lengths) >> 24
    for b in np.unique(batch).tolist():
        which = np.flatnonzero(batch == b)
        n = lengths[which]
        offset = np.cumsum(n) - n
        seg = np.repeat(np.arange(len(which), dtype=np.int64), n)
        values = gap[first[which][seg] + np.arange(len(seg), dtype=np.int64) - offset[seg]]
        ordered = np.sort((seg << _SHIFT) | values) & _LOW  # each run's gaps sorted, runs in order
        mid = offset + n // 2
        out[which] = np.where(n % 2 == 1, 2 * ordered[mid], ordered[np.maximum(mid - 1, 0)] + ordered[mid])
    return out


def stage_names(codes: Ints) -> list[str]:
    return [STAGES[c] for c in codes.tolist()]

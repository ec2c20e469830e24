"""Every member's distinct purchase days as flat arrays, and every member's lifecycle stage at once.

Why: the reports and the day's upkeep ask the stage of every member (a million at head office); one
Python call per member and per purchase day cost 15-35 s there. Here SQLite hands back one string per
member (its sale days, 10 characters each, from the covering index on sales(member_id, created_at)),
numpy turns them into day numbers and applies the rules of docs/marketing.md to all members in a few
vectorised passes. The pure `pos_client.domain.lifecycle` stays the definition: the one step with no
cheap array form (the median gap of the days before a return, when bounds do not settle it) calls it,
and the tests compare both on generated logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from pos_client.domain.dates import plus_days
from pos_client.domain.lifecycle import STAGES, StageRules, twice_median_gap
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
    """Distinct (member, day) pairs sorted by member then day; `member` indexes `ids`."""

    ids: list[str]
    member: Ints
    day: Ints

    def upto(self, end: int) -> PurchaseTable:
        keep = self.day <= end
        return self if bool(keep.all()) else PurchaseTable(self.ids, self.member[keep], self.day[keep])

    def groups(self) -> tuple[Ints, Ints, Ints]:
        """(first position, one past the last position, member index) of each member present."""
        n = len(self.day)
        if not n:  # no purchase at all (a new till, a head office before its first sync): no groups
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        starts = np.flatnonzero(np.r_[True, self.member[1:] != self.member[:-1]])
        return starts, np.r_[starts[1:], n].astype(np.int64), self.member[starts]


def read(ctx: TillContext, end: date, store: str | None = None) -> PurchaseTable:
    """Every member's distinct purchase days up to the end of `end` (one grouped, index-only query); with
    `store`, only the members whose home store it is (`report_base.of_store`)."""
    cur = ctx.conn.cursor()
    cur.row_factory = None  # plain tuples: a million rows
    only, params = of_store(store)
    rows = cur.execute(
        "SELECT member_id, group_concat(substr(created_at, 1, 10), '') FROM sales"
        f" WHERE member_id IS NOT NULL AND created_at < ?{only} GROUP BY member_id",
        (plus_days(end, 1).isoformat(), *params)).fetchall()
    ids = [r[0] for r in rows]
    text = "".join(r[1] for r in rows).encode("ascii")
    counts = np.fromiter((len(r[1]) // 10 for r in rows), np.int64, len(rows))
    digits = (np.frombuffer(text, np.uint8).reshape(-1, 10).astype(np.int64) - 48)
    y = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    days = ordinals_of(y, digits[:, 5] * 10 + digits[:, 6], digits[:, 8] * 10 + digits[:, 9])
    key = (np.repeat(np.arange(len(ids), dtype=np.int64), counts) << _SHIFT) | days
    if len(key) and not bool((key[1:] >= key[:-1]).all()):  # SQLite's order within a group is not promised
        key.sort()
    key = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
    return PurchaseTable(ids, key >> _SHIFT, key & _LOW)


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
    for i in unsure:  # the pure definition itself, on this member's days before dk
        p = int(pos[i])
        u2 = twice_median_gap(d[starts[g[i]]:p].tolist())
        if u2 is not None and 2 * int(rp[i]) > k * u2:
            yes[i] = True
    return np.unique(g[yes])


def stage_names(codes: Ints) -> list[str]:
    return [STAGES[c] for c in codes.tolist()]

"""Imported history replayed as if it had been lived: tier upgrades and bonuses at each sale, and
each day's upkeep (expiry, the tier review, lifecycle stages) for every day of the history.

`import sales` hands the sales over in the order they happened (by day; within a day, file order)
and writes what comes back in its one transaction. The rules are the till's own, computed in memory
for the members in the file instead of by a query per member per day, so a year and a half of
history imports at tens of thousands of rows a second:

- at each sale: the 12-month qualifying spend (`tiers.qualifying_spend`), an upgrade dated on the
  sale when it earns a higher tier, then the tier bonus at the tier held after the sale
  (`tiers.on_sale`), then the lifecycle stage as of that day (`lifecycle.on_sale`);
- at the end of each day: the expiry due (`expiry.due_by_member`, FIFO or inactivity), on review days
  the tier review (`tiers.evaluate_tiers`), then every changed lifecycle stage (`stage_review.record_stages`).

Each member starts from what the till already holds for them (tier, buckets of points, purchase days,
last stage); those rows count as before the history (exact for a till adopting the system, where the
history comes first). `tests/marketing/test_upkeep_import.py` holds it to that: a till that imports a history
equals, entry for entry, tier row for tier row and stage row for stage row, a till that recorded the
same sales at the till with the day's upkeep run each day; `tests/marketing/test_replay_schedule.py` holds the
stage-check schedule to the one first written, for random histories and rules.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import accumulate
from typing import Any, NamedTuple

from pos_client.domain.dates import add_months, end_of_day
from pos_client.domain.lifecycle import StageRules, stage_of_ordinals, twice_median_gap
from pos_client.services.marketing import lifecycle, tiers
from pos_client.services.marketing.upkeep import DayResult
from pos_client.services.program_settings import Tier
from pos_client.services.program_settings import expiry as expiry_rules
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso

LedgerRow = tuple[str, str, str, str, int, str, int, str | None, int, str, str | None, str | None, str | None]


class ReplaySale(NamedTuple):
    """One imported sale as the rules see it: its day as a day number (`date.toordinal()`). A named tuple:
    the importer makes one per sale, and a frozen dataclass's init cost more than the rest of its row."""

    sale_id: str
    member_id: str
    created_at: str
    day: int
    points: int
    qualifying_cents: int


@dataclass(slots=True)
class _Dated:
    """Amounts by day, queried over a window: rows already on the till, then the replay's own in order."""

    seed_days: list[int] = field(default_factory=list)
    seed_sums: list[int] = field(default_factory=list)  # running sums
    days: list[int] = field(default_factory=list)
    sums: list[int] = field(default_factory=list)

    def seed(self, rows: list[tuple[int, int]]) -> None:
        rows.sort()
        self.seed_days = [d for d, _ in rows]
        self.seed_sums = list(accumulate(a for _, a in rows))

    def add(self, day: int, amount: int) -> None:
        self.days.append(day)
        self.sums.append((self.sums[-1] if self.sums else 0) + amount)

    def window(self, lo: int, hi: int) -> int:
        """Sum of amounts dated after `lo` and on or before `hi` (`upto(hi) - upto(lo)`, in one call: the tier
        check asks it at every sale and for every member on each review day)."""
        total = 0
        if self.seed_days:
            i, j = bisect_right(self.seed_days, hi), bisect_right(self.seed_days, lo)
            total = (self.seed_sums[i - 1] if i else 0) - (self.seed_sums[j - 1] if j else 0)
        days = self.days
        if days:
            i, j = bisect_right(days, hi), bisect_right(days, lo)
            total += (self.sums[i - 1] if i else 0) - (self.sums[j - 1] if j else 0)
        return total

    def upto(self, day: int) -> int:
        """Sum of amounts dated on or before `day`."""
        i, j = bisect_right(self.seed_days, day), bisect_right(self.days, day)
        return (self.seed_sums[i - 1] if i else 0) + (self.sums[j - 1] if j else 0)


@dataclass(slots=True)
class _Member:
    tier: str
    active: bool = True
    joined: int | None = None
    spend: _Dated = field(default_factory=_Dated)  # qualifying cents (refunds negative)
    earned: _Dated = field(default_factory=_Dated)  # positive buckets of points (FIFO)
    spent: int = 0  # negative buckets: redemptions, adjustments, reversals
    expired: int = 0
    balance: int = 0
    last_purchase: int | None = None
    ordinals: list[int] = field(default_factory=list)
    stage: str | None = None


class Replay:
    """The members of one import, their state, and the rows the history adds (for the importer to write)."""

    def __init__(self, ctx: TillContext, new_members: dict[str, int], old_members: set[str]) -> None:
        self.ctx = ctx
        self.ladder: list[Tier] = tiers.tiers(ctx)
        self.rank = {t.name: i for i, t in enumerate(self.ladder)}
        self.multiplier = {t.name: t.multiplier_pct for t in self.ladder}
        self._mins = [t.min_spend_cents for t in self.ladder]  # ascending from 0 (program_settings sorts them)
        self._order: list[str] | None = None  # the members sorted, once: the set is fixed after __init__
        self.period = tiers.review_period(ctx)
        self.expiry = expiry_rules(ctx)
        self.stage_rules: StageRules = lifecycle.stage_rules(ctx)
        self.members: dict[str, _Member] = {m: _Member(self.ladder[0].name, joined=d) for m, d in new_members.items()}
        self.ledger: list[LedgerRow] = []
        self.tier_rows: list[tuple[str, str, str | None, str, str, str | None, str]] = []
        self.stage_rows: list[tuple[str, str, str | None, str, str]] = []
        self.days: list[DayResult] = []
        self._checks: dict[int, set[str]] = defaultdict(set)  # day -> members whose expiry or stage may move
        self._ts = now_iso()
        _seed(ctx, self, sorted(old_members))
        zero = self._tier_for(0)
        # Lowest tier, no spend before the history, no sale in it yet: a review passes them by (`_review`).
        self._idle = {k for k, m in self.members.items() if m.tier == zero and not m.spend.seed_days}
        for member_id in old_members:  # what they already hold can expire or move stage during the history
            m = self.members[member_id]
            if self.expiry["mode"] == "after_earning":
                for day in set(m.earned.seed_days):
                    self._check(member_id, _matures(day, self.expiry["months"]))
            last = m.last_purchase if m.last_purchase is not None else m.joined
            if self.expiry["mode"] == "inactivity" and last is not None:
                self._check(member_id, _months_ahead(last, self.expiry["months"]))
            if m.ordinals:
                self._schedule_stage_checks(member_id, m)

    # --- at a sale ------------------------------------------------------------------------------

    def sale(self, s: ReplaySale) -> None:
        member_id, day, points = s.member_id, s.day, s.points
        m = self.members[member_id]
        self._idle.discard(member_id)
        m.spend.add(day, s.qualifying_cents)
        target = self._tier_for(m.spend.window(_months_back(day, 12), day))
        if self.rank[target] > self.rank.get(m.tier, 0):
            iso = date.fromordinal(day).isoformat()
            self.tier_rows.append((member_id, target, m.tier, iso, "upgrade", s.sale_id, self._ts))
            m.tier = target
        bonus = points * (self.multiplier.get(m.tier, 100) - 100) // 100
        if bonus > 0:
            reason = f"{tiers.BONUS_REASON}{m.tier}"
            self._entry(member_id, "bonus", bonus, s.sale_id, s.created_at, reason, s.sale_id)
        mode, months = self.expiry["mode"], self.expiry["months"]
        if points + bonus > 0:
            m.earned.add(day, points + bonus)
            if mode == "after_earning":
                self._checks[_matures(day, months)].add(member_id)
        m.balance += points + bonus
        m.last_purchase = day if m.last_purchase is None else max(m.last_purchase, day)
        if mode == "inactivity":
            self._checks[_months_ahead(day, months)].add(member_id)
        ordinals = m.ordinals
        if not ordinals or ordinals[-1] < day:
            ordinals.append(day)
        elif day not in ordinals:
            ordinals.insert(bisect_right(ordinals, day), day)
        else:  # a second sale on a purchase day: the checks scheduled when that day was added stand as they are
            self._stage(member_id, m, day)
            return
        self._stage(member_id, m, day)
        self._schedule_stage_checks(member_id, m)

    # --- at the end of a day --------------------------------------------------------------------

    def end_of_day(self, day: int, first: bool) -> None:
        """The day's upkeep for the replayed members (`first`: everyone is checked, whatever they held)."""
        due = set(self.members) if first else self._checks.pop(day, set())
        if first:
            self._checks.pop(day, None)
        order = sorted(due)  # once: expiry, then stages, walk the same members in the same order
        expired_members = expired_points = 0
        for member_id in order:
            points = self._due(self.members[member_id], day)
            if points > 0:
                self._expire(member_id, points, day)
                expired_members += 1
                expired_points += points
        tier_changes = self._review(day) if tiers.is_review_day(date.fromordinal(day), self.period) else 0
        stage_changes = 0
        for member_id in order:
            stage_changes += self._stage(member_id, self.members[member_id], day)
        self.days.append(DayResult(date.fromordinal(day).isoformat(), "import", expired_members, expired_points,
                                   tier_changes, stage_changes))

    def _due(self, m: _Member, day: int) -> int:
        if m.balance <= 0 or self.expiry["mode"] == "none":
            return 0
        months = self.expiry["months"]
        if self.expiry["mode"] == "inactivity":
            last = m.last_purchase if m.last_purchase is not None else m.joined
            if last is None or _months_ahead(last, months) > day:
                return 0
            return m.balance
        old = m.earned.upto(_months_back(day, months))
        return max(0, min(old - m.spent - m.expired, m.balance))

    def _expire(self, member_id: str, points: int, day: int) -> None:
        m = self.members[member_id]
        iso = date.fromordinal(day).isoformat()
        self._entry(member_id, "expire", -points, None, end_of_day(date.fromordinal(day)),
                    f"expiry:{self.expiry['mode']}", f"expiry:{iso}")
        m.expired += points
        m.balance -= points

    def _review(self, day: int) -> int:
        """The tier review on a period's last day: every replayed member to the tier their spend earns."""
        iso = date.fromordinal(day).isoformat()
        changes = 0
        if self._order is None:
            self._order = sorted(self.members)
        back, zero, idle = _months_back(day, 12), self._tier_for(0), self._idle
        for member_id in self._order:
            if member_id in idle:
                continue  # the check below would pass them by too: lowest tier, nothing bought, nothing held
            m = self.members[member_id]
            if not m.active or m.joined is None or m.joined > day:
                continue
            spend = m.spend
            if m.tier == zero and not spend.seed_days and (not spend.days or spend.days[0] > day):
                continue  # nothing bought by the day: a spend of 0 keeps the tier it gives
            target = self._tier_for(spend.window(back, day))
            if target != m.tier:
                reason = "upgrade" if self.rank[target] > self.rank.get(m.tier, 0) else "downgrade"
                self.tier_rows.append((member_id, target, m.tier, iso, reason, None, self._ts))
                m.tier = target
                changes += 1
        return changes

    def _tier_for(self, spend: int) -> str:
        """`tiers.tier_for_spend` (the last tier whose minimum the spend reaches) by bisection on the ladder."""
        return self.ladder[bisect_right(self._mins, max(0, spend)) - 1].name

    # --- lifecycle ------------------------------------------------------------------------------

    def _stage(self, member_id: str, m: _Member, day: int) -> int:
        ordinals = m.ordinals if not m.ordinals or m.ordinals[-1] <= day else [o for o in m.ordinals if o <= day]
        stage = stage_of_ordinals(ordinals, day, self.stage_rules)
        if stage is None or stage == m.stage:
            return 0
        self.stage_rows.append((member_id, stage, m.stage, date.fromordinal(day).isoformat(), self._ts))
        m.stage = stage
        return 1

    def _schedule_stage_checks(self, member_id: str, m: _Member) -> None:
        """The days a stage can move without a purchase: every threshold of the rules, counted from the
        last purchase (at risk, lapsed), the first (no longer new) and each recent one (no longer reactivated).
        Each day's bucket is a set, so the member goes straight into each (no set of days built first), and the
        recent purchases are walked back from the last (the purchase days are sorted) until one is too old."""
        r, ordinals, checks = self.stage_rules, m.ordinals, self._checks
        last = ordinals[-1]
        checks[last + r.second_purchase_days + 1].add(member_id)
        checks[last + r.lapsed_days + 1].add(member_id)
        checks[ordinals[0] + r.new_days + 1].add(member_id)
        u2 = twice_median_gap(ordinals)
        if u2 is not None:
            checks[last + r.at_risk_factor * u2 // 2 + 1].add(member_id)
        after = r.reactivated_days + 1
        for d in reversed(ordinals):
            if d + after <= last:
                break
            checks[d + after].add(member_id)

    # --- rows -----------------------------------------------------------------------------------

    def _check(self, member_id: str, day: int) -> None:
        self._checks[day].add(member_id)

    def _entry(self, member_id: str, kind: str, points: int, sale_id: str | None, created_at: str, reason: str,
               ref: str | None) -> None:
        self.ledger.append((ledger.new_id(), member_id, self.ctx.store_id, self.ctx.till_id, 0, kind, points,
                            sale_id, 0, created_at, self.ctx.operator, reason, ref))


@lru_cache(maxsize=65536)
def _months_back(day: int, months: int) -> int:
    return add_months(date.fromordinal(day), -months).toordinal()


@lru_cache(maxsize=65536)
def _months_ahead(day: int, months: int) -> int:
    return add_months(date.fromordinal(day), months).toordinal()


@lru_cache(maxsize=65536)
def _matures(day: int, months: int) -> int:
    """The first day D whose cutoff (D - `months`) reaches `day`: when points earned on `day` expire."""
    d = _months_ahead(day, months)
    while _months_back(d, months) < day:
        d += 1
    return d


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[i: i + size] for i in range(0, len(ids), size)]


# The history tables `_seed` reads per chunk of members (sales also for the lines, refunds for their lines).
_SEEDED_FROM = ("member_tiers", "member_stages", "sales", "refunds", "ledger")


def _held(conn: sqlite3.Connection) -> frozenset[str]:
    """Which of them hold a row. Why: into a fresh till (a store adopting the system) they are all empty, and their
    queries, asked per 500 members, cost more than the replay's own work for those members."""
    return frozenset(t for t in _SEEDED_FROM if conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{t}")').fetchone()[0])


def _rows(conn: sqlite3.Connection, held: frozenset[str], table: str, sql: str, params: Sequence[Any]
          ) -> Iterable[Any]:
    """The query's rows, or none without asking when `table` holds none (its rows come only from there)."""
    return conn.execute(sql, params) if table in held else ()


def _seed(ctx: TillContext, replay: Replay, ids: list[str]) -> None:
    """What the till holds for members already on it: tier, status, spend, points buckets, purchase days, stage."""
    conn, lowest = ctx.conn, replay.ladder[0].name
    marks, cats = tiers.excluded_sql(ctx)
    held = _held(conn)
    for chunk in _chunks(ids):
        q = ",".join("?" * len(chunk))
        for mid, status, joined in conn.execute(
                f"SELECT member_id, status, substr(created_at, 1, 10) FROM members WHERE member_id IN ({q})", chunk):
            joined_day = date.fromisoformat(joined).toordinal()
            replay.members[mid] = _Member(lowest, active=status == "active", joined=joined_day)
        for mid, tier in _rows(conn, held, "member_tiers",
                f"SELECT member_id, tier FROM member_tiers WHERE rowid IN (SELECT MAX(rowid) FROM member_tiers"
                f" WHERE member_id IN ({q}) GROUP BY member_id)", chunk):
            replay.members[mid].tier = str(tier)
        for mid, stage in _rows(conn, held, "member_stages",
                f"SELECT member_id, stage FROM member_stages WHERE rowid IN (SELECT MAX(rowid) FROM member_stages"
                f" WHERE member_id IN ({q}) GROUP BY member_id)", chunk):
            replay.members[mid].stage = str(stage)
        spend: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for mid, d, cents in _rows(conn, held, "sales",
                "SELECT s.member_id, substr(s.created_at, 1, 10), SUM(l.amount_cents) FROM sale_lines l"
                f" JOIN sales s ON s.sale_id = l.sale_id WHERE s.member_id IN ({q}) AND l.category NOT IN ({marks})"
                " GROUP BY 1, 2", (*chunk, *cats)):
            spend[mid].append((date.fromisoformat(d).toordinal(), int(cents)))
        for mid, d, cents in _rows(conn, held, "refunds",
                "SELECT s.member_id, substr(r.created_at, 1, 10), SUM(rl.amount_cents) FROM refund_lines rl"
                " JOIN refunds r ON r.refund_id = rl.refund_id JOIN sale_lines l ON l.sale_id = rl.sale_id"
                f" AND l.line_no = rl.line_no JOIN sales s ON s.sale_id = rl.sale_id WHERE s.member_id IN ({q})"
                f" AND l.category NOT IN ({marks}) GROUP BY 1, 2", (*chunk, *cats)):
            spend[mid].append((date.fromisoformat(d).toordinal(), -int(cents)))
        for mid, rows in spend.items():
            replay.members[mid].spend.seed(rows)
        days: dict[str, list[int]] = defaultdict(list)
        for mid, d in _rows(conn, held, "sales", f"SELECT DISTINCT member_id, substr(created_at, 1, 10) FROM sales"
                                   f" WHERE member_id IN ({q}) ORDER BY 1, 2", chunk):
            days[mid].append(date.fromisoformat(d).toordinal())
        for mid, ordinals in days.items():
            replay.members[mid].ordinals = ordinals
            replay.members[mid].last_purchase = ordinals[-1]
        if "ledger" in held:
            _seed_points(ctx, replay, chunk, q)


def _seed_points(ctx: TillContext, replay: Replay, chunk: list[str], q: str) -> None:
    """Points buckets as `expiry` counts them (a sale's entries net into one bucket dated at the sale)."""
    earned: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for mid, d, p in ctx.conn.execute(
            "SELECT member_id, MIN(substr(created_at, 1, 10)), SUM(points) FROM ledger"
            f" WHERE member_id IN ({q}) AND sale_id IS NOT NULL AND kind IN ('earn', 'bonus', 'reverse')"
            " GROUP BY member_id, sale_id"
            " UNION ALL SELECT member_id, substr(created_at, 1, 10), points FROM ledger"
            f" WHERE member_id IN ({q}) AND kind != 'expire'"
            " AND NOT (sale_id IS NOT NULL AND kind IN ('earn', 'bonus', 'reverse'))", (*chunk, *chunk)):
        m = replay.members[mid]
        if p > 0:
            earned[mid].append((date.fromisoformat(d).toordinal(), int(p)))
        else:
            m.spent -= int(p)
        m.balance += int(p)
    for mid, p in ctx.conn.execute(
            f"SELECT member_id, SUM(points) FROM ledger WHERE member_id IN ({q}) AND kind = 'expire'"
            " GROUP BY member_id", chunk):
        replay.members[mid].expired -= int(p)
        replay.members[mid].balance += int(p)
    for mid, rows in earned.items():
        replay.members[mid].earned.seed(rows)

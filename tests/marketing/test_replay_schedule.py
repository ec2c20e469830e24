"""The replay's stage-check scheduling (no set of days per sale, recent purchases walked back from the last, no
re-scheduling on a second sale of a purchase day, one sort of a day's members) and its tier review (members who
have bought nothing yet passed by a set lookup) replay exactly as the code they replaced, kept below as it was
written: for random histories and rules, the same checks on the same days, and the same ledger, tier, stage and
day rows."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pos_client.domain.lifecycle import StageRules, twice_median_gap
from pos_client.services.marketing.replay import Replay, ReplaySale, _months_back

START = date(2025, 1, 1).toordinal()


class _AsWritten(Replay):
    """The replay with the schedule as first written: a set of days built per sale, every purchase day walked,
    and the schedule made again after every sale; and the review reading every member's state."""

    def _review(self, day: int) -> int:
        iso = date.fromordinal(day).isoformat()
        changes = 0
        if self._order is None:
            self._order = sorted(self.members)
        back, zero = _months_back(day, 12), self._tier_for(0)
        for member_id in self._order:
            m = self.members[member_id]
            if not m.active or m.joined is None or m.joined > day:
                continue
            spend = m.spend
            if m.tier == zero and not spend.seed_days and (not spend.days or spend.days[0] > day):
                continue
            target = self._tier_for(spend.window(back, day))
            if target != m.tier:
                reason = "upgrade" if self.rank[target] > self.rank.get(m.tier, 0) else "downgrade"
                self.tier_rows.append((member_id, target, m.tier, iso, reason, None, self._ts))
                m.tier = target
                changes += 1
        return changes

    def sale(self, s: ReplaySale) -> None:
        super().sale(s)
        self._schedule_stage_checks(s.member_id, self.members[s.member_id])  # idempotent: a set per day

    def _schedule_stage_checks(self, member_id, m) -> None:
        r, last = self.stage_rules, m.ordinals[-1]
        days = {last + r.second_purchase_days + 1, last + r.lapsed_days + 1, m.ordinals[0] + r.new_days + 1}
        u2 = twice_median_gap(m.ordinals)
        if u2 is not None:
            days.add(last + r.at_risk_factor * u2 // 2 + 1)
        days.update(d + r.reactivated_days + 1 for d in m.ordinals if d + r.reactivated_days + 1 > last)
        for d in days:
            self._checks[d].add(member_id)


_RULES = st.builds(StageRules, new_days=st.integers(0, 60), second_purchase_days=st.integers(0, 90),
                   at_risk_factor=st.integers(1, 4), lapsed_days=st.integers(1, 240),
                   reactivated_days=st.integers(0, 60))
# (member, day offset, points, qualifying cents): members buy on the same day twice, in bursts and after gaps;
# spends reach the higher tiers (review days upgrade and downgrade), and m6..m9 join but never buy.
_SALES = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 300), st.integers(0, 300),
                            st.integers(0, 2_000_000)), min_size=1, max_size=60)
_JOINED = st.lists(st.integers(-400, 300), min_size=10, max_size=10)  # day offsets: before the history and in it


def _run(cls, ctx, rules: StageRules, sales: list[ReplaySale], joined: dict[str, int], end: int) -> Replay:
    replay = cls(ctx, joined, set())
    replay.stage_rules = rules
    replay._ts = "2026-12-01T00:00:00.000000+00:00"  # when the rows were made: the same for both
    i = 0
    for day in range(START, end + 1):
        while i < len(sales) and sales[i].day == day:
            replay.sale(sales[i])
            i += 1
        replay.end_of_day(day, first=day == START)
    return replay


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rules=_RULES, raw=_SALES, joined_at=_JOINED)
def test_the_schedule_checks_and_replays_as_the_one_it_replaced(ctx, rules, raw, joined_at):
    ordered = sorted(enumerate(raw), key=lambda x: (x[1][1], x[0]))  # by day, same day: file order
    sales = [ReplaySale(f"S{i}", f"m{m}", date.fromordinal(START + off).isoformat() + "T12:00:00+00:00",
                        START + off, pts, cents) for i, (m, off, pts, cents) in ordered]
    joined = {f"m{i}": START + min(off, 0) if f"m{i}" in {s.member_id for s in sales} else START + off
              for i, off in enumerate(joined_at)}  # a buyer joined by their first day, START at the latest
    end = sales[-1].day + 250  # past the last purchase: the lapsed and at-risk checks come due
    new, old = (_run(cls, ctx, rules, sales, joined, end) for cls in (Replay, _AsWritten))
    assert {d: v for d, v in new._checks.items() if v} == {d: v for d, v in old._checks.items() if v}
    assert [r[1:] for r in new.ledger] == [r[1:] for r in old.ledger]  # ids aside: made fresh per row
    assert new.tier_rows == old.tier_rows
    assert new.stage_rows == old.stage_rows
    assert new.days == old.days
    assert new.stage_rows  # the histories do move stages

"""The lifecycle stage rules of docs/marketing.md, case by case (worked out by hand in the comments), then the
whole stage table of thousands of generated members against the reference in `gen_log` (written from the
issue's wording, not from the code).

Default thresholds: new 30, second purchase 45, at-risk factor k = 2, lapsed 180, reactivated 30.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pos_client.domain.lifecycle import StageRules, stage_of_days, twice_median_gap
from tests.marketing.gen_log import END, START, distinct_days, generate, ref_stage

R = StageRules()
D0 = date(2026, 1, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def stage(offsets: list[int], as_of: int, rules: StageRules = R) -> str | None:
    return stage_of_days([day(n) for n in sorted(set(offsets))], day(as_of), rules)


def test_no_purchase_by_the_day_has_no_stage():
    assert stage([], 0) is None
    assert stage([5], 4) is None  # purchases after D are not known at D
    assert stage([0, 5], 4) == "new"


def test_lapsed_after_180_days_not_at_180():
    assert stage([0], 180) == "at_risk"  # r = 180: not lapsed; one purchase, 180 > 45
    assert stage([0], 181) == "lapsed"
    assert stage([0, 7, 14], 14 + 181) == "lapsed"


def test_new_up_to_30_days_after_the_first_purchase():
    assert stage([0], 30) == "new"  # D - d1 = 30
    assert stage([0], 31) == "active"  # one purchase, r = 31 <= 45
    assert stage([0, 1, 29], 30) == "new"  # new whatever the purchases since


def test_one_purchase_day_at_risk_after_45_days():
    assert stage([0], 45) == "active"
    assert stage([0], 46) == "at_risk"
    assert stage([0, 0], 46) == "at_risk"  # two sales on one day are one purchase day


def test_at_risk_after_twice_the_median_gap_not_the_median_low():
    # gaps 10, 11: median 10.5 (median_low would say 10), 2u = 21
    assert twice_median_gap([0, 10, 21]) == 21
    assert stage([0, 10, 21], 21 + 21) == "active"  # r = 21 is not > 21 (median_low: 21 > 20 -> at risk)
    assert stage([0, 10, 21], 21 + 22) == "at_risk"
    # gaps 10, 20, 30: median 20 (odd count), 2u = 40
    assert stage([0, 10, 30, 60], 60 + 40) == "active"
    assert stage([0, 10, 30, 60], 60 + 41) == "at_risk"


def test_reactivated_needs_at_risk_at_the_end_of_the_day_before():
    # d2 = d1 + 46: the day before, r = 45 -> active, so coming back is not a reactivation
    assert stage([0, 46], 46) == "active"
    # d2 = d1 + 47: the day before, r = 46 > 45 -> at risk; back on d2 -> reactivated for 30 days
    assert stage([0, 47], 47) == "reactivated"
    assert stage([0, 47], 47 + 30) == "reactivated"
    assert stage([0, 47], 47 + 31) == "active"  # gap 47, 2u = 94, r = 31


def test_reactivated_after_lapsed():
    assert stage([0, 200], 210) == "reactivated"  # the day before d2: r = 199 > 180, lapsed


def test_returning_then_buying_again_a_week_later_stays_reactivated():
    # d1 = 0, back on 59 (at risk the day before: r = 58 > 45), again on 66
    assert stage([0, 59, 66], 66) == "reactivated"  # d2 qualifies (66 - 59 = 7 <= 30); d3 alone would not
    assert stage([0, 59, 66], 59 + 30) == "reactivated"
    assert stage([0, 59, 66], 59 + 31) == "active"  # gaps 59, 7: u = 33, r = 24 <= 66


def test_weekly_buyer_after_a_7_day_gap_is_not_reactivated():
    weekly = list(range(0, 70, 7))  # 0, 7, ..., 63: u = 7
    assert stage([*weekly, 70], 70) == "active"  # the day before: r = 6 <= 14
    assert stage([*weekly, 63 + 15], 63 + 15) == "active"  # the day before: r = 14, not > 2 x 7
    assert stage([*weekly, 63 + 16], 63 + 16) == "reactivated"  # the day before: r = 15 > 14: at risk


def test_reactivated_wins_over_at_risk_not_over_lapsed():
    # weekly 0, 7, 14; away 30 days (at risk from day 29); back on 44; on 64: gaps 7, 7, 30 -> u = 7,
    # r = 20 > 14 -> at risk by the base rules, but back 20 days ago from at risk -> reactivated
    assert stage([0, 7, 14, 44], 64) == "reactivated"
    assert stage([0, 7, 14, 44], 75) == "at_risk"  # 31 days after coming back
    # reactivated for 200 days would still lose to lapsed
    long = StageRules(reactivated_days=200)
    assert stage([0, 200], 200 + 180, long) == "reactivated"
    assert stage([0, 200], 200 + 181, long) == "lapsed"


def test_thresholds_come_from_the_rules():
    rules = StageRules.of({"new_days": 7, "second_purchase_days": 10, "at_risk_factor": 3, "lapsed_days": 60,
                           "reactivated_days": 5, "unknown": 1})
    assert stage([0], 8, rules) == "active" and stage([0], 11, rules) == "at_risk"
    assert stage([0, 10, 20], 50, rules) == "active" and stage([0, 10, 20], 51, rules) == "at_risk"  # 3 x 10
    assert stage([0], 61, rules) == "lapsed"
    assert stage([0, 20], 25, rules) == "reactivated" and stage([0, 20], 26, rules) == "active"


@pytest.fixture(scope="module")
def log():
    return generate(4000)


def test_stage_table_of_a_generated_log_equals_the_reference(log):
    days = {m: distinct_days(s) for m, s in log.items()}
    checked = 0
    for n in range(0, (END - START).days + 200, 11):
        as_of = START + timedelta(days=n)
        for member, ds in days.items():
            assert stage_of_days(ds, as_of, R) == ref_stage(ds, as_of), (member, as_of, ds)
            checked += 1
    assert checked > 200_000


def test_every_stage_and_the_edges_occur_in_the_generated_log(log):
    """The table above means something only if the log reaches every stage, and the cases that differ
    between median and median_low, and 'at risk the day before' vs 'the gap is long'."""
    as_of = date(2026, 3, 31)
    seen = {ref_stage(distinct_days(s), as_of) for s in log.values()}
    assert seen >= {"new", "active", "at_risk", "lapsed", "reactivated", None}
    half_medians = sum(1 for s in log.values() if (u2 := twice_median_gap(
        [d.toordinal() for d in distinct_days(s) if d <= as_of])) is not None and u2 % 2)
    assert half_medians > 50

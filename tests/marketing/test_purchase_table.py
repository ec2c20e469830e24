"""The vectorised stage table against the pure definition (`pos_client.domain.lifecycle`), member by member.

Random purchase histories with every pattern the rules care about (regulars, pauses, returns, lapses,
same-gap ties, even gap counts), checked at many end days and under other thresholds: every stage must
equal `stage_of_ordinals` on that member's days. The day-number helpers are checked against `datetime`.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np

from pos_client.domain.lifecycle import STAGES, StageRules, stage_of_ordinals, twice_median_gap
from pos_client.services.marketing.purchase_table import (
    PurchaseTable,
    _prefix_twice_medians,
    month_indexes,
    ordinals_of,
    stages,
)

BASE = date(2025, 1, 1).toordinal()


def _history(rng: random.Random) -> list[int]:
    kind = rng.randrange(5)
    day, out = BASE + rng.randrange(400), []
    for _ in range(rng.choice((1, 2, 3, 5, 12, 40))):
        out.append(day)
        if kind == 0:
            day += rng.choice((7, 7, 7, 14))
        elif kind == 1:
            day += rng.randint(1, 60)
        elif kind == 2:
            day += rng.choice((3, 10, 11, 47, 200))
        else:
            day += rng.randint(1, 250) if rng.random() < 0.2 else rng.randint(5, 30)
    return sorted(set(out))


def _table(histories: list[list[int]]) -> PurchaseTable:
    member = np.array([i for i, h in enumerate(histories) for _ in h], np.int64)
    day = np.array([d for h in histories for d in h], np.int64)
    return PurchaseTable([f"m{i}" for i in range(len(histories))], member, day)


def test_stages_equal_the_pure_rule_for_every_member() -> None:
    rng = random.Random(12)
    histories = [_history(rng) for _ in range(3000)]
    table = _table(histories)
    for rules in (StageRules(), StageRules(new_days=7, second_purchase_days=10, at_risk_factor=3, lapsed_days=60,
                                           reactivated_days=20)):
        for end in range(BASE + 10, BASE + 1500, 37):
            members, codes = stages(table, end, rules)
            got = {int(m): STAGES[c] for m, c in zip(members.tolist(), codes.tolist(), strict=True)}
            want = {i: stage_of_ordinals([d for d in h if d <= end], end, rules) for i, h in enumerate(histories)}
            assert got == {i: s for i, s in want.items() if s is not None}, end


def test_hand_cases_from_the_definition() -> None:
    # docs/marketing.md: [0, 59, 66] reactivated through day 89, active on 90; [0, 46] at 46 active
    table = _table([[BASE, BASE + 59, BASE + 66], [BASE, BASE + 46]])
    assert stages(table, BASE + 89, StageRules())[1].tolist() == [STAGES.index("reactivated"), STAGES.index("active")]
    assert stages(table, BASE + 90, StageRules())[1].tolist()[0] == STAGES.index("active")


def test_day_numbers_and_months_match_datetime() -> None:
    days = [date(1999, 12, 31) + timedelta(days=k) for k in range(0, 12000, 7)]
    y, m, d = (np.array([getattr(x, f) for x in days], np.int64) for f in ("year", "month", "day"))
    assert ordinals_of(y, m, d).tolist() == [x.toordinal() for x in days]
    assert month_indexes(np.array([x.toordinal() for x in days], np.int64)).tolist() == \
        [x.year * 12 + x.month - 1 for x in days]


def test_every_report_answers_on_a_till_with_no_sale_yet(make_ctx) -> None:
    """Found by the README run at head office before any sync: reactivation indexed an empty table."""
    from pos_client.services.marketing.reports import REPORTS, run_report  # local: keeps this module's imports pure

    ctx = make_ctx()
    for name in REPORTS:
        options = {"offer": "welcome"} if name == "offer-lift" else {}
        report = run_report(ctx, name, start=date(2026, 1, 1), end=date(2026, 3, 31), **options)
        assert report["report"] == name and isinstance(report["rows"], list)
        assert report["summary"].get("members", 0) == 0, name  # nobody has bought: nobody is counted


def test_prefix_medians_equal_the_pure_twice_median_gap() -> None:
    rng = random.Random(5)
    days = sorted({rng.randrange(2000) for _ in range(600)})
    gap = np.array([0, *np.diff(days).tolist()], np.int64)
    first = np.array([rng.randrange(1, len(days) - 100) for _ in range(400)], np.int64)
    stop = first + np.array([rng.randrange(1, 90) for _ in range(400)], np.int64)
    got = _prefix_twice_medians(gap, first, stop).tolist()
    assert got == [twice_median_gap(days[a - 1:b]) for a, b in zip(first.tolist(), stop.tolist(), strict=True)]

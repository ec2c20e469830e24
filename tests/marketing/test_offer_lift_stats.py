"""The lift statistics of `pos_client.domain.lift`: a case worked by hand, published values, and simulations
where the true lift is known (the 95% intervals must cover it about 95% of the time)."""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from itertools import count

import pytest

from pos_client.domain.lift import (
    CONTROL,
    TREATED,
    Group,
    MemberOutcome,
    assign,
    holdout_basis_points,
    lift,
    newcombe,
    ratio_interval,
    t_quantile,
    too_small,
    welch,
    wilson,
)


def _group(buyers: int, non_buyers: int, spend: int) -> Group:
    return Group.of([MemberOutcome(True, spend, False)] * buyers + [MemberOutcome(False, 0, False)] * non_buyers)


def test_hand_computed_case():
    """Treated: 40 members, 20 bought 10.00 each. Control: 40 members, 10 bought 12.00 each. z = 1.959964.

    Purchase rates p1 = 20/40 = 0.5, p0 = 10/40 = 0.25, difference d = 0.25, ratio 2.

    Wilson, z^2 = 3.841459, z^2/n = 0.0960365, centre = (p + z^2/2n) / (1 + z^2/n),
    half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n):
      20/40: centre = 0.5480182 / 1.0960365 = 0.5; half = 1.959964 x sqrt(0.00625 + 0.00060023) / 1.0960365
             = 1.959964 x 0.0827661 / 1.0960365 = 0.148004  ->  (0.351996, 0.648004)
      10/40: centre = 0.2980182 / 1.0960365 = 0.271906; half = 1.959964 x sqrt(0.0046875 + 0.00060023) / 1.0960365
             = 1.959964 x 0.0727168 / 1.0960365 = 0.130034  ->  (0.141872, 0.401940)
    Newcombe: lower = d - sqrt((p1 - l1)^2 + (u0 - p0)^2) = 0.25 - sqrt(0.148004^2 + 0.151940^2)
                    = 0.25 - sqrt(0.0219052 + 0.0230857) = 0.25 - 0.212111 = 0.037889
              upper = d + sqrt((u1 - p1)^2 + (p0 - l0)^2) = 0.25 + sqrt(0.0219052 + 0.0116925)
                    = 0.25 + 0.183297 = 0.433297
    Ratio (log method): se = sqrt(1/20 - 1/40 + 1/10 - 1/40) = sqrt(0.1) = 0.316228;
      2 x exp(-/+ 1.959964 x 0.316228) = 2 x exp(-/+ 0.619795), exp(0.619795) = 1.858547
      -> (2 / 1.858547, 2 x 1.858547) = (1.076110, 3.717094)
    Revenue per member (cents): treated mean 20 x 1000 / 40 = 500, variance (40 x 20 x 1000^2 - 20000^2) / (40 x 39)
      = 4e8 / 1560 = 256410.26; control mean 10 x 1200 / 40 = 300, variance (40 x 10 x 1200^2 - 12000^2) / 1560
      = 4.32e8 / 1560 = 276923.08. a = 256410.26 / 40 = 6410.256, b = 276923.08 / 40 = 6923.077,
      se = sqrt(13333.33) = 115.470; Welch df = 13333.33^2 / (6410.256^2/39 + 6923.077^2/39) = 77.885;
      t(0.975, 77.885) = 1.99090 (tables: 1.99125 at 77, 1.99085 at 78) -> 200 -/+ 229.89 = (-29.89, 429.89).
    """
    treated, control = _group(20, 20, 1000), _group(10, 30, 1200)
    assert (treated.members, treated.buyers, treated.revenue_cents) == (40, 20, 20000)
    assert (control.members, control.buyers, control.revenue_cents) == (40, 10, 12000)
    assert wilson(20, 40, 1.959964) == pytest.approx((0.351996, 0.648004), abs=2e-6)
    assert wilson(10, 40, 1.959964) == pytest.approx((0.141872, 0.401940), abs=2e-6)
    assert newcombe(20, 40, 10, 40) == pytest.approx((0.037889, 0.433297), abs=2e-6)
    assert ratio_interval(20, 40, 10, 40) == pytest.approx((1.076110, 3.717094), abs=2e-6)
    assert treated.revenue_var == pytest.approx(256410.26, abs=0.01)
    assert control.revenue_var == pytest.approx(276923.08, abs=0.01)
    w = welch(treated, control)
    assert w is not None and w.diff == 200 and w.df == pytest.approx(77.885, abs=1e-3)
    assert w.interval == pytest.approx((-29.89, 429.89), abs=0.01)
    result = lift(treated, control)
    assert result.rate_diff == 0.25 and result.rate_ratio == 2
    assert result.too_small == [] and result.verdict.startswith("the offer raised the share who bought")


def test_published_values():
    """Newcombe (1998), table II: 56/70 against 48/80 gives 0.0524 to 0.3339 (method 10); Student's t from tables."""
    assert newcombe(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert newcombe(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=5e-5)
    for df, q in ((1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (30, 2.0423), (120, 1.9799)):
        assert t_quantile(0.975, df) == pytest.approx(q, abs=5e-5)
    assert t_quantile(0.025, 10) == pytest.approx(-2.2281, abs=5e-5)


def test_too_small_rule_says_why():
    assert too_small(_group(20, 9, 100), _group(10, 30, 100)) == [
        "the treated group has 29 members (at least 30 needed)"]
    assert too_small(_group(4, 40, 100), _group(40, 4, 100)) == [
        "the treated group has 4 buyers and 40 non-buyers (at least 5 of each needed)",
        "the control group has 40 buyers and 4 non-buyers (at least 5 of each needed)"]
    small = lift(_group(3, 5, 100), _group(1, 2, 100))
    assert small.verdict.startswith("too small to conclude: the treated group has 8 members")
    assert small.rate_diff == pytest.approx(3 / 8 - 1 / 3)  # figures still shown, but no conclusion drawn
    empty = lift(_group(3, 5, 100), Group.of([]))
    assert empty.rate_diff is None and empty.verdict == "too small to conclude: no member in the control group"
    assert lift(_group(30, 30, 100), _group(5, 0, 100)).rate_ratio_ci is not None
    assert lift(_group(30, 30, 100), _group(0, 40, 100)).rate_ratio is None  # no control buyer: no ratio


def test_assignment_is_the_keyed_hash_and_matches_the_share():
    """HMAC-SHA256(key, offer \\x1f member), first 8 bytes big-endian mod 10000, below the share in basis points."""
    key = b"chain-key"
    for member in ("a", "0192f3", "member-42"):
        digest = hmac.new(key, f"welcome\x1f{member}".encode(), hashlib.sha256).digest()
        bucket = int.from_bytes(digest[:8], "big") % 10_000
        assert assign(key, "welcome", member, 10) == (CONTROL if bucket < 1000 else TREATED)
        assert assign(key, "welcome", member, 0) == TREATED and assign(key, "welcome", member, 100) == CONTROL
    ids = [f"m{i}" for i in range(20_000)]
    held = sum(assign(key, "welcome", m, 10) == CONTROL for m in ids)
    assert 1800 < held < 2200  # 10 % +/- 5 standard errors
    other = sum(assign(key, "win-back", m, 10) == CONTROL for m in ids[:2000])
    both = sum(assign(key, "welcome", m, 10) == CONTROL and assign(key, "win-back", m, 10) == CONTROL
               for m in ids[:2000])
    assert 150 < other < 250 and both < 60  # offers draw independently (about 1 % in both)
    assert holdout_basis_points(12.5) == 1250
    with pytest.raises(ValueError):
        holdout_basis_points(101)


def _simulate(rng: random.Random, ids: count, tills: int, per_till: int, p: dict[str, float],
              spend: dict[str, tuple[int, int]]) -> tuple[Group, Group]:
    """Members of many tills, each in the group the keyed hash gives (30 % held out), buying with a known
    probability per group and spending a uniform amount in a known range when they buy."""
    outcomes: dict[str, list[MemberOutcome]] = {TREATED: [], CONTROL: []}
    for till in range(tills):
        for _ in range(per_till):
            group = assign(b"sim", "offer", f"T{till}-{next(ids)}", 30)
            bought = rng.random() < p[group]
            outcomes[group].append(MemberOutcome(bought, rng.randint(*spend[group]) if bought else 0, False))
    return Group.of(outcomes[TREATED]), Group.of(outcomes[CONTROL])


def test_intervals_cover_the_true_lift_about_95_percent_of_the_time():
    """400 simulated chains of 8 tills x 50 members: the true difference is 0.30 - 0.22 = 0.08, the true ratio
    0.30 / 0.22, the true revenue difference 0.30 x 1750 - 0.22 x 1500 = 195 cents per member. Each interval
    must cover its truth in 92 % to 98 % of the runs (95 % +/- 2.7 standard errors of a 400-run proportion)."""
    started = time.perf_counter()
    rng, ids = random.Random(20260110), count()
    p = {TREATED: 0.30, CONTROL: 0.22}
    spend = {TREATED: (500, 3000), CONTROL: (500, 2500)}
    true_diff, true_ratio = 0.08, 0.30 / 0.22
    true_revenue = 0.30 * 1750 - 0.22 * 1500
    runs, covered = 400, {"diff": 0, "ratio": 0, "revenue": 0}
    for _ in range(runs):
        treated, control = _simulate(rng, ids, 8, 50, p, spend)
        result = lift(treated, control)
        assert result.rate_diff_ci and result.rate_ratio_ci and result.revenue
        covered["diff"] += result.rate_diff_ci[0] <= true_diff <= result.rate_diff_ci[1]
        covered["ratio"] += result.rate_ratio_ci[0] <= true_ratio <= result.rate_ratio_ci[1]
        covered["revenue"] += result.revenue.interval[0] <= true_revenue <= result.revenue.interval[1]
    for name, hits in covered.items():
        assert 0.92 <= hits / runs <= 0.98, (name, hits / runs)
    assert time.perf_counter() - started < 10


def test_no_lift_is_found_about_5_percent_of_the_time():
    """When the offer does nothing (both groups buy with probability 0.25), the verdict claims a lift (either
    way) in about 5 % of the runs: between 2 % and 8 % of 400."""
    rng, ids = random.Random(7), count()
    claims = 0
    for _ in range(400):
        treated, control = _simulate(rng, ids, 8, 50, {TREATED: 0.25, CONTROL: 0.25},
                                     {TREATED: (500, 2000), CONTROL: (500, 2000)})
        claims += not lift(treated, control).verdict.startswith("no difference shown")
    assert 0.02 <= claims / 400 <= 0.08

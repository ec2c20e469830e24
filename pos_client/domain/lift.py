"""Test and learn, pure: who is held out of an offer, and what the offer changed against that control group.

Assignment is a keyed hash (HMAC-SHA256 of the offer id and the member id under the program's key), so
every till puts a member in the same group for an offer with no network and no table to share. The lift
statistics are the textbook ones, written out in `docs/offer-lift.md` with their formulas:
- difference of purchase rates: Newcombe's hybrid score interval (from two Wilson intervals), which
  stays inside [-1, 1] and behaves for small counts where the Wald interval does not;
- ratio of purchase rates: the log method (Katz);
- difference of revenue per member: Welch's t interval (unequal variances), with Student's t quantile
  computed here from the regularised incomplete beta function (no numpy or scipy in the till).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

CONTROL = "control"
TREATED = "treated"
BUCKETS = 10_000  # holdout shares are resolved to 0.01 %

# The rule for "too small to conclude": both groups need this many members, and this many buyers and
# this many non-buyers (the usual n*p >= 5 and n*(1-p) >= 5 for a normal approximation).
MIN_MEMBERS = 30
MIN_EVENTS = 5


# --- assignment ------------------------------------------------------------------------------------------
def holdout_bucket(key: bytes, offer_id: str, member_id: str) -> int:
    """The member's bucket (0..9999) for this offer: the first 8 bytes of HMAC-SHA256(key, offer \\x1f member)."""
    digest = hmac.new(key, f"{offer_id}\x1f{member_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def holdout_basis_points(holdout_pct: float) -> int:
    """A holdout share in percent (0 to 100, two decimals at most matter) as basis points."""
    if not 0 <= holdout_pct <= 100:
        raise ValueError(f"holdout_pct must be between 0 and 100, not {holdout_pct}")
    return round(holdout_pct * 100)


def assign(key: bytes, offer_id: str, member_id: str, holdout_pct: float) -> str:
    """CONTROL when the member's bucket falls in the held-out share, else TREATED."""
    held = holdout_bucket(key, offer_id, member_id) < holdout_basis_points(holdout_pct)
    return CONTROL if held else TREATED


# --- one group -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemberOutcome:
    """What one targeted member did in the offer's window."""

    bought: bool
    revenue_cents: int
    redeemed: bool = False


@dataclass(frozen=True)
class Group:
    """A group's counts and the exact sums the revenue statistics need (integers: no rounding drift)."""

    members: int
    buyers: int
    redeemers: int
    revenue_cents: int
    revenue_sq: int  # sum of each member's revenue squared (cents^2)

    @classmethod
    def of(cls, outcomes: Iterable[MemberOutcome]) -> Group:
        n = b = r = total = sq = 0
        for o in outcomes:
            n += 1
            b += o.bought
            r += o.redeemed
            total += o.revenue_cents
            sq += o.revenue_cents * o.revenue_cents
        return cls(n, b, r, total, sq)

    @property
    def buy_rate(self) -> float | None:
        return self.buyers / self.members if self.members else None

    @property
    def revenue_mean(self) -> float | None:
        return self.revenue_cents / self.members if self.members else None

    @property
    def revenue_var(self) -> float | None:
        """Sample variance (n - 1 in the denominator) of revenue per member, exact until the final division."""
        n = self.members
        if n < 2:
            return None
        return float(Fraction(n * self.revenue_sq - self.revenue_cents ** 2, n * (n - 1)))


# --- intervals -------------------------------------------------------------------------------------------
Interval = tuple[float, float]


def z_of(confidence: float) -> float:
    """The two-sided normal quantile: 1.959963... for 0.95."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, n: int, z: float) -> Interval:
    """Wilson's score interval for a proportion."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(b1: int, n1: int, b0: int, n0: int, confidence: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval for p1 - p0 (his method 10)."""
    z = z_of(confidence)
    p1, p0 = b1 / n1, b0 / n0
    l1, u1 = wilson(b1, n1, z)
    l0, u0 = wilson(b0, n0, z)
    d = p1 - p0
    return d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def ratio_interval(b1: int, n1: int, b0: int, n0: int, confidence: float = 0.95) -> Interval | None:
    """The log-method interval for p1 / p0; None when either group has no buyer (the log is undefined)."""
    if b1 == 0 or b0 == 0:
        return None
    z = z_of(confidence)
    rr = (b1 / n1) / (b0 / n0)
    se = math.sqrt(1 / b1 - 1 / n1 + 1 / b0 - 1 / n0)
    return rr * math.exp(-z * se), rr * math.exp(z * se)


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz, as in Numerical Recipes)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        even = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
        odd = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
        for num in (even, odd):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t distribution function with (possibly fractional) degrees of freedom."""
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p quantile of Student's t (bisection on t_cdf; |error| < 1e-10)."""
    if not 0 < p < 1:
        raise ValueError("p must be between 0 and 1")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


@dataclass(frozen=True)
class Welch:
    diff: float
    interval: Interval
    df: float | None


def welch(treated: Group, control: Group, confidence: float = 0.95) -> Welch | None:
    """Welch's interval for the difference of mean revenue per member; None with fewer than 2 members a side."""
    v1, v0 = treated.revenue_var, control.revenue_var
    m1, m0 = treated.revenue_mean, control.revenue_mean
    if v1 is None or v0 is None or m1 is None or m0 is None:
        return None
    diff = m1 - m0
    a, b = v1 / treated.members, v0 / control.members
    if a + b == 0:  # no spread on either side: the difference is what it is
        return Welch(diff, (diff, diff), None)
    df = (a + b) ** 2 / (a * a / (treated.members - 1) + b * b / (control.members - 1))
    half = t_quantile(0.5 + confidence / 2, df) * math.sqrt(a + b)
    return Welch(diff, (diff - half, diff + half), df)


# --- the verdict -----------------------------------------------------------------------------------------
def too_small(treated: Group, control: Group) -> list[str]:
    """Why the groups are too small to conclude (empty when they are not): the MIN_MEMBERS / MIN_EVENTS rule."""
    why = []
    for name, g in ((TREATED, treated), (CONTROL, control)):
        if g.members < MIN_MEMBERS:
            why.append(f"the {name} group has {g.members} members (at least {MIN_MEMBERS} needed)")
            continue
        if g.buyers < MIN_EVENTS or g.members - g.buyers < MIN_EVENTS:
            why.append(f"the {name} group has {g.buyers} buyers and {g.members - g.buyers} non-buyers"
                       f" (at least {MIN_EVENTS} of each needed)")
    return why


@dataclass(frozen=True)
class Lift:
    """Treated against control: differences, ratio and their intervals, and whether to conclude anything."""

    rate_diff: float | None
    rate_diff_ci: Interval | None
    rate_ratio: float | None
    rate_ratio_ci: Interval | None
    revenue: Welch | None
    too_small: list[str]
    verdict: str


def lift(treated: Group, control: Group, confidence: float = 0.95) -> Lift:
    """The comparison the offer-lift report prints."""
    small = too_small(treated, control)
    if not treated.members or not control.members:
        side = TREATED if not treated.members else CONTROL
        return Lift(None, None, None, None, None, small, f"too small to conclude: no member in the {side} group")
    diff = treated.buyers / treated.members - control.buyers / control.members
    diff_ci = newcombe(treated.buyers, treated.members, control.buyers, control.members, confidence)
    ratio = (treated.buyers / treated.members) / (control.buyers / control.members) if control.buyers else None
    ratio_ci = ratio_interval(treated.buyers, treated.members, control.buyers, control.members, confidence)
    revenue = welch(treated, control, confidence)
    level = f"{confidence * 100:g}%"
    if small:
        verdict = "too small to conclude: " + "; ".join(small)
    elif diff_ci[0] > 0:
        verdict = f"the offer raised the share who bought ({level} interval above zero)"
    elif diff_ci[1] < 0:
        verdict = f"the offer lowered the share who bought ({level} interval below zero)"
    else:
        verdict = f"no difference shown: the {level} interval of the difference includes zero"
    return Lift(diff, diff_ci, ratio, ratio_ci, revenue, small, verdict)

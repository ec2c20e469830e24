"""A member's lifecycle stage as of a day, from their distinct purchase days alone (docs/marketing.md).

Pure and exact, so the till, head office, the reports and the tests all mean the same thing by
"at risk". With purchase days d1 < ... < dn <= D (the end of day D), recency r = D - dn and usual
interval u = the median (not median_low) of the gaps between consecutive purchase days:

- lapsed: r > lapsed_days; else new: D - d1 <= new_days; else with one purchase day at risk if
  r > second_purchase_days, else active; with two or more at risk if r > at_risk_factor x u, else active;
- reactivated (over at risk and active, never over lapsed or new): some dk (k >= 2) with
  D - dk <= reactivated_days such that the rules above, on d1..d(k-1) as of the end of day dk - 1,
  said at risk or lapsed.

The median of an even number of gaps can be a half day, so the comparison is done on twice the
median (an integer): r > k x u  <=>  2r > k x (2u). No floats anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from itertools import pairwise

NEW, ACTIVE, AT_RISK, LAPSED, REACTIVATED = "new", "active", "at_risk", "lapsed", "reactivated"
STAGES = (NEW, ACTIVE, AT_RISK, LAPSED, REACTIVATED)


@dataclass(frozen=True)
class StageRules:
    """The thresholds, in days (`[program.lifecycle]`; these are the defaults)."""

    new_days: int = 30
    second_purchase_days: int = 45
    at_risk_factor: int = 2
    lapsed_days: int = 180
    reactivated_days: int = 30

    @classmethod
    def of(cls, raw: Mapping[str, int]) -> StageRules:
        """From a config mapping; unknown keys are ignored, missing ones keep their default."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in raw.items() if k in names})


def twice_median_gap(ordinals: Sequence[int]) -> int | None:
    """2 x the median gap between consecutive (sorted, distinct) day numbers; None with fewer than two."""
    gaps = sorted(b - a for a, b in pairwise(ordinals))
    if not gaps:
        return None
    mid = len(gaps) // 2
    return 2 * gaps[mid] if len(gaps) % 2 else gaps[mid - 1] + gaps[mid]


def base_stage(ordinals: Sequence[int], day: int, rules: StageRules) -> str | None:
    """Lapsed, new, at risk or active (no reactivated) for sorted distinct day numbers all <= `day`."""
    if not ordinals:
        return None
    recency = day - ordinals[-1]
    if recency > rules.lapsed_days:
        return LAPSED
    if day - ordinals[0] <= rules.new_days:
        return NEW
    if len(ordinals) == 1:
        return AT_RISK if recency > rules.second_purchase_days else ACTIVE
    u2 = twice_median_gap(ordinals)
    assert u2 is not None
    return AT_RISK if 2 * recency > rules.at_risk_factor * u2 else ACTIVE


def stage_of_ordinals(ordinals: Sequence[int], day: int, rules: StageRules) -> str | None:
    """The stage as of the end of `day` for sorted distinct day numbers (`date.toordinal()`), all <= `day`."""
    stage = base_stage(ordinals, day, rules)
    if stage not in (AT_RISK, ACTIVE):
        return stage
    k = len(ordinals) - 1
    while k >= 1 and day - ordinals[k] <= rules.reactivated_days:
        if base_stage(ordinals[:k], ordinals[k] - 1, rules) in (AT_RISK, LAPSED):
            return REACTIVATED
        k -= 1
    return stage


def stage_of_days(days: Sequence[date], as_of: date, rules: StageRules) -> str | None:
    """The stage as of the end of `as_of` from sorted distinct purchase days (later days are ignored)."""
    end = as_of.toordinal()
    return stage_of_ordinals([o for o in (d.toordinal() for d in days) if o <= end], end, rules)

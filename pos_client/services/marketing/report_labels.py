"""Human labels for the reports' field names, shared by every screen that shows a report.

The reports (`reports.py`) keep machine field names (`new_pct`, `value_cents`) because they are the JSON
and CSV columns scripts read. A person reads `New %` and `Value` in money: the till's reports screen
uses these, and the CLI's text output can too.
"""

from __future__ import annotations

from typing import Any

from pos_client.domain.money import format_cents

FIELD_LABELS: dict[str, str] = {
    "new": "New",
    "active": "Active",
    "new_pct": "New %",
    "stage": "Stage",
    "stages": "Stages",
    "members": "Members",
    "moved": "Moved",
    "recorded_changes": "Changes recorded",
    "from_tier": "From tier",
    "to_tier": "To tier",
    "pct_of_from": "% of from tier",
    "at_start": "At start",
    "at_end": "At end",
    "segment": "Segment",
    "segments": "Segments",
    "points": "Points",
    "value_cents": "Value",
    "point_value_cents": "Point value",
    "reward": "Reward",
    "redemptions": "Redemptions",
    "restored": "Restored",
    "member_id": "Member",
    "name": "Name",
    "contact": "Contact",
    "first_purchase": "First purchase",
    "last_purchase": "Last purchase",
    "rule": "Rule",
    "days": "Days",
    "channel": "Channel",
    "pct": "%",
    "cohort": "Cohort",
    "cohorts": "Cohorts",
    "first_buyers": "First buyers",
    "bought_again": "Bought again",
    "bought_again_pct": "Bought again %",
    "still_open": "Still open",
    "stage_at_start": "Stage at start",
    "came_back": "Came back",
    "came_back_pct": "Came back %",
    "spent_cents": "Spent",
    "group": "Group",
    "bought": "Bought",
    "bought_pct": "Bought %",
    "revenue_cents": "Revenue",
    "revenue_per_member_cents": "Revenue per member",
    "redeemed": "Redeemed",
    "redemption_pct": "Redemption %",
}


def label(field: str) -> str:
    """The label of a report field; an unknown field still reads as words (`some_field` -> `Some field`)."""
    return FIELD_LABELS.get(field) or field.replace("_", " ").capitalize()


def value_text(field: str, value: Any) -> str:
    """A report value as a person reads it: cents as money, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, bool):  # `Conclusive yes`, not `Conclusive False`
        return "yes" if value else "no"
    if field.endswith("_cents") and isinstance(value, int):
        return format_cents(value, group=True)
    return str(value)


def summary_text(summary: dict[str, Any], sep: str = " · ") -> str:
    """The headline figures in one line: `New 2 · Active 3 · New % 66.7`; flat breakdowns as
    `At start: Member 2, Silver 1`; nested figures (the full matrix, lists of moves) stay in the table."""
    parts = []
    for key, value in summary.items():
        if isinstance(value, dict):
            if value and all(isinstance(v, int) for v in value.values()):
                parts.append(f"{label(key)}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items()))
        elif not isinstance(value, list):
            parts.append(f"{label(key)} {value_text(key, value)}")
    return sep.join(parts)

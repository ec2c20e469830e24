"""A report as text a person reads: one aligned table, money as money, percentages with one decimal, totals.

Shared by the till's CLI, head office's CLI and the app's reports screen, so the three show the same
thing. The report itself keeps machine field names (its JSON and CSV); only this module turns
`value_cents` into `Value 24,531.59` and `bought_again_pct` into `Bought again % 40.0`. Numbers follow
the till's decimal separator ("." or ","; thousands "," or a space, as `format_cents`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pos_client.domain.money import format_cents, format_date
from pos_client.services.marketing.report_base import Report
from pos_client.services.marketing.report_labels import label

TITLES = {
    "new-customers": "New customers",
    "lifecycle": "Lifecycle stages",
    "tier-migration": "Tier migration",
    "rfm": "RFM segments",
    "points-liability": "Points liability",
    "rewards-redeemed": "Rewards redeemed",
    "contact-list": "Contact list",
    "second-purchase": "Second purchase",
    "reactivation": "Reactivation",
    "retention": "Retention by cohort",
    "offer-lift": "Offer lift",
}

# What is counted, in one line under the title ({...} from the report's summary).
NOTES = {
    "new-customers": "members who bought in the period; new = first purchase ever in it",
    "lifecycle": "members who have bought, by stage at the end of the period (docs/marketing.md)",
    "tier-migration": "tier at the end of the day before the period -> tier at its end",
    "rfm": "members who have bought, by RFM segment at the end of the period",
    "second-purchase": "members whose first purchase is in the period; bought again = on a later day within"
                       " {days} days; still open = not yet, {days} days not over",
    "reactivation": "members at risk or lapsed at the end of the day before the period; came back = bought in it",
    "retention": "members by month of first purchase (in the period) who bought in each month since",
    "offer-lift": "members first targeted by {offer} in the period (docs/offer-lift.md): treated got it, control was"
                  " held out; bought = a sale in the window after that visit",
}

DAY_COLUMNS = frozenset({"first_purchase", "last_purchase", "since", "day", "date"})
# Columns whose values are names (stages, segments): `at_risk` reads `at risk`; "none" is a member with no purchase yet.
NAME_COLUMNS = frozenset({"stage", "stage_at_start", "from_stage", "to_stage", "segment"})
_MONTH_SINCE = re.compile(r"^(?:pct_)?m(\d+)$")  # retention: m3 (count), pct_m3 (%)


def _is_pct(column: str) -> bool:
    return column == "pct" or column.endswith("_pct") or column.startswith("pct_")


def cell(column: str, value: Any, decimal_separator: str = ".") -> str:
    """One value as text: cents as grouped money, a percentage with one decimal, counts grouped, days as days."""
    if value is None or value == "":
        return ""
    thousands = "," if decimal_separator == "." else " "
    if column.endswith("_cents") and isinstance(value, int):
        return format_cents(value, decimal_separator=decimal_separator, group=True)
    if _is_pct(column) and isinstance(value, int | float):
        return f"{value:.1f}".replace(".", decimal_separator)
    if column in DAY_COLUMNS:
        return format_date(value)
    if column in NAME_COLUMNS and isinstance(value, str):
        return "no purchase" if value == "none" else value.replace("_", " ")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}".replace(",", thousands)
    return str(value)


def heading(column: str) -> str:
    """A column's label: months since first purchase read as +0, +1 ...; the rest from `report_labels`."""
    since = _MONTH_SINCE.match(column)
    return f"+{since.group(1)}" if since else label(column)


def _numeric(column: str, rows: Sequence[Sequence[Any]], index: int) -> bool:
    if column.endswith("_cents") or _is_pct(column) or _MONTH_SINCE.match(column):
        return True
    values = [r[index] for r in rows if r[index] is not None]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], total: Sequence[Any] | None = None,
          decimal_separator: str = ".") -> str:
    """Columns aligned on their widest cell, numbers right-aligned, a rule then the total line."""
    every = [*rows, *([total] if total is not None else [])]
    right = {i for i, col in enumerate(columns) if _numeric(col, every, i)}
    head = [heading(c) for c in columns]
    body = [[cell(c, v, decimal_separator) for c, v in zip(columns, row, strict=True)] for row in rows]
    foot = [cell(c, v, decimal_separator) for c, v in zip(columns, total, strict=True)] if total is not None else None
    widths = [max(len(line[i]) for line in [head, *body, *([foot] if foot else [])]) for i in range(len(columns))]

    def line_of(line: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(line, widths, strict=True))).rstrip()

    out = [line_of(head), *(line_of(b) for b in body)]
    if foot is not None:
        out += ["  ".join("-" * w for w in widths), line_of(foot)]
    return "\n".join(out)


def _span(report: Report) -> str:
    return f"{report['from']} to {report['to']}" if report["from"] else f"as of {report['to']}"


def note(report: Report) -> str:
    """What the report counts, in one line ("" when the title says it all)."""
    text = NOTES.get(report["report"])
    return text.format(**report["summary"]) if text else ""


def extra_text(report: Report, decimal_separator: str = ".") -> str:
    """What follows the main table: the retention matrix in % of each cohort, the lifecycle moves."""
    name, summary = report["report"], report["summary"]
    parts = []
    if name == "retention" and report["rows"]:
        pct_columns = [c if not _MONTH_SINCE.match(c) else f"pct_{c}" for c in report["columns"]]
        parts.append("% of cohort\n" + table(pct_columns, summary["pct_rows"], summary["total_pct"],
                                               decimal_separator))
    if name == "lifecycle" and summary["moves"]:
        moves = [[m["from"], m["to"], m["members"]] for m in summary["moves"]]
        parts.append("Moves during the period\n" + table(["from_stage", "to_stage", "members"], moves,
                                                           ["total", "", summary["moved"]], decimal_separator))
    if report.get("findings"):  # sentences a report adds under its table (offer-lift: the lift and its verdict)
        parts.append("\n".join(report["findings"]))
    return "\n\n".join(parts)


def render_text(report: Report, decimal_separator: str = ".") -> str:
    """The whole report for a terminal or the app's screen: title and period, what is counted, the table(s)."""
    name = report["report"]
    lines = [f"{TITLES.get(name, name)}  {_span(report)}"]
    if text := note(report):
        lines.append(text)
    if not report["rows"]:
        lines.append("(nothing in this period)")
        return "\n".join(lines)
    lines += ["", table(report["columns"], report["rows"], report.get("total"), decimal_separator)]
    if extra := extra_text(report, decimal_separator):
        lines += ["", extra]
    return "\n".join(lines)

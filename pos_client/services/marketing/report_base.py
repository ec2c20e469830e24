"""The shape every report returns and the small helpers they share (one place, no import cycle).

A report is {"report", "from", "to", "columns", "rows", "summary"} plus, where adding up makes
sense, "total" (a row aligned with `columns`): `rows` are plain lists (the CSV), `summary` the
headline figures (the JSON), `total` the line a person reads under the table.
"""

from __future__ import annotations

from datetime import date
from typing import Any

# {"report", "from", "to", "columns", "rows", "summary"[, "total"]}: the JSON of `--json` and of head office.
Report = dict[str, Any]


def pct(part: int, whole: int) -> float:
    """part / whole as a percentage rounded to one decimal (0.0 of nothing)."""
    return round(part * 100 / whole, 1) if whole else 0.0


def result(name: str, start: date | None, end: date, columns: list[str], rows: list[list[Any]],
           summary: dict[str, Any], total: list[Any] | None = None) -> Report:
    out: Report = {"report": name, "from": start.isoformat() if start else None, "to": end.isoformat(),
                   "columns": columns, "rows": rows, "summary": summary}
    if total is not None:
        out["total"] = total
    return out


def of_store(store: str | None, column: str = "member_id") -> tuple[str, tuple[str, ...]]:
    """An SQL condition (" AND ...") keeping the members whose home store is `store`, and its parameters.

    Why here: head office's per-store figures are the chain-wide reports over one store's members (a member
    who buys at another store still counts for their home store), one implementation for both scopes.
    """
    if store is None:
        return "", ()
    return f" AND {column} IN (SELECT member_id FROM members WHERE store_id = ?)", (store,)


def month_index(day: date) -> int:
    """Months since year 0: two days are in the same calendar month iff their indexes are equal."""
    return day.year * 12 + day.month - 1


def month_label(index: int) -> str:
    """YYYY-MM of a month index."""
    year, month = divmod(index, 12)
    return f"{year:04d}-{month + 1:02d}"

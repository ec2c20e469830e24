"""Dates for marketing rules: every rule works "as of" a day so imported history reports at its time.

Stored timestamps are ISO text (till clock or an imported CSV); only their day matters here, so
comparisons use the first ten characters, which sort correctly as text.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

from pos_client.domain.errors import UsageError


def today() -> date:
    return datetime.now(UTC).date()


def as_date(value: str | date | None) -> date:
    """A day from a date, an ISO timestamp or text; None means today."""
    if value is None or value == "":
        return today()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise UsageError(f"not a date: {value!r} (expected YYYY-MM-DD)") from None


def day_of(timestamp: str) -> date:
    return date.fromisoformat(timestamp[:10])


def add_months(day: date, months: int) -> date:
    """Calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def end_of_day(day: date) -> str:
    """A timestamp for entries written "as of" a day: after anything else that day."""
    return f"{day.isoformat()}T23:59:59.999999+00:00"


def days_between(a: date, b: date) -> int:
    return (b - a).days


def plus_days(day: date, days: int) -> date:
    return day + timedelta(days=days)

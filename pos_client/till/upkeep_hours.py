"""When the till's day ends: `[upkeep] closing_time` and `auto`, read by the upkeep and the backups.

Apart from `scheduler` (which loads the day's upkeep, and with it numpy) so that the backups and the
till's start read the hours without loading the upkeep itself.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pos_client.store.context import TillContext


def closing_time(ctx: TillContext) -> time:
    """`[upkeep] closing_time` ("HH:MM", UTC)."""
    text = str(ctx.config.section("upkeep").get("closing_time", "21:00"))
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"[upkeep] closing_time must be HH:MM, not {text!r}") from None


def auto_enabled(ctx: TillContext) -> bool:
    return bool(ctx.config.section("upkeep").get("auto", True))


def due_through(now: datetime, closing: time) -> date:
    """The last day whose upkeep is due at `now`: today once past closing time, else yesterday."""
    today = now.date()
    return today if now.time() >= closing else today - timedelta(days=1)

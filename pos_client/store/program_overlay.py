"""The program head office published, laid over the till's own `[program]` earning settings.

Why here: `TillContext.rules` (the earning rules every sale uses) is built from config.toml; the earning
rules, category multipliers and promotions head office publishes (`wire.program`, pulled into `sync_rules`)
must win over it, at the next sale after a pull and after a restart (they are in the till's database).
A field a published rule leaves out keeps the till's own setting. `sync_state` keeps the highest program
version the till applied (reported to head office as `X-Till-Program`) and a marker that moves with every
applied rule, so the context rebuilds its rules only when a pull changed them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pos_client.domain.rules import ProgramRules
from pos_client.store import sync_state as state

PROGRAM_VERSION = "program_version"  # the highest published version applied (sync_state)
RULES_AT = "program_rules_at"  # the pull cursor of the last page that carried a rule (sync_state)
EARNING_FIELDS = ("points_per_unit", "unit_cents", "welcome_bonus", "excluded_categories")


def _state(conn: sqlite3.Connection, key: str) -> str | None:
    try:
        return state.get(conn, key)
    except sqlite3.OperationalError:  # a till database without the sync tables (a hand-built test context)
        return None


def applied_version(conn: sqlite3.Connection) -> int | None:
    """The program version this till applied (None: it never pulled a versioned rule)."""
    text = _state(conn, PROGRAM_VERSION)
    return int(text) if text else None


def rules_marker(conn: sqlite3.Connection) -> str | None:
    """Changes whenever a pulled page carried a rule: the key of `TillContext.rules`' cache."""
    return _state(conn, RULES_AT)


def record_applied(conn: sqlite3.Connection, version: int, marker: int) -> None:
    """Inside the page's transaction: the rules changed at `marker`; the applied version only moves up."""
    current = applied_version(conn) or 0
    state.put(conn, **{PROGRAM_VERSION: max(current, version), RULES_AT: marker})


def _pulled(conn: sqlite3.Connection, key: str) -> Any:
    try:
        return state.pulled_rule(conn, key)
    except sqlite3.OperationalError:
        return None


def earning_rules(conn: sqlite3.Connection, section: Mapping[str, Any]) -> ProgramRules:
    """The till's `[program]` earning settings with head office's published earning, multipliers and promotions."""
    merged = dict(section)
    earning = _pulled(conn, "earning") or {}
    for name in EARNING_FIELDS:
        if earning.get(name) is not None:
            merged[name] = earning[name]
    promotions = _pulled(conn, "promotions")
    if promotions is not None:
        merged["promotions"] = [{"name": p["name"], "start": p["start"], "end": p["end"],
                                 "multiplier_pct": int(p.get("multiplier_pct", 200)),
                                 "categories": tuple(p.get("categories") or ())} for p in promotions]
    rules = ProgramRules.from_config(merged)
    multipliers = _pulled(conn, "category_multipliers")
    if multipliers is not None:  # whole percent as published (config's "2 means x2" shorthand does not apply)
        rules = replace(rules, category_multipliers={str(m["category"]): int(m["multiplier_pct"])
                                                     for m in multipliers})
    return rules

"""Pulled program rules: checked against the wire schema, kept in `sync_rules`, their version recorded.

Why a handler of its own: the rules decide what every later sale earns and which offers a member sees,
so a rule this till cannot apply fails the page (nothing applied, the cursor stays; the status bar shows
head office's mistake) instead of reaching checkout. A key this till does not know is kept as sent (a newer
head office's; an older till reads only the keys it knows). The highest program version applied is what
the till reports back (`X-Till-Program`, see `sync.client`).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pos_client.store.program_overlay import record_applied
from sync.client import Refused
from wire.errors import Invalid, convert
from wire.rules import RULE_KEYS, RuleData, validate_rule


def checked(data: dict[str, Any]) -> RuleData:
    """A pulled rule as the wire types it, refused with head office's reasons when this till cannot apply it."""
    try:
        rule = convert(data, RuleData)
    except Invalid as exc:
        raise Refused(f"head office sent a program rule this till cannot store: {exc}") from None
    if rule.key in RULE_KEYS and (reasons := validate_rule(rule.key, rule.value)):
        raise Refused(f"head office sent a program rule this till cannot apply: {'; '.join(reasons)}")
    return rule


def apply_rules(conn: sqlite3.Connection, rules: list[dict[str, Any]], ts: str, cursor: int) -> int:
    """Store a page's rules (inside its transaction) and record the program version they bring."""
    if not rules:
        return 0
    checked_rules = [checked(r) for r in rules]  # every rule of the page, before anything is written
    conn.executemany("INSERT INTO sync_rules (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key)"
                     " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                     [(r.key, json.dumps(r.value), ts) for r in checked_rules])
    record_applied(conn, max(r.version for r in checked_rules), cursor)
    return len(checked_rules)

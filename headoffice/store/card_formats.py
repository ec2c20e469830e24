"""Head office's allow-list of card numbers: the program's `card_formats` rule, else the tills' defaults.

Why a rule and not a server setting: tills pull rules, so one `headoffice rule set card_formats '{...}'`
(or `PUT /v1/admin/rules/card_formats`) gives head office and every till the same formats; a till that has
not pulled it yet uses its `[program]` settings, whose defaults are head office's defaults here.
"""

from __future__ import annotations

import json

from cardread.allowlist import CardFormats
from headoffice.store.db import Db

RULE_KEY = "card_formats"


def program_card_formats(db: Db) -> CardFormats:
    """The formats a stored card number must match (the rule was checked against the wire schema when set)."""
    row = db.one("SELECT value FROM rules WHERE key = ?", (RULE_KEY,))
    value = json.loads(row[0]) if row and isinstance(row[0], str) else None
    return CardFormats.from_mapping(value if isinstance(value, dict) else {})

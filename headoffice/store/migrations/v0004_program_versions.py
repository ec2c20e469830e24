"""Schema version 4: program versions, and the version each till says it applied (issue 12, Program).

Every publish of a program rule (console, API or CLI) is a new version: a row in `program_versions` (the value,
who, why) and the version stamped on the rule (`rules.version`), which tills pull with the rule and
report back in their `X-Till-Program` header (`till_reports.program_version`). Rules set before this
version keep version 0. Same SQL on both dialects.
"""

from __future__ import annotations

from headoffice.store.db import Db


def apply(db: Db) -> None:
    bigint = db.dialect.bigint
    db.execute(f"ALTER TABLE rules ADD COLUMN version {bigint} NOT NULL DEFAULT 0")
    db.execute(f"ALTER TABLE till_reports ADD COLUMN program_version {bigint}")
    db.execute(f"CREATE TABLE IF NOT EXISTS program_versions (version {bigint} PRIMARY KEY, rule_key TEXT NOT NULL,"
               " value TEXT NOT NULL, published_at TEXT NOT NULL, published_by TEXT NOT NULL, reason TEXT NOT NULL)")

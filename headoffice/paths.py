"""Where head office keeps a file of its own beside its database: one rule for every such file."""

from __future__ import annotations

import os
from pathlib import Path

SQLITE = "sqlite:///"


def beside_store(db_url: str, explicit: str | None, env: str, suffix: str) -> Path | None:
    """The command-line flag, else the environment variable `env`, else beside a SQLite head office's file
    (`<stem><suffix>`); None for a PostgreSQL head office, whose caller picks its own default."""
    chosen = explicit or os.environ.get(env)
    if chosen:
        return Path(chosen)
    if db_url.startswith(SQLITE):
        db = Path(db_url[len(SQLITE):])
        return db.with_name(f"{db.stem}{suffix}")
    return None

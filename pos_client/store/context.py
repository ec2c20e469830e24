"""What every domain call needs: the database connection and the resolved configuration."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pos_client.domain.rules import ProgramRules
from pos_client.store.config import Config, load_config
from pos_client.store.db import connect
from pos_client.store.home import db_path, till_home


@dataclass
class TillContext:
    conn: sqlite3.Connection
    config: Config
    home: Path | None = None
    operator: str | None = field(default=None)

    @property
    def store_id(self) -> str:
        return self.config.store_id

    @property
    def till_id(self) -> str:
        return self.config.till_id

    @cached_property
    def rules(self) -> ProgramRules:
        return ProgramRules.from_config(self.config.section("program"))

    def close(self) -> None:
        self.conn.close()


def open_till(home: str | Path | None = None) -> TillContext:
    """Open the till at its home directory (created on first use, embedded defaults)."""
    from pos_client.services import marketing

    marketing.install()  # tiers, coupons, lifecycle and receipt blocks are part of every till
    path = till_home(home)
    config = load_config(path)
    return TillContext(conn=connect(db_path(path)), config=config, home=path)

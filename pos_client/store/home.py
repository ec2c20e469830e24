"""Where the till keeps its files: $POS_CLIENT_HOME, else the platform data directory."""

from __future__ import annotations

import os
from pathlib import Path

DB_NAME = "till.db"
CONFIG_NAME = "config.toml"


def till_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve (and create) the till's home directory."""
    if explicit:
        home = Path(explicit)
    elif os.environ.get("POS_CLIENT_HOME"):
        home = Path(os.environ["POS_CLIENT_HOME"])
    else:
        from platformdirs import user_data_dir

        home = Path(user_data_dir("pos-client", appauthor=False))
    home.mkdir(parents=True, exist_ok=True)
    return home


def db_path(home: Path) -> Path:
    return home / DB_NAME


def config_path(home: Path) -> Path:
    return home / CONFIG_NAME

"""Where the till keeps its files: --home, else $POS_CLIENT_HOME, else the platform data directory.

Only `pos-client init` (and the demo, the tests, the bench, which make their own homes) may create a
home: every other command asks for an existing one, so a misspelled path is an error instead of a
silent, empty new till.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

from pos_client.domain.errors import NotFound

DB_NAME = "till.db"
CONFIG_NAME = "config.toml"


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The home a command means, without touching the disk."""
    if explicit:
        return Path(explicit)
    if os.environ.get("POS_CLIENT_HOME"):
        return Path(os.environ["POS_CLIENT_HOME"])
    return Path(user_data_dir("pos-client", appauthor=False))


def is_till_home(home: Path) -> bool:
    """A till lives here: its database, or at least the config.toml someone wrote for it."""
    return (home / DB_NAME).is_file() or (home / CONFIG_NAME).is_file()


def till_home(explicit: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """Resolve the till's home directory: created when `create`, else NotFound (exit 4) if no till is there."""
    home = resolve_home(explicit)
    if create:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    elif not is_till_home(home):
        raise NotFound(f"no till at {home}: run `pos-client init` there first (`--home DIR` or POS_CLIENT_HOME"
                       " choose the directory), or `pos-client demo` to try the till")
    return home


def db_path(home: Path) -> Path:
    return home / DB_NAME


def config_path(home: Path) -> Path:
    return home / CONFIG_NAME


PRIVATE_FILES = (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", CONFIG_NAME)


def make_private(home: Path) -> None:
    """The home readable by the till's user only: the database holds the head-office bearer token and
    members' personal data. New databases are created 0600 (SQLite gives its -wal and -shm files the
    database's mode); homes made by older versions (0755/0644) are tightened on open."""
    db = home / DB_NAME
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
    for path, mode in ((home, 0o700), *((home / name, 0o600) for name in PRIVATE_FILES)):
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(mode)
        except OSError:  # a read-only or foreign-owned home: opening it reports the real problem
            continue

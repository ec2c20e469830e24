"""A writable copy of the generated till home, for figures that write (sales, device config).

Why: the cached dataset is shared by every bench run on the machine and reused for days; a figure
that commits sales into it changes what the next run measures. The copy is made once per run with
SQLite's backup API (a consistent snapshot even if another process has the file open) into the run's
scratch directory, on the same filesystem as the cache, so it sees the same disk.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from bench.env import BenchEnv

COPY = "writable-home"


def writable_home(env: BenchEnv) -> Path:
    """The run's writable copy of the home (made on first use; later figures share it)."""
    home = env.scratch / COPY
    db = home / "till.db"
    if db.exists():
        return home
    building = home.with_name(COPY + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    meta = env.home / "generated.json"  # only the till's files: the cache dir also holds other figures' databases
    if meta.exists():
        shutil.copy2(meta, building / meta.name)
    src = sqlite3.connect(f"file:{env.db}?mode=ro", uri=True)
    dst = sqlite3.connect(str(building / "till.db"))
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        dst.close()
        src.close()
    building.rename(home)
    return home

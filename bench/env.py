"""What every figure gets: the generated till home, the scale, and how to run a subprocess."""

from __future__ import annotations

import compileall
import os
import random
import sqlite3
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench.generate import GenStats, Size

REPO = Path(__file__).resolve().parent.parent
def compile_bytecode() -> bool:
    """Compile the project's modules to `__pycache__`, as a wheel's install does (pip), so a child a figure
    starts reads bytecode as a till does. Why here: with PYTHONDONTWRITEBYTECODE set (this machine's shells set
    it) Python never writes a .pyc itself, and every start compiled each module changed since the last one
    written: tens of ms per start, measured as start-up time."""
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["hatch"]["build"]
    return all(compileall.compile_dir(str(REPO / pkg), quiet=1) for pkg in wheel["targets"]["wheel"]["packages"])


@dataclass
class BenchEnv:
    home: Path
    size: Size
    gen: GenStats
    quick: bool
    seed: int
    scratch: Path  # a directory on the same filesystem as the database, for baselines

    @property
    def db(self) -> Path:
        return self.home / "till.db"

    def rng(self, salt: str) -> random.Random:
        """A seeded generator per figure, so figures do not shift each other's samples."""
        return random.Random(f"{self.seed}:{salt}")

    def samples(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def sample_cards(self, n: int, salt: str) -> list[str]:
        """Active card numbers picked at random rowids (no full scan of the cards table)."""
        rng = self.rng(salt)
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            top = conn.execute("SELECT MAX(rowid) FROM cards").fetchone()[0]
            out: list[str] = []
            while len(out) < n:
                row = conn.execute("SELECT card_number, status FROM cards WHERE rowid = ?",
                                   (rng.randint(1, top),)).fetchone()
                if row and row[1] == "active":
                    out.append(row[0])
            return out
        finally:
            conn.close()

    def evict_file_cache(self) -> bool:
        """Drop this database's pages from the OS page cache (posix_fadvise DONTNEED): a till
        just booted. Touches only this file, never the machine's other caches."""
        if not hasattr(os, "posix_fadvise"):
            return False
        for path in (self.db, self.db.with_name(self.db.name + "-wal")):
            if path.exists():
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
        return True

    def subprocess_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["POS_CLIENT_HOME"] = str(self.home)
        return env

    @property
    def python(self) -> str:
        return sys.executable

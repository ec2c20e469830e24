"""The machine a run was measured on, and what else it was doing: figures mean little without it."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _filesystem(path: Path) -> str:
    try:
        out = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True, check=True).stdout
        fields = out.splitlines()[1].split()
        return f"{fields[1]} ({fields[0]})"
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def describe(data_dir: Path) -> dict[str, object]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "filesystem": _filesystem(data_dir),
    }


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15 minute load averages: a figure measured at load 3 on 2 cores is another figure."""
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    except (OSError, ValueError):
        return None
    return float(one), float(five), float(fifteen)


@dataclass(frozen=True)
class ProcSnapshot:
    """CPU ticks used so far by every process, to tell afterwards who competed with a figure."""

    at: float
    ticks: dict[int, tuple[str, int, int]]  # pid -> (name, parent pid, utime + stime in clock ticks)


def _name(pid: int, comm: str) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return comm
    words = [" ".join(a.decode(errors="replace").split()) for a in argv if a][:3]  # `python -c` code: one line
    if not words:
        return comm
    words[0] = Path(words[0]).name
    return " ".join(words)[:60]


def snapshot() -> ProcSnapshot:
    ticks: dict[int, tuple[str, int, int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1: raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2:].split()  # rest[0] is field 3 (state)
        ticks[int(entry.name)] = (comm, int(rest[1]), int(rest[11]) + int(rest[12]))
    return ProcSnapshot(time.monotonic(), ticks)


def competing(before: ProcSnapshot, top: int = 5) -> list[dict[str, object]]:
    """The processes that used the most CPU since `before`, not counting this one and its children:
    name and %CPU of one core over the interval (200% = both cores of a 2-core machine)."""
    after = snapshot()
    seconds = max(after.at - before.at, 1e-6)
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    ours = {os.getpid()}
    grew = True
    while grew:  # this process's descendants are the figure itself, not competition
        more = {pid for pid, (_, ppid, _) in after.ticks.items() if ppid in ours} - ours
        grew = bool(more)
        ours |= more
    used = []
    for pid, (comm, _, t) in after.ticks.items():
        if pid in ours:
            continue
        delta = t - before.ticks.get(pid, (comm, 0, 0))[2] if pid in before.ticks else t
        if delta > 0:
            used.append((delta, pid, comm))
    used.sort(reverse=True)
    return [{"name": _name(pid, comm), "pid": pid, "cpu_pct": round(100 * d / hz / seconds, 1)}
            for d, pid, comm in used[:top]]

"""A private, throwaway PostgreSQL 15 cluster on a free loopback port.

For the head-office store contract tests, the ingest benchmark, and trying the PostgreSQL
backend on one machine. The server refuses to run as root, so under root it runs as the
`postgres` user; its directory sits directly under the system temp dir, because pytest's temp
root is 0700 and the `postgres` user could not traverse it.

PostgreSQL cannot bind port 0 and say which port it got, so the port is one the kernel called free a moment
before; another process may take it first (tests and benchmarks start servers all the time). Then the
server says "Address already in use" and stops: it is started again on another port (`PORT_ATTEMPTS`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> str | None:
    """None when a cluster can be started here, else why not."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL 15 server binaries not installed ({PG_BIN}; scripts/setup.sh installs them)"
    return None


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


PORT_ATTEMPTS = 8  # ports tried before giving up; each taken one costs one failed start (~0.1 s)
PORT_TAKEN = "Address already in use"  # the server's log line when another socket holds its port


def _free_port() -> int:
    """A port nothing holds now: a candidate only, `_start` tries another when it is taken meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data: Path, log: Path, options: str, port: int | None) -> int:
    """Start the server on `port` (default a free one), on another free one when it is taken; the port."""
    port = port or _free_port()
    for _ in range(PORT_ATTEMPTS):
        before = log.stat().st_size if log.exists() else 0
        done = subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", f"-p {port} {options}",
                                            "-l", str(log), "-w", "start"]), capture_output=True, text=True)
        if done.returncode == 0:
            return port
        try:
            with open(log, "rb") as fh:
                fh.seek(before)
                said = fh.read().decode(errors="replace")
        except FileNotFoundError:  # pg_ctl failed before the server wrote anything
            said = ""
        if PORT_TAKEN not in said:
            raise RuntimeError(f"PostgreSQL did not start on port {port}: {said.strip() or done.stderr.strip()}")
        port = _free_port()
    raise RuntimeError(f"PostgreSQL found its port taken {PORT_ATTEMPTS} times in a row; see {log}")


# Server settings a head office on its own machine would set (not PostgreSQL's defaults, sized for a laptop):
# a push of 2,000 entries writes ~1.5 MB of WAL; 4 MB of WAL buffers (the default) flushes mid-transaction,
# 1 GB of max_wal_size checkpoints every few hundred pushes. Durability is unchanged: fsync and
# synchronous_commit stay on, every commit still waits for its WAL on disk.
SERVER_SETTINGS = (("shared_buffers", "512MB"), ("wal_buffers", "64MB"), ("max_wal_size", "8GB"),
                   ("checkpoint_timeout", "15min"), ("checkpoint_completion_target", "0.9"))


@contextmanager
def private_cluster(*, durable: bool = True, prefix: str = "ho-pg-",
                    settings: tuple[tuple[str, str], ...] = SERVER_SETTINGS, port: int | None = None) -> Iterator[str]:
    """Yield a postgresql:// URL; the cluster is stopped and removed on exit.

    `durable=False` turns fsync off (tests: speed over crash safety); a benchmark keeps fsync and
    synchronous_commit on so it measures the real cost of a commit. `settings`: the server's other settings
    (`SERVER_SETTINGS` by default, what a head office on its own machine sets; docs/scaling.md). `port`: the
    first port tried (default a free one); when another process holds it, the next free one.
    """
    base = Path(tempfile.mkdtemp(prefix=prefix))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        for path in (base, sock):
            shutil.chown(path, "postgres", "postgres")
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
    opts = f"-k {sock} -c listen_addresses=127.0.0.1" + "".join(f" -c {k}={v}" for k, v in settings)
    if not durable:
        initdb.append("--no-sync")
        opts += " -c fsync=off -c synchronous_commit=off"
    try:
        subprocess.run(_as_postgres(initdb), check=True, capture_output=True)
        port = _start(data, base / "log", opts, port)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

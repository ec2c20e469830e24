"""Fixtures for the sync tests: head-office stores on both backends, a private PostgreSQL cluster,
a real head-office server on loopback, and till homes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from tillkit import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def pg_url():
    """A private PostgreSQL 15 cluster on a free loopback port, stopped and removed at the end of the session.

    Its directory is made directly under the system temp dir: pytest's own temp root is 0700 and re-locked by
    every pytest run, which the `postgres` user (the server refuses to run as root) could not traverse.
    """
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries not installed (scripts/setup.sh installs them)")
    base = Path(tempfile.mkdtemp(prefix="ho-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        for path in (base, sock):
            shutil.chown(path, "postgres", "postgres")
    port = free_port()
    try:
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                     "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                                     str(base / "log"), "-w", "start"]), check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _reset_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ho.db'}"
    url = request.getfixturevalue("pg_url")
    _reset_pg(url)
    return url


@pytest.fixture
def store(store_url):
    from headoffice.store import open_store

    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def ho_store(tmp_path):
    """An embedded (SQLite) head office for the sync tests."""
    from headoffice.store import open_store

    s = open_store(f"sqlite:///{tmp_path / 'headoffice.db'}")
    yield s
    s.close()


@pytest.fixture
def headoffice(ho_store):
    """The real head-office server on a loopback port."""
    from headoffice.server import ServerThread

    server = ServerThread(ho_store).start()
    yield server
    server.stop()


@pytest.fixture
def make_till(tmp_path):
    """Open a till home with its own store/till (config.toml written as an installer would)."""
    from pos_client.config import write_config
    from pos_client.context import open_till

    opened = []

    def make(store: str, till: str, **program):
        home = tmp_path / f"till-{store}-{till}"
        home.mkdir(exist_ok=True)
        write_config(home, {"store_id": store, "till_id": till, "program": program})
        ctx = open_till(home)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


@pytest.fixture
def proxy(headoffice):
    from hw_sim.netfault import FaultProxy

    p = FaultProxy(("127.0.0.1", headoffice.port)).start()
    yield p
    p.stop()

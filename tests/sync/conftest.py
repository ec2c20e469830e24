"""Fixtures for the sync tests: head-office stores on both backends, a private PostgreSQL cluster,
a real head-office server on loopback, and till homes."""

from __future__ import annotations

import pytest

from tests.parts import missing_part


@pytest.fixture(scope="session")
def pg_url():
    """A private PostgreSQL 15 cluster (fsync off), stopped and removed at the end of the session."""
    from headoffice import pgcluster

    if reason := pgcluster.available():
        missing_part(reason)
    with pgcluster.private_cluster(durable=False) as url:
        yield url


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
def headoffice(ho_store):
    """The real head-office server on a loopback port."""
    from headoffice.server import ServerThread

    server = ServerThread(ho_store).start()
    yield server
    server.stop()


@pytest.fixture
def make_till(tmp_path):
    """Open a till home with its own store/till (config.toml written as an installer would)."""
    from pos_client.store.config import write_config
    from pos_client.till import open_till

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

"""Fixtures for the scale-out tests: one private PostgreSQL cluster (fsync off) for the session."""

from __future__ import annotations

import psycopg
import pytest

from headoffice import pgcluster
from tests.parts import missing_part


@pytest.fixture(scope="session")
def pg_cluster():
    if reason := pgcluster.available():
        missing_part(reason)
    with pgcluster.private_cluster(durable=False, prefix="ho-scale-") as url:
        yield url


@pytest.fixture
def pg_url(pg_cluster):
    """The session's cluster with an empty schema (each test starts from nothing)."""
    with psycopg.connect(pg_cluster, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return pg_cluster

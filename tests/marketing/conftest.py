"""Fixtures for the marketing tests: a real till home (SQLite file, config.toml, key file)."""

from __future__ import annotations

import pytest

from pos_client.services.catalog import upsert_products
from pos_client.store.config import write_config
from pos_client.till import open_till
from tests.marketing.helpers import PRODUCTS


@pytest.fixture
def make_ctx(tmp_path):
    """Open a till whose config.toml carries `program` overrides."""
    opened = []

    def make(program: dict | None = None, name: str = "till", **top):
        home = tmp_path / name
        home.mkdir(exist_ok=True)
        updates = dict(top)
        if program:
            updates["program"] = program
        if updates:
            write_config(home, updates)
        ctx = open_till(home)
        upsert_products(ctx, PRODUCTS)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


@pytest.fixture
def ctx(make_ctx):
    return make_ctx()

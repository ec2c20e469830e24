"""Issue 12's page speed, as behaviour: a page never computes the chain's figures (a cold cache answers "being
computed" with the snapshot's time, and head office computes them away from the page), a new snapshot build is
never shown with the old build's figures, and the threaded server answers without the delayed-ACK stall."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from headoffice import upkeep
from headoffice.app import create_app
from headoffice.console.dashboard import tables
from headoffice.console.figures import cache_path, cached, figures, parse_period, snapshot_state
from headoffice.server import ServerThread
from tests.console.chainkit import build
from tests.console.test_dashboard import _parsed


@pytest.fixture
def console_app(ho_store):
    """The app as `headoffice serve` builds it: its console reads the snapshot beside the SQLite head office."""
    return create_app(ho_store, snapshot=upkeep.snapshot_path(f"sqlite:///{ho_store.path}"))


@pytest.fixture
def chain(tmp_path, ho_store):
    """The chain with its snapshot refreshed but no figure computed yet (a console started beside a new build)."""
    return build(tmp_path, ho_store)


def _until_computed(client, params, limit_s: float = 120) -> str:
    """The page as a browser's refresh would show it, once head office has computed its figures."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        page = client.get("/", params=params)
        assert page.status_code == 200, page.text
        if "data-figure" in page.text:
            return page.text
        assert 'id="figures-computing"' in page.text
        time.sleep(0.2)
    raise AssertionError(f"the figures for {params} were not computed within {limit_s} s")


def test_a_cold_dashboard_says_being_computed_and_head_office_computes_it(chain, owner_client):
    snap = snapshot_state(chain.snapshot, datetime.now(UTC))
    period = parse_period({"period": "90d"}, snap.last_day)
    assert cached(snap, None, period) is None
    unasked = {"from": (snap.last_day - timedelta(days=12)).isoformat(), "to": snap.last_day.isoformat()}
    cold = owner_client.get("/dashboard/members.csv", params=unasked)  # a period nobody asked for yet
    assert cold.status_code == 503 and cold.headers["retry-after"] == "60" and "being computed" in cold.text
    page = owner_client.get("/", params={"period": "90d"})
    assert page.status_code == 200
    assert 'id="figures-computing"' in page.text and "data-figure" not in page.text
    assert f"built {snap.built_at}" in " ".join(page.text.split())  # the snapshot's time, so nobody reads stale
    assert '<meta http-equiv="refresh"' in page.text  # the page comes back by itself, no script needed
    csv = owner_client.get("/dashboard/members.csv", params={"period": "90d"})
    if csv.status_code != 200:  # 200 only when head office finished computing between the two requests
        assert csv.status_code == 503 and csv.headers["retry-after"] == "60" and "being computed" in csv.text
    shown = _parsed(_until_computed(owner_client, {"period": "90d"}))
    want = tables(figures(snap, None, period))  # what `headoffice report` computes, now from the cache
    assert shown["members"] == [[str(v) for v in want[0].rows[0]]]
    assert owner_client.get("/dashboard/members.csv", params={"period": "90d"}).status_code == 200


def test_a_custom_period_for_a_store_is_computed_off_the_page_too(chain, manager_client):
    client = manager_client("S1")
    params = {"from": (chain.today - timedelta(days=40)).isoformat(), "to": chain.today.isoformat()}
    first = client.get("/", params=params)
    assert first.status_code == 200 and 'id="figures-computing"' in first.text and "store S1" in first.text
    text = _until_computed(client, params)
    snap = snapshot_state(chain.snapshot, datetime.now(UTC))
    want = tables(figures(snap, "S1", parse_period(params, snap.last_day)))
    assert _parsed(text)["members"] == [[str(v) for v in want[0].rows[0]]]


def test_a_new_snapshot_build_is_never_shown_with_the_old_figures(chain, owner_client, ho_store):
    old = snapshot_state(chain.snapshot, datetime.now(UTC))
    first = _until_computed(owner_client, {"period": "30d"})
    assert f"built {old.built_at}" in " ".join(first.split())
    upkeep.refresh(ho_store, chain.snapshot, chain.today)  # a new build (its own built_at) is published
    new = snapshot_state(chain.snapshot, datetime.now(UTC))
    assert new.built_at != old.built_at
    again = owner_client.get("/", params={"period": "30d"})
    assert 'id="figures-computing"' in again.text and f"built {new.built_at}" in " ".join(again.text.split())
    assert "data-figure" not in again.text  # not the old build's figures, kept in memory
    _until_computed(owner_client, {"period": "30d"})
    assert cache_path(chain.snapshot).exists()


def test_the_threaded_server_answers_without_waiting_for_a_delayed_ack(ho_store):
    """ServerThread's own listening socket: with proto 0, asyncio never set TCP_NODELAY on the connections it
    accepted and every response waited ~40 ms for the client's delayed ACK (the "floor" of issue 12's figures).
    Checked on the socket itself (the accepted ones inherit both), not by timing on a loaded machine."""
    server = ServerThread(ho_store).start()
    try:
        assert server._server is not None
        listening = server._server.servers[0].sockets[0]
        assert listening.proto == socket.IPPROTO_TCP
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/healthz").json()["ok"] is True
    finally:
        server.stop()

"""The app runs the day's upkeep by itself, off its thread: a till off for a long time catches up on
start while the checkout answers, with progress and then "done through" in the status bar."""

from __future__ import annotations

import sqlite3
import time
from datetime import date, timedelta

from pos_client.app.widgets import StatusBar
from pos_client.domain.dates import today
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import upkeep
from pos_client.till.devices import TillDevices
from tests.test_app_support import OIL, make_app, make_till, scan


def status(app) -> str:
    return str(app.screen.query_one(StatusBar).render())


async def until(pilot, check, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; status bar: {status(pilot.app)!r}")
        await pilot.pause(0.02)


async def test_checkout_answers_while_a_long_catch_up_runs(tmp_path):
    ctx, member = make_till(tmp_path / "home", with_history=False)
    day = today()  # read once: a second today() after midnight would count 401 days
    start = day - timedelta(days=400)
    for i in range(0, 400, 9):  # a member who shopped every 9 days, then a till that never ran its upkeep
        basket = Basket(member_id=member.member_id)
        basket.add(Line.keyed(2500))
        commit_sale(ctx, basket, created_at=f"{(start + timedelta(days=i)).isoformat()}T10:00:00+00:00")
    assert len(upkeep.pending_days(ctx, day - timedelta(days=1))) == 400
    devices = TillDevices(ctx)
    app = make_app(ctx, devices=devices)
    # another writer holds the database, so the catch-up's first day waits on it (its busy timeout is 5 s): the
    # checkout is shown answering while the upkeep has work left, however fast the machine runs 400 days
    blocker = sqlite3.connect(tmp_path / "home" / "till.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        async with app.run_test(size=(100, 24)) as pilot:
            await until(pilot, lambda: "upkeep: running 400 days" in status(app), what="the catch-up started")
            await scan(pilot, app, OIL)  # the checkout takes a product while the upkeep works
            assert app.screen.basket.total_cents == 899
            assert devices.upkeep is not None and upkeep.last_run(ctx) is None
            assert not devices.settled(0.01)  # the start's background work is still running
            blocker.execute("ROLLBACK")
            await until(pilot, lambda: "upkeep: done through" in status(app), what="catch-up done")
            assert devices.settled(10.0) and devices.upkeep.days_run >= 400  # each day shown as it ran
            assert upkeep.last_run(ctx) in (today() - timedelta(days=1), today())
    finally:
        blocker.close()
        devices.stop()
    runs = [date.fromisoformat(r[0]) for r in ctx.conn.execute("SELECT day FROM upkeep_runs ORDER BY rowid")]
    assert runs == sorted(runs) and runs[0] == start and len(runs) >= 400

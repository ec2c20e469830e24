"""Payment cards leave no trace; device events from other threads reach the screen and status bar."""

from __future__ import annotations

import asyncio
import queue

from textual.widgets import Input

from cardread import parse_card
from cardread.read import PAYMENT_CARD_MESSAGE
from pos_client.app.events import DeviceEvent, drain_queue
from pos_client.app.widgets import MessageLine, StatusBar
from tests.test_app_support import CARD, OIL, PAN, TRACK_PAN, make_app, make_till, scan, type_slowly


def _message(app) -> str:
    return app.screen.query_one(MessageLine).text


def _files_bytes(home) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


async def test_payment_card_refused_and_never_stored(tmp_path):
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, OIL)
        await scan(pilot, app, TRACK_PAN)  # a bank card swiped in a wedge magstripe reader
        assert _message(app) == PAYMENT_CARD_MESSAGE
        assert app.screen.query_one(".-error")  # shown as an error
        await pilot.press("f2")
        await type_slowly(pilot, app, PAN, enter=True)  # ... and keyed by hand in the card slot
        assert _message(app) == PAYMENT_CARD_MESSAGE
        await pilot.press("f3")
        await type_slowly(pilot, app, PAN, enter=True)  # ... and in the item slot
        assert _message(app) == PAYMENT_CARD_MESSAGE
        for slot in app.screen.query(Input):
            assert PAN not in slot.value
        assert app.screen.basket.total_cents == 899  # nothing lost
        await scan(pilot, app, CARD)
        await pilot.press("f5")
        assert "+8 pts" in _message(app)
    ctx.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    data = _files_bytes(tmp_path)
    assert (tmp_path / "till.db-wal").exists() or (tmp_path / "till.db").exists()
    assert PAN.encode() not in data and b"DOE/JOHN" not in data
    assert ctx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 2


async def test_device_events_from_threads(tmp_path):
    ctx, member = make_till(tmp_path)
    q: queue.Queue = queue.Queue()
    app = make_app(ctx, sources=[lambda stop: drain_queue(q, stop)])  # stops with the app
    async with app.run_test(size=(80, 24)) as pilot:
        q.put(DeviceEvent.of_state("reader", "ready"))
        q.put(DeviceEvent.of_product(OIL))
        q.put(DeviceEvent.of_card(parse_card(CARD, "barcode")))
        for _ in range(50):
            await pilot.pause(0.02)
            if app.screen.basket.member_id:
                break
        assert app.screen.basket.member_id == member.member_id
        assert app.screen.basket.total_cents == 899
        status = app.screen.query_one(StatusBar)
        assert "reader: ready" in str(status.render())

        def from_driver_thread() -> None:
            app.post_device_event(DeviceEvent.of_card(parse_card(TRACK_PAN)))
            app.set_status("sync", "offline (3 queued)")

        await asyncio.to_thread(from_driver_thread)
        await pilot.pause(0.05)
        assert _message(app) == f"{PAYMENT_CARD_MESSAGE}; Ada Lovelace stays on this sale"
        assert app.screen.query_one("#card").value == CARD  # the slot keeps the attached member's card
        assert str(status.render()) == "reader: ready · sync: offline (3 queued)"
        app.post_device_event(DeviceEvent.of_error("printer out of paper", "printer"))
        await pilot.pause()
        assert _message(app) == "printer: printer out of paper"
        assert app.screen.basket.member_id == member.member_id  # an error loses nothing


async def test_a_failing_source_is_reported_not_fatal(tmp_path):
    ctx, _ = make_till(tmp_path)

    def broken_driver(stop):
        yield DeviceEvent.of_state("scanner", "ready")
        raise OSError("serial port vanished")

    app = make_app(ctx, sources=[broken_driver])
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(50):
            await pilot.pause(0.02)
            if "vanished" in _message(app):
                break
        assert _message(app) == "device source: stopped: OSError: serial port vanished"
        assert app.is_running
        await scan(pilot, app, OIL)  # the till carries on
        assert app.screen.basket.total_cents == 899


async def test_payment_number_keyed_on_member_screen_is_cleared(tmp_path):
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        await type_slowly(pilot, app, "4111 1111 1111 1111", enter=True)
        assert _message(app) == PAYMENT_CARD_MESSAGE
        await pilot.press("f3")
        app.screen.query_one("#e-phone", Input).value = PAN
        await pilot.press("f5")
        assert _message(app) == PAYMENT_CARD_MESSAGE
        assert all(PAN not in f.value.replace(" ", "") for f in app.screen.query(Input))
    assert ctx.conn.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 1

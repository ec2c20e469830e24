"""The app on the real stacks: pty readers, pcscd+vpcd, the TCP printer simulator, a head office on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Input

from cardread.read import PAYMENT_CARD_MESSAGE
from hw_sim import swipes
from hw_sim.printer import PrinterSim
from hw_sim.serial_sim import SerialDeviceSim
from pos_client.app.widgets import MessageLine, StatusBar
from pos_client.store import ledger, print_queue
from pos_client.store.config import write_config
from pos_client.till.devices import TillDevices
from tests.test_app_support import CARD, OIL, PAN, make_app, make_till, scan


async def until(pilot, check, timeout: float = 15.0, what: str = "") -> None:
    """Let the app run until `check()` holds; a loaded machine gets time, a broken path fails clearly."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            status = str(pilot.app.screen.query_one(StatusBar).render())
            raise AssertionError(f"timed out waiting for {what or check}; status bar: {status!r}")
        await pilot.pause(0.02)


def message(app) -> str:
    return app.screen.query_one(MessageLine).text


def status(app) -> str:
    return str(app.screen.query_one(StatusBar).render())


def till_with(home: Path, **config):
    home.mkdir(parents=True, exist_ok=True)
    write_config(home, config)
    return make_till(home)


async def test_swipe_and_scan_on_serial_readers_reach_the_app(tmp_path):
    msr = SerialDeviceSim("magstripe", tmp_path / "msr").start()
    scanner = SerialDeviceSim("barcode", tmp_path / "scanner").start()
    ctx, member = till_with(tmp_path / "home", devices={"readers": [
        {"kind": "serial", "url": str(tmp_path / "msr"), "role": "magstripe", "name": "swipe"},
        {"kind": "serial", "url": str(tmp_path / "scanner"), "role": "barcode", "name": "scanner"},
    ]})
    devices = TillDevices(ctx)
    app = make_app(ctx, devices=devices)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "scanner: ok" in status(app) and "swipe: ok" in status(app), what="readers")
            readers = list(devices.readers)
            scanner.send(OIL)
            await until(pilot, lambda: app.screen.basket.total_cents == 899, what="product line")
            assert message(app).startswith("Added Olive oil 1L")
            msr.swipe(CARD)
            await until(pilot, lambda: app.screen.basket.member_id == member.member_id, what="member")
            assert "Ada Lovelace attached" in message(app)
            assert app.screen.query_one("#card", Input).value == CARD  # the card slot shows the swiped card
            msr.send(swipes.garbage(seed=1))
            await until(pilot, lambda: "unreadable" in message(app), what="unreadable")
            assert message(app) == "swipe: unreadable, swipe again"
            msr.send(swipes.bank_swipe())
            # issue 13: one consistent state: the member stays attached AND the card slot still shows their card
            await until(pilot, lambda: message(app).startswith(PAYMENT_CARD_MESSAGE), what="refusal")
            assert message(app) == f"{PAYMENT_CARD_MESSAGE}; Ada Lovelace stays on this sale"
            assert PAN not in app.export_screenshot()
            assert app.screen.basket.member_id == member.member_id and app.screen.basket.total_cents == 899
            assert app.screen.query_one("#card", Input).value == CARD
            msr.unplug()
            await until(pilot, lambda: "swipe: lost" in status(app), what="unplugged state")
            msr.replug()
            await until(pilot, lambda: "swipe: ok" in status(app), what="replugged state")
        assert readers and not any(r.is_alive() for r in readers)  # stopped and joined on exit
    finally:
        msr.stop()
        scanner.stop()
        ctx.close()


async def test_nfc_tap_through_pcscd_attaches_the_member(tmp_path, vcard):
    ctx, member = till_with(tmp_path / "home", devices={"readers": [
        {"kind": "pcsc", "reader": "Virtual PCD", "name": "nfc"}]})
    devices = TillDevices(ctx)
    app = make_app(ctx, devices=devices)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "nfc: ok" in status(app), what="nfc reader")
            vcard("type4", uid="04112233445566", loyalty_id=CARD).tap()
            await until(pilot, lambda: app.screen.basket.member_id == member.member_id, what="member by tap")
            assert "Ada Lovelace attached" in message(app)
            readers = list(devices.readers)
        assert not any(r.is_alive() for r in readers)
    finally:
        ctx.close()


@pytest.fixture
def printer(tmp_path):
    sim = PrinterSim(port=0, out_dir=tmp_path / "receipts").start()
    yield sim
    sim.stop()


def printer_till(home: Path, sim: PrinterSim):
    return till_with(home, printer={"url": sim.url, "profile": "TM-T88V", "timeout": 3, "status_timeout": 1})


async def test_receipt_printed_after_pay_carries_the_ledger_balance(tmp_path, printer):
    ctx, member = printer_till(tmp_path / "home", printer)
    app = make_app(ctx, devices=TillDevices(ctx))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "printer: ok" in status(app), what="printer status at start")
            await scan(pilot, app, OIL)
            await scan(pilot, app, CARD)
            await pilot.press("f5")
            assert "+8 pts" in message(app)  # the till did not wait for the printer
            await until(pilot, lambda: len(printer.receipts) == 1, what="receipt at the printer")
            await until(pilot, lambda: "printer: ok" in status(app), what="printed state")
        balance = ledger.balance(ctx.conn, member.member_id)
        assert balance == ledger.ledger_sum(ctx.conn, member.member_id)
        text = printer.receipts[0].text
        assert "Olive oil 1L" in text
        assert any(str(balance) in line and "alance" in line for line in text.splitlines()), text
        assert printer.receipts[0].png_path.exists()
        assert not print_queue.pending(ctx.conn)
    finally:
        ctx.close()


async def test_paper_out_keeps_the_sale_and_queues_the_receipt_until_retry(tmp_path, printer):
    ctx, member = printer_till(tmp_path / "home", printer)
    app = make_app(ctx, devices=TillDevices(ctx))
    printer.paper_out(True)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "out of paper" in status(app), what="paper-out at start")
            await scan(pilot, app, CARD)
            await scan(pilot, app, OIL)
            await pilot.press("f5")
            await until(pilot, lambda: "1 receipt waiting" in status(app), what="queued receipt")
            assert "printer: out of paper — 1 receipt waiting" in status(app)
            sales = ctx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
            assert sales == 2 and len(print_queue.pending(ctx.conn)) == 1 and not printer.receipts
            printer.paper_out(False)
            await pilot.press("ctrl+r")
            await until(pilot, lambda: len(printer.receipts) == 1, what="receipt after retry")
            await until(pilot, lambda: "printer: ok" in status(app), what="ok after retry")
            assert message(app) == "printer: 1 receipt printed"
            await pilot.press("ctrl+r")  # nothing waiting: reprint the last receipt
            await until(pilot, lambda: len(printer.receipts) == 2, what="reprint")
            await until(pilot, lambda: "printer: ok" in status(app), what="ok after reprint")
        assert "REPRINT" in printer.receipts[1].text
        balance = ledger.balance(ctx.conn, member.member_id)
        assert any(str(balance) in line and "alance" in line for line in printer.receipts[0].text.splitlines())
        assert not print_queue.pending(ctx.conn)
    finally:
        ctx.close()


@pytest.fixture
def headoffice(tmp_path):
    from headoffice.server import ServerThread
    from headoffice.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'headoffice.db'}")
    server = ServerThread(store).start()
    yield store, server
    server.stop()
    store.close()


async def test_sync_status_online_then_offline_when_head_office_is_down(tmp_path, headoffice):
    from sync.register import register_till

    store, server = headoffice
    ctx, member = make_till(tmp_path / "home")
    register_till(ctx, server.url, store.add_till(ctx.store_id, ctx.till_id))
    devices = TillDevices(ctx, sync_interval=60)
    app = make_app(ctx, devices=devices)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "sync: online · 0 entries waiting" in status(app), what="online")
            assert store.balance(member.member_id) == ledger.balance(ctx.conn, member.member_id)
            await scan(pilot, app, CARD)
            await scan(pilot, app, OIL)
            await pilot.press("f5")  # the sale asks the worker for a round
            await until(pilot, lambda: store.balance(member.member_id) == ledger.balance(ctx.conn, member.member_id),
                        what="sale pushed")
            server.stop()
            await scan(pilot, app, CARD)
            await scan(pilot, app, OIL)
            t0 = time.monotonic()
            await pilot.press("f5")
            assert time.monotonic() - t0 < 1.0  # nothing at the till waits on the network
            await until(pilot, lambda: "sync: offline · 1 entries waiting" in status(app), what="offline")
            server.start()  # head office back on the same port: the next sale's round sends both
            await scan(pilot, app, CARD)
            await scan(pilot, app, OIL)
            await pilot.press("f5")
            await until(pilot, lambda: "sync: online · 0 entries waiting" in status(app), what="online again")
            assert store.balance(member.member_id) == ledger.balance(ctx.conn, member.member_id)
            worker = devices.sync_worker
        assert worker is not None and not worker._thread.is_alive()
    finally:
        ctx.close()

"""The manager's Devices screen, driven with Textual's pilot against real simulated devices: a pty
magstripe reader behind a by-id directory, the TCP printer sim, pyusb over the simulated USB bus, and
the private pcscd with vpcd. Plus an 80x24 snapshot (fixed devices)."""

from __future__ import annotations

import threading
import time
import tomllib

from textual.widgets import DataTable, Static

from cardread.barcode import with_check_digit
from drivers.discovery import BY_ID_ENV
from hw_sim import swipes
from hw_sim.printer import PrinterSim
from hw_sim.serial_sim import SerialDeviceSim
from hw_sim.usb_printer import SimUsbBus, SimUsbPrinter
from pos_client.app.devices_screen import DevicesScreen
from pos_client.app.manager_screen import ManagerScreen
from pos_client.app.widgets import MessageLine
from pos_client.services.marketing import manager
from pos_client.store.config import write_config
from tests.test_app_support import make_app, make_till, send_keys

PIN = "4321"
LOYALTY = with_check_digit("290000000007")
MSR = "usb-MagTek_USB_Swipe_Reader_B0A1C2-if00"


async def _settle(pilot, timeout: float = 20.0) -> None:
    """Wait for the screen's worker (a search or a test) to come back."""
    deadline = time.monotonic() + timeout
    await pilot.pause()
    while pilot.app.screen.busy:
        assert time.monotonic() < deadline, "the devices worker did not come back"
        await pilot.pause(0.05)
    await pilot.pause()


def _select(app, role: str, device_start: str) -> None:
    table = app.screen.query_one("#devices", DataTable)
    keys = [str(row.key.value) for row in table.ordered_rows]
    table.move_cursor(row=next(i for i, k in enumerate(keys) if k.startswith(f"{role}\t{device_start}")))


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_devices_screen_needs_the_manager_pin(tmp_path):
    ctx, _ = make_till(tmp_path)
    manager.add_manager(ctx, "Alice", PIN)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        await pilot.press("f8")
        assert isinstance(app.screen, ManagerScreen)
        assert "locked: key the manager PIN" in app.screen.query_one(MessageLine).text
        await send_keys(pilot, PIN, enter=True)
        await pilot.press("f8")
        assert isinstance(app.screen, DevicesScreen)
        await _settle(pilot)
        await pilot.press("escape")
        assert isinstance(app.screen, ManagerScreen) and app.screen.unlocked


async def test_test_and_use_a_reader_and_a_printer(tmp_path, monkeypatch):
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    monkeypatch.setenv(BY_ID_ENV, str(by_id))
    sim = SerialDeviceSim("magstripe", by_id / MSR).start()
    printer = PrinterSim(port=0, png=False).start()
    ctx, _ = make_till(tmp_path / "home")
    write_config(ctx.home, {"printer": {"url": f"tcp://127.0.0.1:{printer.port}"}})
    manager.add_manager(ctx, "Alice", PIN)
    app = make_app(ctx)
    stop = threading.Event()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f10")
            await send_keys(pilot, PIN, enter=True)
            await pilot.press("f8")
            await _settle(pilot)
            _select(app, "magstripe", str(by_id / MSR))
            await pilot.press("f5")
            assert "swipe a card now" in _text(app, "#result")

            def swipe() -> None:  # until the reader has the port open (pyserial drops what came before)
                while not stop.wait(0.3):
                    sim.send(swipes.track2(LOYALTY))
            threading.Thread(target=swipe, daemon=True).start()
            await _settle(pilot)
            stop.set()
            assert f"card {LOYALTY}" in _text(app, "#result") and "Works" in _text(app, "#result")
            await pilot.click("#use")
            assert "saved; the till uses it from its next start" in app.screen.query_one(MessageLine).text
            assert MSR[-20:] in _text(app, "#current")  # the end of the by-id link: the part that names it

            _select(app, "printer", "tcp://")
            await pilot.press("f5")
            await _settle(pilot)
            assert "status: ok" in _text(app, "#result")
            assert "Printer test" in printer.receipts[-1].text
            printer.paper_out()
            await pilot.press("f5")
            await _settle(pilot)
            assert "Not working" in _text(app, "#result") and "out of paper" in _text(app, "#result")
            await pilot.press("f6")
    finally:
        stop.set()
        sim.stop(), printer.stop()
    config = tomllib.loads((ctx.home / "config.toml").read_text())
    assert config["devices"]["readers"] == [{"kind": "serial", "url": str(by_id / MSR), "role": "magstripe"}]
    assert config["printer"]["url"] == f"tcp://127.0.0.1:{printer.port}"


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("serial-magstripe@") and t.is_alive()]


async def test_leaving_during_a_reader_test_closes_the_reader(tmp_path, monkeypatch):
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    monkeypatch.setenv(BY_ID_ENV, str(by_id))
    sim = SerialDeviceSim("magstripe", by_id / MSR).start()
    ctx, _ = make_till(tmp_path / "home")
    app = make_app(ctx)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = DevicesScreen(read_seconds=30)
            await app.push_screen(screen)
            await _settle(pilot)
            _select(app, "magstripe", str(by_id / MSR))
            await pilot.press("f5")
            assert screen.busy and _reader_threads()
            started = time.monotonic()
            await pilot.press("escape")
            while _reader_threads():  # the reader thread under test ends: the port is closed
                assert time.monotonic() - started < 3, "the reader was left open (its test lasts 30 s)"
                await pilot.pause(0.05)
    finally:
        sim.stop()


def test_devices_screen_snapshot(tmp_path, snap_compare, pcscd, monkeypatch):
    """Fixed devices: the machine's own serial ports are left out (they differ between machines)."""
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [])
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    sim = SerialDeviceSim("magstripe", by_id / MSR).start()
    bus = SimUsbBus(SimUsbPrinter(), SimUsbPrinter(0x0519, 0x0003, manufacturer="Star Micronics",
                                                   product="TSP143IIIU", serial_number="", address=4))
    ctx, _ = make_till(tmp_path / "home")
    write_config(ctx.home, {"printer": {"url": "tcp://127.0.0.1:9"}})
    app = make_app(ctx)

    async def test_usb_printer(pilot) -> None:
        await app.push_screen(DevicesScreen(by_id=by_id, usb_backend=bus))
        await _settle(pilot)
        _select(app, "printer", "usb://04b8")
        await pilot.press("f5")
        await _settle(pilot)

    try:
        assert snap_compare(app, terminal_size=(80, 24), run_before=test_usb_printer)
    finally:
        sim.stop()

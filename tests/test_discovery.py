"""Finding devices (drivers.discovery) and USB printing through escpos' real Usb class and real pyusb.

There is no USB bus here (no /dev/bus/usb): USB runs over `hw_sim.usb_printer.SimUsbBus`, a pyusb
backend, so pyusb's Device, descriptor parsing, interface claiming and escpos' Usb are the real code.
Serial ports are pty simulators behind a by-id directory of our own; PC/SC is the private pcscd + vpcd.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from drivers import discovery
from drivers.printer import PrinterError, open_printer
from hw_sim.printer import PrinterSim
from hw_sim.serial_sim import SerialDeviceSim
from hw_sim.usb_printer import SimUsbBus, SimUsbDevice, SimUsbPrinter
from pos_client.services import device_setup
from pos_client.store.config import from_mapping
from tests.ports import refusing_port

MSR = "usb-MagTek_USB_Swipe_Reader_B0A1C2-if00"
SCANNER = "usb-Honeywell_Voyager_1450g_21072B4F21-if00"


@pytest.fixture
def by_id(tmp_path):
    """A by-id directory with a magstripe reader and a scanner (ptys) linked in it, as udev would."""
    directory = tmp_path / "by-id"
    directory.mkdir()
    sims = [SerialDeviceSim("magstripe", directory / MSR).start(),
            SerialDeviceSim("barcode", directory / SCANNER).start()]
    yield directory
    for sim in sims:
        sim.stop()


def test_serial_ports_are_listed_by_their_by_id_link(by_id):
    ports = discovery.list_serial_ports(by_id)
    stable = [p.stable for p in ports]
    assert str(by_id / MSR) in stable and str(by_id / SCANNER) in stable
    msr = next(p for p in ports if p.stable == str(by_id / MSR))
    assert msr.device == os.path.realpath(by_id / MSR) and msr.device.startswith("/dev/pts/")
    assert msr.description == MSR
    # the kernel's name today and any other link to it resolve to the by-id link; an unlinked port stays itself
    assert discovery.stable_path(msr.device, by_id) == str(by_id / MSR)
    other = by_id.parent / "ttyMSR"
    other.symlink_to(msr.device)
    assert discovery.stable_path(str(other), by_id) == str(by_id / MSR)
    assert discovery.stable_path("/dev/ttyS7", by_id) == "/dev/ttyS7"


def test_by_id_directory_from_the_environment_and_missing(tmp_path, monkeypatch):
    monkeypatch.setenv(discovery.BY_ID_ENV, str(tmp_path / "nope"))
    assert discovery.by_id_dir() == tmp_path / "nope"
    assert discovery.by_id_links(tmp_path / "nope") == {}  # no USB serial device since boot: no directory
    monkeypatch.delenv(discovery.BY_ID_ENV)
    assert discovery.by_id_dir() == discovery.BY_ID_DIR


def _bus() -> tuple[SimUsbBus, SimUsbPrinter]:
    printer = SimUsbPrinter(0x04B8, 0x0E28, manufacturer="EPSON", product="TM-T20III", serial_number="X7RB000123")
    vendor_class = SimUsbPrinter(0x0519, 0x0003, manufacturer="Star Micronics", product="TSP143IIIU",
                                 serial_number="", interface_class=0xFF, address=4)
    scanner = SimUsbDevice(0x0C2E, 0x0B61, "Honeywell", "Voyager 1450g", "21072B4F21", interface_class=3, address=3)
    return SimUsbBus(printer, scanner, vendor_class), printer


def test_usb_printers_by_class_or_vendor_and_not_the_scanner():
    bus, _ = _bus()
    printers, note = discovery.list_usb_printers(bus)
    assert note is None
    assert [(p.url, p.manufacturer, p.product, p.serial_number) for p in printers] == [
        ("usb://04b8:0e28", "EPSON", "TM-T20III", "X7RB000123"),
        ("usb://0519:0003", "Star Micronics", "TSP143IIIU", ""),  # vendor class 0xFF: known by its vendor id
    ]


def test_usb_listing_without_a_bus_is_a_note_not_an_error():
    if os.path.exists("/dev/bus/usb"):
        pytest.skip("this machine has a USB bus")
    printers, note = discovery.list_usb_printers()  # libusb itself, on a machine without /dev/bus/usb
    assert printers == [] and note and "USB" in note


def test_usb_printing_through_escpos_usb_and_pyusb():
    bus, sim = _bus()
    ctx_config = from_mapping({"store_name": "Épicerie Zoë"})
    result = device_setup.check_printer(ctx_config, "usb:04b8:0e28", usb_backend=bus)
    assert result.device == "usb://04b8:0e28"
    assert result.ok and result.status.known and result.status.online and not result.status.paper_out
    assert sim.received.startswith(b"\x1b@")  # the receipt, then DLE EOT 1, 2 and 4 on the same endpoint
    assert sim.received[result.sent:] == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"
    assert "Épicerie Zoë" in sim.texts[0] and "Printer: usb://04b8:0e28" in sim.texts[0]
    assert sim.opened == 0 and sim.claimed == set()  # escpos' close() gave the device back

    sim.status.paper_out()
    result = device_setup.check_printer(ctx_config, "usb://04b8:0e28", usb_backend=bus)
    assert not result.ok and result.status.problem == "printer out of paper"
    assert "out of paper" in result.text


def test_usb_printer_without_status_channel_reports_unknown_not_offline():
    bus = SimUsbBus(SimUsbPrinter(0x0FE6, 0x811E, in_ep=0x81, out_ep=0x02, interface_protocol=1))
    config = from_mapping({"printer": {"status_timeout": 0.3}})
    # unidirectional (protocol 1): no answer to DLE EOT; its endpoints are not escpos' defaults, given in the URL
    result = device_setup.check_printer(config, "usb://0fe6:811e?out_ep=0x02&in_ep=0x81", usb_backend=bus)
    assert result.ok and not result.status.known and "sends no status back" in result.text
    assert "Printer test" in bus.devices[0].texts[0]  # type: ignore[attr-defined]


def test_usb_printer_missing_or_unplugged_is_a_printer_error():
    bus, sim = _bus()
    with pytest.raises(PrinterError, match="not reachable at usb://1234:5678"):
        open_printer("usb://1234:5678", usb_backend=bus)
    with open_printer("usb://04b8:0e28", usb_backend=bus) as printer:
        printer.send(b"\x1b@hello\n")
        bus.unplug(sim)
        with pytest.raises(PrinterError, match="connection lost"):
            printer.send(b"more\n")
    assert sim.received == b"\x1b@hello\n"


def test_network_printer_probe():
    sim = PrinterSim(port=0, png=False).start()
    try:
        with refusing_port() as free_port:  # nothing listens there, and nothing can while the test runs
            started = time.monotonic()
            found = discovery.network_printers([f"tcp://127.0.0.1:{sim.port}", f"tcp://127.0.0.1:{free_port}",
                                                "usb://04b8:0202", ""], probe=True)
            assert time.monotonic() - started < 2
        assert [(p.url, p.reachable) for p in found] == [(f"tcp://127.0.0.1:{sim.port}", True),
                                                         (f"tcp://127.0.0.1:{free_port}", False)]
        assert discovery.network_printers([f"tcp://127.0.0.1:{sim.port}"])[0].reachable is None
    finally:
        sim.stop()


def test_pcsc_readers_listed_from_pcscd(pcscd):
    names, note = discovery.list_pcsc_readers()
    assert note is None and any(name.startswith("Virtual PCD") for name in names)


def test_candidates_per_role(by_id, pcscd):
    bus, _ = _bus()
    config = from_mapping({"printer": {"url": "tcp://127.0.0.1:9"}})
    offered = device_setup.candidates(device_setup.discover(config, by_id=by_id, usb_backend=bus))
    for role in ("magstripe", "barcode"):
        assert {str(by_id / MSR), str(by_id / SCANNER)} <= {c.device for c in offered[role]}
    assert any(c.device.startswith("Virtual PCD") for c in offered["nfc"])
    assert [c.device for c in offered["printer"]] == ["usb://04b8:0e28", "usb://0519:0003", "tcp://127.0.0.1:9"]
    assert offered["printer"][-1].label == "tcp://127.0.0.1:9 (no answer)"


RULE_TOKEN = r'(?:[A-Z_]+(?:\{[A-Za-z_]+\})?)(?:==|!=|\+=|=)"[^"]*"'


def test_udev_rules_are_well_formed_and_cover_the_printer_vendors_discovery_knows():
    rules = (Path(__file__).resolve().parents[1] / "deploy" / "udev" / "99-pos-till.rules").read_text()
    lines = [line for line in rules.splitlines() if line.strip() and not line.startswith("#")]
    assert lines
    for line in lines:  # `KEY=="value", KEY{attr}=="value", GROUP="lp", ...` and nothing else
        assert re.fullmatch(rf"{RULE_TOKEN}(?:, {RULE_TOKEN})*", line), line
        assert 'MODE="0660"' in line and re.search(r'GROUP="(dialout|lp|plugdev|input)"', line), line
    printer_ids = {int(v, 16) for line in lines if 'GROUP="lp"' in line
                   for m in re.finditer(r'(?:idVendor|ID_VENDOR_ID)\}=="([0-9a-f|]+)"', line)
                   for v in m.group(1).split("|")}
    assert printer_ids and printer_ids <= set(discovery.PRINTER_VENDORS)
    assert 'SYMLINK+="pos/printer"' in rules and 'SYMLINK+="pos/reader-%k"' in rules

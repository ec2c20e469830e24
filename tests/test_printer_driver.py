"""Printer URLs and DLE EOT status decoding."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drivers.errors import DeviceConfigError
from drivers.escpos_adapter import profile_names
from drivers.escpos_render import render_blocks
from drivers.printer import open_printer, parse_url
from drivers.printer_status import decode, is_status_byte, query
from drivers.receipt_blocks import QR, Barcode, Text
from hw_sim.escpos_decode import code_page_table
from hw_sim.escpos_decode import decode as decode_escpos
from hw_sim.printer import PrinterSim


@pytest.mark.parametrize("url,scheme,target,port,two_way", [
    ("tcp://192.168.1.50:9100", "tcp", "192.168.1.50", 9100, True),
    ("tcp://printer.local", "tcp", "printer.local", 9100, True),
    ("serial:///dev/ttyS0?baudrate=38400", "serial", "/dev/ttyS0", 9100, True),
    ("usb://04b8:0202", "usb", "04b8:0202", 9100, False),
    ("file:///dev/usb/lp0", "file", "/dev/usb/lp0", 9100, False),
    ("dummy://", "dummy", "", 9100, False),
])
def test_printer_urls(url, scheme, target, port, two_way):
    u = parse_url(url)
    assert (u.scheme, u.target, u.port, u.two_way) == (scheme, target, port, two_way)
    if scheme == "serial":
        assert u.options == {"baudrate": "38400"}


@pytest.mark.parametrize("url,message", [
    ("", "no printer configured"),
    ("lpt://x", "unknown printer URL"),
    ("tcp://:9100", "has no host"),
    ("usb://epson", "expected usb://VID:PID"),
    ("serial://", "has no device path"),
])
def test_bad_printer_urls(url, message):
    with pytest.raises(DeviceConfigError, match=message):
        parse_url(url)


def test_unknown_profile_and_missing_usb_library_are_clear():
    with pytest.raises(DeviceConfigError, match="unknown printer profile 'TM-T99'"):
        open_printer("dummy://", "TM-T99")
    from drivers.printer import PrinterError

    with pytest.raises(PrinterError, match="usb"):  # pyusb is not a dependency of the till
        open_printer("usb://04b8:0202", "TM-T88V")


def test_serial_device_missing_is_not_reachable(tmp_path):
    from drivers.printer import PrinterError

    with pytest.raises(PrinterError, match="printer not reachable at serial://"):
        open_printer(f"serial://{tmp_path}/ttyNOPE?baudrate=38400", "TM-T88V")


@pytest.mark.parametrize("replies,problem,near", [
    ({1: 0x12, 2: 0x12, 4: 0x12}, None, False),
    ({1: 0x1A, 2: 0x32, 4: 0x72}, "printer out of paper", False),
    ({1: 0x1A, 2: 0x16, 4: 0x12}, "printer cover open", False),
    ({1: 0x1A, 2: 0x12, 4: 0x12}, "printer offline", False),
    ({1: 0x1A, 2: 0x52, 4: 0x12}, "printer error: check the printer, then retry", False),
    ({1: 0x12, 2: 0x12, 4: 0x1E}, None, True),
])
def test_status_bytes(replies, problem, near):
    st = decode(replies)
    assert st.problem == problem and st.paper_near_end == near
    assert (st.warning is not None) == near


def test_status_query_skips_bytes_that_are_not_replies():
    sent = []
    chunks = [b"\x13\x12", b"\x1a", b"\x72"]  # an XOFF first, then the three replies
    st = query(sent.append, lambda left: chunks.pop(0) if chunks else b"", timeout=0.5)
    assert sent == [b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"]
    assert st.paper_out and not is_status_byte(0x13)


def test_simulator_status_bytes_have_the_fixed_bits(tmp_path):
    sim = PrinterSim(port=0, out_dir=None)
    for flag in ("paper_out", "offline", "cover_open", "paper_near_end", "error"):
        getattr(sim, flag)(True)
        assert all(is_status_byte(sim.status_byte(n)[0]) for n in (1, 2, 3, 4))
        getattr(sim, flag)(False)


def test_escpos_is_used_through_the_adapter_only():
    """One module imports python-escpos; its private `_raw` hook is called by `write_raw` there and nowhere else."""
    root = Path(__file__).resolve().parents[1]
    importers, raw_calls = [], []
    for path in sorted(root.glob("[a-z]*/**/*.py")):
        if ".venv" in path.parts or path.parts[len(root.parts)] == "tests":
            continue
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(from escpos[ .]|import escpos)", text, re.MULTILINE):
            importers.append(rel)
        raw_calls += [f"{rel}: {m}" for m in re.findall(r"\._(?:raw|hw_barcode|sw_barcode)\(", text)]
    assert importers == ["drivers/escpos_adapter.py"]
    assert raw_calls == ["drivers/escpos_adapter.py: ._raw("]


@pytest.mark.parametrize("profile", profile_names())
def test_every_profile_renders_codes_silently(profile, capsys):
    """Native or raster barcodes and QR codes, or text when the printer has neither: never a word on stdout."""
    blocks = [Text("Zoë 5 € off", bold=True, size="double", align="center"), Barcode("CPN-7Q{X9"),
              Barcode("4006381333931", "EAN13"), QR("https://shop.example/c/CPN-7Q{X9"), Text("Fin ß")]
    page = decode_escpos(render_blocks(blocks, profile), code_page_table(profile))[-1]
    assert capsys.readouterr().out == ""
    assert "CPN-7Q{X9" in page.text() and not page.unknown

"""`pos-client devices list|test [--save]` end to end: the real CLI in a child process against a pty
magstripe reader behind a by-id directory, the vpcd virtual card on a private pcscd, and the TCP printer sim.

What is saved is the stable identity: the by-id link even when the test was given `/dev/pts/N`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest

from cardread.barcode import with_check_digit
from drivers.discovery import BY_ID_ENV, list_pcsc_readers
from hw_sim import swipes
from hw_sim.printer import PrinterSim
from hw_sim.serial_sim import SerialDeviceSim

ROOT = Path(__file__).resolve().parents[1]
LOYALTY = with_check_digit("290000000007")
MSR = "usb-MagTek_USB_Swipe_Reader_B0A1C2-if00"


@pytest.fixture
def rig(tmp_path):
    """A till home (config.toml with a scanner entry to keep), a by-id directory with a magstripe pty."""
    home, by_id = tmp_path / "home", tmp_path / "by-id"
    home.mkdir(), by_id.mkdir()
    (home / "config.toml").write_text(
        'store_name = "Test Shop"\n[devices]\nreaders = [\n'
        '  { kind = "serial", url = "/dev/ttyUSB9", role = "magstripe", baud = 19200, name = "msr" },\n'
        '  { kind = "evdev", path = "/dev/input/by-id/usb-Scanner-event-kbd", role = "barcode" },\n]\n')
    sim = SerialDeviceSim("magstripe", by_id / MSR).start()
    env = {**os.environ, "POS_CLIENT_HOME": str(home), "PYTHONPATH": str(ROOT), BY_ID_ENV: str(by_id)}
    yield home, by_id, sim, env
    sim.stop()


def _run(env: dict, *args: str, timeout: float = 60) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "pos_client", "devices", *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout + proc.stderr


def _config(home: Path) -> dict:
    return tomllib.loads((home / "config.toml").read_text())


def _swiping(sim: SerialDeviceSim, text: str, stop: threading.Event) -> threading.Thread:
    """Swipe every 0.3 s until stopped: pyserial drops what arrives before the port is open, as a clerk
    swipes again when the first swipe did not show."""
    def run() -> None:
        while not stop.wait(0.3):
            sim.send(text)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_list_offers_each_role_its_devices(rig, pcscd):
    _, by_id, _, env = rig
    printer = PrinterSim(port=0, png=False).start()
    try:
        code, out, _ = _run({**env, **pcscd.env}, "list", "--probe", f"127.0.0.1:{printer.port}")
    finally:
        printer.stop()
    assert code == 0
    roles = {role: [c["device"] for c in offered] for role, offered in out["roles"].items()}
    assert str(by_id / MSR) in roles["magstripe"] and str(by_id / MSR) in roles["barcode"]
    assert any(name.startswith("Virtual PCD") for name in roles["nfc"])
    assert f"tcp://127.0.0.1:{printer.port}" in roles["printer"]
    probed = next(p for p in out["found"]["network_printers"] if p["port"] == printer.port)
    assert probed["reachable"] is True
    port = next(p for p in out["found"]["serial"] if p["stable"] == str(by_id / MSR))
    assert port["device"] == os.path.realpath(by_id / MSR)


def test_magstripe_test_and_save_by_id_keeps_the_entry_settings(rig):
    home, by_id, sim, env = rig
    stop = threading.Event()
    _swiping(sim, swipes.track2(LOYALTY), stop)
    try:  # given the kernel's name for the port, as a person copying it from dmesg would
        code, out, _ = _run(env, "test", "magstripe", os.path.realpath(by_id / MSR), "--timeout", "15", "--save")
    finally:
        stop.set()
    assert code == 0, out
    assert out["ok"] and out["read"]["kind"] == "card" and out["read"]["card"] == LOYALTY
    readers = _config(home)["devices"]["readers"]
    assert readers[0] == {"kind": "serial", "url": str(by_id / MSR), "role": "magstripe", "baud": 19200,
                          "name": "msr"}  # the by-id link, not /dev/pts/N; baud and name kept
    assert readers[1]["kind"] == "evdev"  # the scanner entry is left alone
    assert out["saved"]["reader"] == readers[0]


def test_nothing_read_is_exit_1_and_nothing_saved(rig):
    home, by_id, _, env = rig
    before = (home / "config.toml").read_text()
    code, out, _ = _run(env, "test", "barcode", str(by_id / MSR), "--timeout", "0.5", "--save")
    assert code == 1 and not out["ok"] and out["read"] is None and "nothing read in 0.5 s" in out["text"]
    assert (home / "config.toml").read_text() == before


def test_bank_card_swipe_shows_the_refusal_never_the_number(rig):
    _, by_id, sim, env = rig
    stop = threading.Event()
    _swiping(sim, swipes.bank_swipe(), stop)
    try:
        code, out, everything = _run(env, "test", "magstripe", str(by_id / MSR), "--timeout", "15")
    finally:
        stop.set()
    assert code == 0 and out["read"]["payment_card"] is True and out["read"]["card"] is None
    assert swipes.TEST_PAN not in everything


def test_nfc_test_and_save_by_reader_name(rig, pcscd, vcard):
    home, _, _, env = rig
    names, _ = list_pcsc_readers()
    name = next(n for n in names if n.startswith("Virtual PCD"))
    vcard("uid", uid="04A2B3C4D5E680").tap()
    code, out, _ = _run({**env, **pcscd.env}, "test", "nfc", name, "--timeout", "15", "--save")
    assert code == 0, out
    assert out["read"]["card"] == "NFC:04A2B3C4D5E680"
    readers = _config(home)["devices"]["readers"]
    assert {"kind": "pcsc", "reader": name, "name": "nfc"} in readers and len(readers) == 3


def test_printer_test_prints_reads_status_and_saves(rig):
    home, _, _, env = rig
    printer = PrinterSim(port=0, png=False).start()
    try:
        code, out, _ = _run(env, "test", "printer", f"127.0.0.1:{printer.port}", "--save")
        assert code == 0 and out["status"]["known"] and out["status"]["problem"] is None
        assert "Printer test" in printer.receipts[-1].text and "Test Shop" in printer.receipts[-1].text
        assert printer.status_queries >= 3
        assert _config(home)["printer"]["url"] == f"tcp://127.0.0.1:{printer.port}"

        printer.paper_out()
        code, out, _ = _run(env, "test", "printer", f"tcp://localhost:{printer.port}", "--save")
        assert code == 1 and out["status"]["problem"] == "printer out of paper" and "saved" not in out
        assert _config(home)["printer"]["url"] == f"tcp://127.0.0.1:{printer.port}"  # unchanged
    finally:
        printer.stop()


@pytest.mark.parametrize("args,code,message", [
    (("test", "scale", "/dev/ttyS0"), 2, None),  # argparse: not a role
    (("test", "printer", "usb:epson"), 2, "expected usb://VID:PID"),
    (("test", "printer", "usb:1234:5678", "--timeout", "1"), 1, "not reachable at usb://1234:5678"),
])
def test_bad_input_is_a_clear_error(rig, args, code, message):
    _, _, _, env = rig
    proc = subprocess.run([sys.executable, "-m", "pos_client", "devices", *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == code and "Traceback" not in proc.stderr
    if message:
        assert message in json.loads(proc.stdout.splitlines()[-1])["error"]


def test_no_till_is_exit_4(tmp_path):
    env = {**os.environ, "POS_CLIENT_HOME": str(tmp_path / "none"), "PYTHONPATH": str(ROOT)}
    code, out, _ = _run(env, "list")
    assert code == 4 and "no till" in out["error"]

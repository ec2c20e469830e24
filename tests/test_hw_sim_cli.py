"""The simulators' command lines, driven through stdin as a person or the demo would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cardread.barcode import with_check_digit
from drivers.pcsc_reader import PcscReader
from drivers.serial_reader import SerialReader
from tests.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
LOYALTY = with_check_digit("290000000013")


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hw_sim", *args], cwd=ROOT, env=ENV, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )


def _say(proc: subprocess.Popen, line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def test_hw_sim_serial_from_stdin(tmp_path):
    link = tmp_path / "ttyMSR"
    proc = _spawn("serial", "magstripe", "--link", str(link))
    log = EventLog()
    reader = SerialReader(str(link), log, role="magstripe", name="msr")
    try:
        assert "magstripe at" in proc.stdout.readline()  # the link exists once this is printed
        reader.start()
        assert log.kind("state").state == "connected"
        _say(proc, f":swipe {LOYALTY}")
        assert log.kind("card").read.card_number == LOYALTY
        _say(proc, ":bank")
        assert log.kind("card").read.payment_card
        _say(proc, ":unplug")
        assert log.kind("state").state == "disconnected"
        _say(proc, ":replug")
        assert log.kind("state").state == "connected"
        _say(proc, ":quit")
        assert proc.wait(5) == 0
        assert not link.exists()
    finally:
        reader.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_hw_sim_nfc_tap_and_lift(pcscd):
    from tests.pcsc_fixture import wait_reader_empty

    proc = _spawn("nfc", "--kind", "type4", "--loyalty-id", LOYALTY, "--port", str(pcscd.port))
    log = EventLog()
    reader = PcscReader(log, reader="Virtual PCD", poll_ms=100)
    reader.start()
    try:
        assert f"on 127.0.0.1:{pcscd.port}" in proc.stdout.readline()
        event = log.kind("card", timeout=10)
        assert event.read.card_number == LOYALTY
        _say(proc, "lift")
        wait_reader_empty()
        _say(proc, "tap")
        assert log.kind("card", timeout=10).read.card_number == LOYALTY
        _say(proc, "quit")
        assert proc.wait(5) == 0
    finally:
        reader.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        wait_reader_empty()

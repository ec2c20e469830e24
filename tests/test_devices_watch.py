"""`pos-client devices watch --json` end to end, and building readers from config."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cardread.barcode import with_check_digit
from drivers.errors import DeviceConfigError
from drivers.readers import build_readers
from drivers.serial_reader import SerialReader
from hw_sim import swipes
from hw_sim.serial_sim import SerialDeviceSim

ROOT = Path(__file__).resolve().parents[1]
LOYALTY = with_check_digit("290000000007")
PRODUCT = with_check_digit("400638133393")


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


class LineReader:
    """Lines of a child's stdout, with a bounded wait (no fixed sleeps)."""

    def __init__(self, stream) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.all: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.all.append(line)
            self.lines.put(line)

    def until(self, match, timeout: float = 25.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching line; got {self.all!r}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            item = json.loads(line)
            if match(item):
                return item


def _watch(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pos_client", "devices", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=30, env={**os.environ, "POS_CLIENT_HOME": str(home), "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_watch_timeout_with_a_missing_port(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    missing = tmp_path / "ttyNOPE"
    (home / "config.toml").write_text(
        f'[devices]\nreaders = [{{ kind = "serial", url = {_toml_str(str(missing))}, role = "barcode" }}]\n'
    )
    proc = _watch(home, "watch", "--json", "--timeout", "0.5")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["kind"] == "state" and lines[0]["state"] == "waiting" and str(missing) in lines[0]["detail"]
    assert lines[-1] == {"kind": "end", "reason": "timeout", "reads": 0, "events": len(lines) - 1}


@pytest.mark.parametrize(
    "config,args,message",
    [
        ("", ("watch", "--json"), "no readers configured"),
        ('[devices]\nreaders = [{ kind = "usb" }]\n', ("watch", "--json"), "kind must be one of"),
        ("", ("--json",), "usage: pos-client devices watch"),
    ],
)
def test_watch_usage_errors(tmp_path, config, args, message):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(config)
    proc = _watch(home, *args)
    assert proc.returncode == 2
    assert message in json.loads(proc.stdout.splitlines()[-1])["error"]


def test_watch_json_reports_swipe_scan_taps_and_refusal(tmp_path, pcscd, vcard):
    stripe, scanner = SerialDeviceSim("magstripe", tmp_path / "ttyMSR"), SerialDeviceSim("barcode", tmp_path / "ttySCN")
    stripe.start(), scanner.start()
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        "[devices]\nreaders = [\n"
        f'  {{ kind = "serial", url = {_toml_str(str(stripe.link))}, role = "magstripe", name = "msr" }},\n'
        f'  {{ kind = "serial", url = {_toml_str(str(scanner.link))}, role = "barcode", name = "scanner",'
        ' terminator = "\\\\r\\\\n" },\n'
        '  { kind = "pcsc", reader = "Virtual PCD", name = "nfc" },\n]\n'
    )
    scanner.terminator = b"\r\n"
    env = {**os.environ, "POS_CLIENT_HOME": str(home), "PYTHONPATH": str(ROOT), **pcscd.env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos_client", "devices", "watch", "--json", "--count", "4", "--timeout", "30"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out = LineReader(proc.stdout)
    try:
        connected: set[str] = set()
        while connected != {"msr", "scanner", "nfc"}:  # readers connect in any order
            connected.add(out.until(lambda e: e.get("state") == "connected")["source"])
        stripe.swipe(LOYALTY)
        assert out.until(lambda e: e["kind"] != "state") == {
            "source": "msr", "kind": "card", "card": LOYALTY, "via": "magstripe"}
        scanner.send(PRODUCT)
        assert out.until(lambda e: e["kind"] != "state") == {"source": "scanner", "kind": "product", "product": PRODUCT}
        stripe.send(swipes.bank_swipe())
        refused = out.until(lambda e: e["kind"] != "state")
        assert refused["card"] is None and refused["payment_card"] is True and "payment card" in refused["error"]
        vcard("uid", uid="04A2B3C4D5E680").tap()
        assert out.until(lambda e: e["kind"] != "state")["card"] == "NFC:04A2B3C4D5E680"
        end = out.until(lambda e: e["kind"] == "end")
        assert end["reason"] == "count" and end["reads"] == 4
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stripe.stop(), scanner.stop()
    stderr = proc.stderr.read()
    assert swipes.TEST_PAN not in "".join(out.all) + stderr


def test_readers_from_config():
    readers = build_readers(
        {"readers": [
            {"kind": "serial", "url": "/dev/ttyUSB0", "role": "barcode", "baud": 38400, "terminator": "\\r\\n"},
            {"kind": "pcsc", "reader": "ACR122", "name": "front"},
        ]},
        lambda e: None,
    )
    serial, pcsc = readers
    assert isinstance(serial, SerialReader) and serial.baud == 38400 and serial.terminator == b"\r\n"
    assert serial.source == "barcode@/dev/ttyUSB0" and serial.role == "barcode"
    assert pcsc.source == "front" and pcsc.reader_filter == "ACR122"
    assert not any(r.is_alive() for r in readers)


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"kind": "usb"}, "kind must be one of"),
        ({"kind": "serial"}, "needs a url"),
        ({"kind": "serial", "url": "/dev/ttyS0", "role": "printer"}, "role must be one of"),
        ({"kind": "serial", "url": "/dev/ttyS0", "baud": "fast"}, "baud must be a number"),
        ({"kind": "pcsc", "readr": "x"}, "unknown setting(s) readr"),
    ],
)
def test_bad_reader_config_is_a_clear_usage_error(spec, message):
    with pytest.raises(DeviceConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_readers({"readers": [spec]}, lambda e: None)

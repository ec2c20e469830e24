"""Issue 11: random and adversarial bank card numbers (every network's PAN formats, every separator, tracks
whatever their Luhn) fed to every entry point never reach the till's database, its log or outbox, nor head
office's database.

Real parts: the CLI in a subprocess, the app through a Textual pilot (a wedge scan and a serial barcode
reader on a pty), `pos-client import sales` of a CSV, and a push to the real head-office server on loopback.
After each, the bytes of every file of the till's home (till.db, -wal, logs/, secrets/) and of head office's
database are searched for every digit run of the PAN, with and without separators.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardread.payment import luhn_valid
from headoffice.server import ServerThread
from hw_sim.serial_sim import SerialDeviceSim
from pos_client.app.widgets import MessageLine
from pos_client.store.config import write_config
from pos_client.store.token_file import read_token, token_path
from pos_client.till import open_till
from pos_client.till.devices import TillDevices
from tests.sync.tillkit import register
from tests.test_app_support import CARD, make_app, make_till, scan

ROOT = Path(__file__).resolve().parents[1]
SEPARATORS = ("", " ", "-", ".", "_", "/")
# (IIN prefix, lengths): every network `cardread.payment` knows, at the lengths they issue.
NETWORKS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("4", (13, 16, 19)), ("51", (16,)), ("55", (16,)), ("2221", (16,)), ("2720", (16,)), ("34", (15,)),
    ("37", (15,)), ("300", (14,)), ("36", (14,)), ("38", (16,)), ("6011", (16, 19)), ("644", (16,)),
    ("65", (16,)), ("3528", (16,)), ("3589", (19,)), ("62", (16, 19)), ("50", (16,)), ("56", (16,)),
    ("63", (16,)), ("67", (16,)), ("60", (16,)), ("2200", (16,)), ("2204", (16,)), ("9792", (16,)),
    ("81", (16,)), ("1", (15,)),
)
SLOW = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def _luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


@st.composite
def pans(draw: st.DrawFn) -> str:
    prefix, lengths = draw(st.sampled_from(NETWORKS))
    length = draw(st.sampled_from(lengths))
    rest = draw(st.text(alphabet="0123456789", min_size=length - len(prefix) - 1,
                        max_size=length - len(prefix) - 1))
    return _luhn_complete(prefix + rest)


@st.composite
def card_inputs(draw: st.DrawFn) -> tuple[str, str]:
    """(the PAN's digits, what is keyed, scanned or sent)."""
    pan = draw(pans())
    shape = draw(st.sampled_from(("grouped", "grouped", "track2", "track1")))
    if shape == "track2":  # a track 2 whose PAN may fail Luhn by one digit
        digits = pan if draw(st.booleans()) else pan[:-1] + str((int(pan[-1]) + 1) % 10)
        return digits, f";{digits}=2512101{draw(st.text(alphabet='0123456789', max_size=8))}?"
    if shape == "track1":
        return pan, f"%B{pan}^DOE/JANE^2512101000000000?"
    sep = draw(st.sampled_from(SEPARATORS))
    text = sep.join(pan[i:i + 4] for i in range(0, len(pan), 4))
    if draw(st.booleans()):
        text += draw(st.sampled_from(("X", "a", " ", "?", "\t")))
    return pan, text


def needles(digits: str, text: str) -> list[bytes]:
    """Every form of the number to look for: all its digits, grouped by 4 with every separator, as sent."""
    forms = {digits, text.strip()} | {sep.join(digits[i:i + 4] for i in range(0, len(digits), 4))
                                      for sep in SEPARATORS}
    return [f.encode() for f in forms if len(f) >= 12]


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in sorted(root.rglob("*")) if p.is_file()]


def assert_nowhere(digits: str, text: str, *roots: Path) -> None:
    files = files_under(*roots)
    assert files, "nothing to search"
    for path in files:
        data = path.read_bytes()
        for needle in needles(digits, text):
            assert needle not in data, f"a payment card number ({len(digits)} digits) is in {path.name}"


def _cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POS_CLIENT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pos_client", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


@SLOW
@given(card=card_inputs())
def test_cli_refuses_and_stores_nothing(tmp_path_factory, card):
    digits, text = card
    home = tmp_path_factory.mktemp("cli") / "home"
    assert _cli(home, "init", "--store", "S1", "--till", "T1").returncode == 0
    enrol = _cli(home, "member", "enroll", "--card", text, "--name", "Jane", "--json")
    assert enrol.returncode in (2, 3), enrol.stdout + enrol.stderr
    sale = _cli(home, "sale", "--card", text, "--amount", "5.00", "--json")
    assert sale.returncode in (2, 3, 4)
    named = _cli(home, "member", "enroll", "--phone", "0612345678", "--name", f"Jane {text}", "--json")
    assert named.returncode == 3, named.stdout + named.stderr  # free text is refused too
    for out in (enrol.stdout, enrol.stderr, sale.stdout, sale.stderr, named.stdout, named.stderr):
        assert digits not in out
    assert_nowhere(digits, text, home)


@settings(max_examples=2, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cards=st.lists(card_inputs(), min_size=4, max_size=8))
def test_import_sales_enrols_none_of_them(tmp_path_factory, cards):
    base = tmp_path_factory.mktemp("imp")
    home = base / "home"
    assert _cli(home, "init", "--store", "S1", "--till", "T1").returncode == 0
    csv_path = base / "history.csv"
    rows = [f'"{text.replace(chr(34), "")}",2026-01-0{i % 9 + 1},3.00' for i, (_, text) in enumerate(cards)]
    csv_path.write_text("card,date,amount\n" + "\n".join([*rows, f"{CARD},2026-01-02,4.00"]) + "\n")
    proc = _cli(home, "import", "sales", str(csv_path), "--enroll-unknown", "--json")
    assert proc.returncode in (0, 3), proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["enrolled"] == 1  # the program's own card only
    for digits, text in cards:
        assert digits not in proc.stdout + proc.stderr
        assert_nowhere(digits, text, home)


@pytest.fixture
def pushing(ho_store, tmp_path):
    """A registered till's push: (head office's URL, the till's headers, store, till), the real server."""
    server = ServerThread(ho_store).start()
    ctx = open_till(tmp_path / "till")
    try:
        register(ctx, ho_store, server.url)
        token = read_token(token_path(ctx.conn))
        yield server.url, {"Authorization": f"Bearer {token}"}, ctx.store_id, ctx.till_id
    finally:
        server.stop()
        ctx.close()


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(card=card_inputs())
def test_head_office_push_quarantines_without_the_number(pushing, tmp_path, card):
    digits, text = card
    url, headers, store_id, till_id = pushing
    now = "2026-01-05T10:00:00+00:00"
    member = {"member_id": "m-pan", "store_id": store_id, "created_at": now, "updated_at": now,
              "name": f"Jane {text}"}
    body = {"store_id": store_id, "till_id": till_id, "members": [member], "cards": [
        {"card_number": text, "member_id": "m-pan", "source": "keyed", "status": "active", "updated_at": now},
        {"card_number": digits, "member_id": "m-pan", "source": "keyed", "status": "active", "updated_at": now},
    ]}
    r = httpx.post(f"{url}/v1/push", json=body, headers=headers)
    assert r.status_code in (200, 422), r.text
    assert digits not in r.text
    ho_files = [p for p in files_under(tmp_path) if p.name.startswith("headoffice.db")]
    assert ho_files
    for path in ho_files:
        data = path.read_bytes()
        for needle in needles(digits, text):
            assert needle not in data, f"a payment card number is in {path.name}"


async def _scan_and_send(tmp_path: Path, texts: list[str]) -> list[str]:
    home = tmp_path / "home"
    home.mkdir()
    scanner = SerialDeviceSim("barcode", tmp_path / "scanner").start()
    write_config(home, {"devices": {"readers": [
        {"kind": "serial", "url": str(tmp_path / "scanner"), "role": "barcode", "name": "scanner"}]}})
    ctx, _ = make_till(home, with_history=False)
    devices = TillDevices(ctx)
    app = make_app(ctx, devices=devices)
    shown: list[str] = []
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            deadline = time.monotonic() + 20
            while "scanner: ok" not in str(app.screen.query_one("StatusBar").render()):
                assert time.monotonic() < deadline, "the serial scanner did not come up"
                await pilot.pause(0.05)
            for text in texts:
                await scan(pilot, app, text.replace("\t", " "))
                shown.append(app.screen.query_one(MessageLine).text)
                scanner.send(text)
                await pilot.pause(0.3)
                shown.append(app.screen.query_one(MessageLine).text)
                shown.append(app.export_screenshot())
    finally:
        scanner.stop()
        ctx.close()
    return shown


@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cards=st.lists(card_inputs(), min_size=2, max_size=4))
def test_app_wedge_scan_and_serial_reader_store_nothing(tmp_path_factory, cards):
    base = tmp_path_factory.mktemp("app")
    shown = asyncio.run(_scan_and_send(base, [text for _, text in cards]))
    for digits, text in cards:
        assert not any(digits in s for s in shown)
        assert_nowhere(digits, text, base / "home")

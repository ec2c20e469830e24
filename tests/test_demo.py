"""`pos-client demo` in process: the rig's simulators through the real stacks, driven by the demo keys."""

from __future__ import annotations

import time

from cardread import parse_card
from cardread.read import PAYMENT_CARD_MESSAGE
from hw_sim.demo_rig import DemoRig
from hw_sim.swipes import TEST_PAN
from pos_client.app.demo_app import HELP, DemoHelp, build_demo_app
from pos_client.app.widgets import MemberPanel, MessageLine, StatusBar
from pos_client.demo import demo_home, prepare
from pos_client.services import demo_seed, members
from pos_client.store import ledger
from tests.pcsc_fixture import wait_reader_empty


async def until(pilot, check, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            bar = str(pilot.app.screen.query_one(StatusBar).render())
            raise AssertionError(f"timed out waiting for {what}; status bar {bar!r}")
        await pilot.pause(0.02)


def text_of(app, widget) -> str:
    return str(app.screen.query_one(widget).render())


async def test_demo_checkout_swipe_scan_pay_refuse_tap(tmp_path, pcscd):
    home = demo_home({"POS_CLIENT_HOME": str(tmp_path / "demo")})
    rig = DemoRig(home, pcscd=pcscd).start()
    ctx = None
    try:
        ctx = prepare(home, rig)
        ana = members.member_for_card(ctx, parse_card(demo_seed.CARDS["ana"]))
        app = build_demo_app(ctx, rig)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: all(f"{d}: ok" in text_of(app, StatusBar)
                                           for d in ("swipe", "scanner", "nfc", "printer")), "devices")
            assert text_of(app, DemoHelp) == HELP
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.screen.basket.member_id == ana.member_id, "Ana by swipe")
            assert "Ana Muñoz" in text_of(app, MemberPanel)
            await pilot.press("ctrl+p")
            await until(pilot, lambda: len(app.screen.basket.lines) == 1, "scanned line")
            assert app.screen.basket.lines[0].name == "Huile d'olive Picual 1L"
            await pilot.press("f5")
            await until(pilot, lambda: len(rig.printer.receipts) == 1, "receipt")
            balance = ledger.balance(ctx.conn, ana.member_id)
            assert balance == ledger.ledger_sum(ctx.conn, ana.member_id) == ana.balance + 14
            receipts = home / "receipts"
            assert (receipts / "receipt-0001.png").stat().st_size > 0
            lines = (receipts / "receipt-0001.txt").read_text(encoding="utf-8").splitlines()
            assert any(line.startswith("Balance") and line.endswith(f"{balance} pts") for line in lines), lines
            await pilot.press("ctrl+b")
            await until(pilot, lambda: text_of(app, MessageLine) == PAYMENT_CARD_MESSAGE, "bank card refused")
            assert TEST_PAN not in app.export_screenshot()
            await pilot.press("ctrl+t")
            await until(pilot, lambda: "Bjørn Øster" in text_of(app, MemberPanel), "Bjørn by NFC tap")
            await pilot.press("ctrl+o")
            assert "paper roll taken out" in text_of(app, MessageLine)
        ctx.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for path in home.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert TEST_PAN.encode() not in data and b"CARDHOLDER" not in data, path
    finally:
        if ctx is not None:
            ctx.close()
        rig.stop()
        wait_reader_empty()
    assert not list((home / "dev").iterdir())  # the readers' links are gone


def test_demo_refuses_a_home_that_is_a_real_till(tmp_path):
    import pytest

    from pos_client.domain.errors import UsageError
    from pos_client.store.config import write_config

    write_config(tmp_path, {"store_id": "S7"})
    with pytest.raises(UsageError, match="not a demo"):
        demo_home({"POS_CLIENT_HOME": str(tmp_path)})
    fresh = demo_home({}, cwd=tmp_path)
    assert fresh.parent == tmp_path / "demo-home" and fresh.is_dir()


def test_rig_without_nfc_still_swipes_and_prints(tmp_path):
    from pos_client.demo import DemoKeys

    with DemoRig(tmp_path / "demo", nfc=False) as rig:
        assert [s["kind"] for s in rig.reader_specs()] == ["serial", "serial"]
        assert DemoKeys(rig).tap_bjorn() == "demo: NFC switched off"
        assert rig.printer_spec()["url"].startswith("tcp://127.0.0.1:")


def test_rig_stops_its_own_pcscd_by_pid_and_unplugs_the_readers(tmp_path):
    """In a child process: the rig's own pcscd must not replace this test session's PC/SC socket."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from hw_sim.pcscd import pcscd_binary, vpcd_driver

    try:
        pcscd_binary(), vpcd_driver()
    except FileNotFoundError as exc:
        from tests.parts import missing_part

        missing_part(str(exc))
    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from hw_sim.demo_rig import DemoRig\n"
            "rig = DemoRig(sys.argv[1]).start(); print(rig.pcscd.pid, rig.nfc_problem, flush=True)\n"
            "assert rig.tap('2900000000025'); rig.stop()\n")
    env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"} | {"PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "demo")], cwd=root, env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    pid = int(out[0])
    assert out[1] == "None"
    assert not os.path.exists(f"/proc/{pid}")  # stopped and reaped by the rig
    assert not list((tmp_path / "demo" / "dev").iterdir())


def test_demo_command_is_registered(cli):
    code, out, _ = cli("demo", "--help", check_json=False)
    assert code == 0 and "simulated hardware" in out


def test_demo_has_a_manager_whose_pin_the_help_line_shows(tmp_path):
    """Issue 13: the README's manager walkthrough needs a manager; the demo seeds one and shows its PIN."""
    from pos_client.services.marketing import manager

    assert f"F10 PIN {demo_seed.MANAGER_PIN}" in HELP and len(HELP) <= 78  # one line at 80 columns
    with DemoRig(tmp_path / "demo", nfc=False) as rig:
        ctx = prepare(tmp_path / "demo", rig)
        try:
            assert manager.check_pin(ctx, demo_seed.MANAGER_PIN).name == demo_seed.MANAGER_NAME
            ctx.conn.execute("DELETE FROM managers")  # a demo home made before the demo had a manager ...
            ctx.conn.commit()
        finally:
            ctx.close()
        ctx = prepare(tmp_path / "demo", rig)  # ... gets one when the demo opens it again, once
        try:
            assert [m.name for m in manager.list_managers(ctx)] == [demo_seed.MANAGER_NAME]
            ctx.close()
            ctx = prepare(tmp_path / "demo", rig)
            assert len(manager.list_managers(ctx)) == 1
        finally:
            ctx.close()

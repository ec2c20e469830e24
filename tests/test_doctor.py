"""`pos-client doctor` against real parts: a pty magstripe reader, the PC/SC virtual reader on a private pcscd,
the TCP ESC/POS printer simulator and head office on loopback. Green when all are there; red, with the check
named, for each failure made for real (printer down, head office down, a byte-flipped database copy, a ledger
sum broken with raw SQL on a copy, a missing device path, a config that does not parse)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from headoffice.server import ServerThread
from headoffice.store import open_store
from hw_sim.printer import PrinterSim
from hw_sim.serial_sim import SerialDeviceSim
from pos_client.cli import main as cli_main
from pos_client.services.doctor import limits
from pos_client.services.doctor_devices import HealthReply, _skew
from pos_client.services.printing import print_receipt
from pos_client.store.backup import back_up
from pos_client.store.config import write_config
from tests.printer_support import make_till, member_sale


@pytest.fixture
def rig(tmp_path, pcscd):
    """A till home with a member's sale and a backup, its devices and head office running."""
    printer = PrinterSim(port=0, out_dir=tmp_path / "paper", png=False).start()
    msr = SerialDeviceSim("magstripe", tmp_path / "ttymsr").start()
    store = open_store(f"sqlite:///{tmp_path / 'ho.db'}")
    server = ServerThread(store).start()
    home = tmp_path / "till"
    ctx = make_till(home, printer.url)
    sale = member_sale(ctx)
    write_config(home, {
        "devices": {"readers": [{"kind": "serial", "url": str(msr.link), "name": "msr"},
                                {"kind": "pcsc", "reader": "Virtual PCD", "name": "nfc"}]},
        "headoffice": {"url": server.url},
    })
    back_up(ctx.conn, home, ctx.config)
    ctx.close()
    yield {"home": home, "printer": printer, "msr": msr, "server": server, "sale": sale}
    server.stop()
    store.close()
    msr.stop()
    printer.stop()


def doctor(home: Path, capsys, *extra: str) -> tuple[int, dict]:
    code = cli_main.main(["doctor", "--home", str(home), "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def by_name(reply: dict) -> dict[str, dict]:
    return {c["name"]: c for c in reply["checks"]}


def copy_home(home: Path, dest: Path) -> Path:
    shutil.copytree(home, dest, ignore=shutil.ignore_patterns("logs"))
    return dest


def test_green_against_the_simulated_till(rig, capsys):
    t0 = time.perf_counter()
    code, reply = doctor(rig["home"], capsys)
    took = time.perf_counter() - t0
    checks = by_name(reply)
    assert code == 0 and reply["ok"] is True and reply["failed"] == 0
    assert {c["status"] for c in reply["checks"]} == {"ok"}, reply["checks"]
    assert set(checks) >= {"config", "database", "ledger", "disk", "outbox", "print queue", "backup", "printer",
                           "reader msr (serial)", "reader nfc (pcsc)", "head office", "clock"}
    assert "1 balance(s) equal their ledger sums" in checks["ledger"]["detail"]
    assert "ledger entries" in checks["outbox"]["detail"]  # the sale is waiting for head office
    assert checks["printer"]["detail"].endswith("ready")
    assert "Virtual PCD" in checks["reader nfc (pcsc)"]["detail"]
    assert "agrees" in checks["clock"]["detail"]
    assert took < 5, took  # the whole round, head office included, stays short


def test_text_output_one_line_per_check_and_a_verdict(rig, capsys):
    assert cli_main.main(["doctor", "--home", str(rig["home"])]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("doctor: ready: all ") and lines[-1].endswith(" checks passed")
    assert all(line.startswith("ok  ") for line in lines[:-1])
    assert any("printer" in line and "ready" in line for line in lines)


def test_printer_down_fails(rig, capsys):
    rig["printer"].stop()
    code, reply = doctor(rig["home"], capsys)
    assert code == 1 and reply["ok"] is False
    printer = by_name(reply)["printer"]
    assert printer["status"] == "fail" and printer["fix"]
    assert [c["name"] for c in reply["checks"] if c["status"] == "fail"] == ["printer"]


def test_printer_out_of_paper_fails_and_near_end_warns(rig, capsys):
    rig["printer"].paper_near_end(True)
    code, reply = doctor(rig["home"], capsys)
    assert code == 0 and by_name(reply)["printer"]["status"] == "warn"
    rig["printer"].paper_out(True)
    code, reply = doctor(rig["home"], capsys)
    assert code == 1 and "out of paper" in by_name(reply)["printer"]["detail"]


def test_head_office_down_fails_quickly(rig, capsys):
    rig["server"].stop()
    t0 = time.perf_counter()
    code, reply = doctor(rig["home"], capsys)
    assert time.perf_counter() - t0 < 5
    ho = by_name(reply)["head office"]
    assert code == 1 and ho["status"] == "fail" and "unreachable" in ho["detail"]
    assert "clock" not in by_name(reply)


def test_missing_serial_device_fails(rig, capsys):
    rig["msr"].unplug()
    code, reply = doctor(rig["home"], capsys)
    reader = by_name(reply)["reader msr (serial)"]
    assert code == 1 and reader["status"] == "fail" and "missing" in reader["detail"]


def test_pcsc_reader_not_connected_fails(rig, capsys):
    write_config(rig["home"], {"devices": {"readers": [{"kind": "pcsc", "reader": "ACR122", "name": "nfc"}]}})
    code, reply = doctor(rig["home"], capsys)
    reader = by_name(reply)["reader nfc (pcsc)"]
    assert code == 1 and reader["status"] == "fail" and "ACR122" in reader["detail"]


def test_byte_flipped_database_copy_fails(rig, capsys, tmp_path):
    home = copy_home(rig["home"], tmp_path / "damaged")
    db = home / "till.db"
    data = bytearray(db.read_bytes())
    page = 4096
    for offset in range(page, len(data), page):  # the b-tree header at the start of every page but the first
        data[offset:offset + 16] = bytes(b ^ 0xFF for b in data[offset:offset + 16])
    db.write_bytes(bytes(data))
    for wal in (home / "till.db-wal", home / "till.db-shm"):
        wal.unlink(missing_ok=True)  # the damaged file alone, as a failed disk leaves it
    code, reply = doctor(home, capsys, "--offline")
    database = by_name(reply)["database"]
    assert code == 1 and database["status"] == "fail" and "restore" in database["fix"]
    code, reply = doctor(home, capsys, "--offline", "--full")
    assert code == 1 and by_name(reply)["database"]["status"] == "fail"


def test_ledger_sum_mismatch_on_a_copy_fails(rig, capsys, tmp_path):
    home = copy_home(rig["home"], tmp_path / "mismatch")
    with sqlite3.connect(home / "till.db") as conn:
        conn.execute("UPDATE balances SET points = points + 7")
    conn.close()
    code, reply = doctor(home, capsys, "--offline")
    ledger = by_name(reply)["ledger"]
    member = rig["sale"].member_id
    assert code == 1 and ledger["status"] == "fail"
    assert member in ledger["detail"] and f"balance {rig['sale'].balance + 7}" in ledger["detail"]
    assert by_name(reply)["database"]["status"] == "ok"  # the file is sound; the sums are not


def test_config_that_does_not_parse_fails_without_traceback(rig, capsys):
    (rig["home"] / "config.toml").write_text("[printer\nurl = 1\n")
    code = cli_main.main(["doctor", "--home", str(rig["home"])])
    out, err = capsys.readouterr()
    assert code == 1 and "FAIL  config" in out and "not valid TOML" in out and "Traceback" not in out + err
    assert out.strip().splitlines()[-1].startswith("doctor: NOT READY")


def test_config_values_checked(rig, capsys):
    write_config(rig["home"], {"till": {"decimal_separator": ";"}, "logging": {"max_bytes": "big"}})
    code, reply = doctor(rig["home"], capsys, "--offline")
    config = by_name(reply)["config"]
    assert code == 1 and "decimal_separator" in config["detail"] and "max_bytes" in config["detail"]


def test_disk_and_backup_thresholds_come_from_config(rig, capsys):
    write_config(rig["home"], {"doctor": {"disk_warn_mb": 10**9, "backup_warn_hours": 0}})
    code, reply = doctor(rig["home"], capsys, "--offline")
    assert code == 0 and by_name(reply)["disk"]["status"] == "warn" and by_name(reply)["backup"]["status"] == "warn"
    write_config(rig["home"], {"doctor": {"disk_fail_mb": 10**9}})
    code, reply = doctor(rig["home"], capsys, "--offline")
    assert code == 1 and by_name(reply)["disk"]["status"] == "fail"


def test_no_backup_and_waiting_receipt_warn(tmp_path, capsys):
    home = tmp_path / "fresh"
    ctx = make_till(home, "tcp://127.0.0.1:9")  # a port nothing listens on: the receipt waits
    sale = member_sale(ctx)
    assert not print_receipt(ctx, sale.sale_id).printed
    ctx.close()
    code, reply = doctor(home, capsys, "--offline")
    checks = by_name(reply)
    assert code == 0 and checks["backup"]["status"] == "warn" and checks["backup"]["detail"] == "no backup found"
    assert checks["print queue"]["status"] == "warn" and "1 receipt(s) waiting" in checks["print queue"]["detail"]


def test_no_till_at_home_is_not_found(tmp_path, capsys):
    assert cli_main.main(["doctor", "--home", str(tmp_path / "nowhere")]) == 4
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(("offset_s", "status"), [(0, "ok"), (-30, "ok"), (90, "warn"), (-400, "fail")])
def test_clock_skew_from_the_date_header(offset_s, status):
    """The judgement over a Date header (the server's clock cannot be moved in a test; the header can be)."""
    sent = datetime.now(UTC)
    received = sent + timedelta(milliseconds=20)
    header = format_datetime(sent + timedelta(seconds=offset_s), usegmt=True)
    check = _skew(HealthReply(True, header, None, sent, received), limits(None))
    assert check.status == status
    if offset_s > 60:
        assert "behind" in check.detail

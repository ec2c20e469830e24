"""`pos-client receipt | reprint | print-queue` against the TCP printer simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hw_sim.escpos_decode import code_page_table, decode
from hw_sim.printer import PrinterSim
from pos_client.cli import main as cli_main
from tests.printer_support import make_till, member_sale

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli(monkeypatch):
    """The real CLI entry point, every command registered."""
    return cli_main.main


@pytest.fixture
def sim(tmp_path):
    s = PrinterSim(port=0, out_dir=tmp_path / "paper", png=False).start()
    yield s
    s.stop()


@pytest.fixture
def till(tmp_path, sim):
    home = tmp_path / "till"
    ctx = make_till(home, sim.url)
    sale = member_sale(ctx)
    ctx.close()
    return home, sale


def test_receipt_writes_escpos_bytes(cli, till, tmp_path, capsys):
    home, sale = till
    out = tmp_path / "r.bin"
    assert cli(["receipt", sale.sale_id, "--out", str(out), "--home", str(home), "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["bytes"] == out.stat().st_size and reply["profile"] == "TM-T88V"
    [page] = decode(out.read_bytes(), code_page_table("TM-T88V"))
    assert f"{sale.balance} pts" in page.text()


def test_receipt_to_stdout(cli, till, capsysbinary):
    home, sale = till
    assert cli(["receipt", sale.sale_id, "--out", "-", "--home", str(home)]) == 0
    data = capsysbinary.readouterr().out
    assert data.startswith(b"\x1b@") and b"Balance" in data


def test_receipt_of_unknown_sale_exits_4(cli, till, tmp_path, capsys):
    home, _ = till
    assert cli(["receipt", "nope", "--out", str(tmp_path / "x"), "--home", str(home)]) == 4
    assert "no sale nope" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_reprint_queue_and_retry(cli, till, sim, capsys):
    home, sale = till
    assert cli(["reprint", sale.sale_id, "--home", str(home)]) == 0
    assert "printed" in capsys.readouterr().out
    assert "*** REPRINT ***" in sim.receipts[-1].text

    sim.paper_out(True)
    assert cli(["reprint", sale.sale_id, "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert "printer out of paper" in err and "print-queue --retry" in err

    assert cli(["print-queue", "--home", str(home), "--json"]) == 0
    [job] = json.loads(capsys.readouterr().out)["pending"]
    assert job["sale_id"] == sale.sale_id and job["last_error"] == "printer out of paper" and job["bytes"] > 0

    assert cli(["print-queue", "--retry", "--home", str(home)]) == 1  # still no paper
    assert "printer out of paper" in capsys.readouterr().out
    sim.paper_out(False)
    assert cli(["print-queue", "--retry", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "printed 1 of 1" in out and "0 receipt(s) waiting" in out
    assert len(sim.receipts) == 2


def test_printer_status_command(cli, till, sim, capsys):
    home, _ = till
    assert cli(["printer-status", "--home", str(home)]) == 0
    assert capsys.readouterr().out.strip() == f"{sim.url}: ready"
    sim.paper_near_end(True)
    assert cli(["printer-status", "--home", str(home)]) == 0
    assert "ready (printer paper near end)" in capsys.readouterr().out
    sim.cover_open(True)
    assert cli(["printer-status", "--home", str(home), "--json"]) == 1
    st = json.loads(capsys.readouterr().out)
    assert st["cover_open"] and st["problem"] == "printer cover open" and st["pending"] == 0
    sim.stop()
    assert cli(["printer-status", "--home", str(home)]) == 1
    assert "printer not reachable" in capsys.readouterr().out


def test_bad_printer_url_is_a_clear_error(cli, tmp_path, capsys):
    home = tmp_path / "till"
    ctx = make_till(home, "lpt://nowhere")
    sale = member_sale(ctx)
    ctx.close()
    assert cli(["reprint", sale.sale_id, "--home", str(home)]) == 1
    assert "unknown printer URL 'lpt://nowhere'" in capsys.readouterr().err


def test_receipt_command_in_a_subprocess(till, tmp_path):
    home, sale = till
    out = tmp_path / "r.bin"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "pos_client", "receipt", sale.sale_id, "--out", str(out),
                          "--home", str(home)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Balance" in decode(out.read_bytes(), code_page_table("TM-T88V"))[0].text()

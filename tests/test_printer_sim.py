"""Receipts through the real TCP printer simulator on loopback: decoding, files, status and faults."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from drivers.printer import open_printer
from drivers.receipt_blocks import QR, Barcode, Text
from hw_sim.escpos_decode import code_page_table, decode
from hw_sim.printer import PrinterSim
from pos_client.services.printing import print_receipt, printer_status, retry_pending
from pos_client.store import ledger, print_queue
from tests.ports import refusing_port
from tests.printer_support import make_till, member_sale

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sim(tmp_path):
    s = PrinterSim(port=0, out_dir=tmp_path / "paper").start()
    yield s
    s.stop()


@pytest.fixture
def ctx(tmp_path, sim):
    c = make_till(tmp_path / "till", sim.url)
    yield c
    c.close()


def test_receipt_printed_on_the_tcp_printer_is_decoded_to_txt_and_png(ctx, sim, monkeypatch):
    monkeypatch.setattr(ctx.extensions, "receipt_blocks", [
        lambda c, s: [Text("Coupon", bold=True), Barcode("CPN-42ZX"), QR("https://shop.example/c/CPN-42ZX")]])
    sale = member_sale(ctx)
    out = print_receipt(ctx, sale.sale_id)
    assert out.printed and out.reason is None
    assert len(sim.receipts) == 1 and not sim.torn
    rec = sim.receipts[0]
    balance = ledger.balance(ctx.conn, sale.member_id)
    text = rec.txt_path.read_text(encoding="utf-8")
    assert text == rec.text
    assert f"{balance} pts" in text and "Balance" in text and f"+{sale.points_earned}" in text
    assert "Crème brûlée" in text and "Épicerie Zoë" in text
    assert "[BARCODE CODE128: CPN-42ZX]" in text and "[QR: https://shop.example/c/CPN-42ZX]" in text
    assert rec.page.barcodes[0].data == "CPN-42ZX"
    with Image.open(rec.png_path) as img:
        img.load()
        assert img.width == 42 * 12 + 16  # 42 columns of 12 dots plus margins
        assert 600 < img.height < 3000
        assert img.getextrema() == (0, 255)  # there is ink on the paper
    assert print_queue.pending(ctx.conn) == []
    job = print_queue.jobs_for_sale(ctx.conn, sale.sale_id)[0]
    assert job.status == "printed" and job.attempts == 1 and job.printed_at


def test_paper_out_mid_receipt_keeps_the_job_until_paper_is_back(ctx, sim):
    sale = member_sale(ctx)
    sim.paper_out_after(150)  # the roll ends a few lines into the receipt
    out = print_receipt(ctx, sale.sale_id)
    assert not out.printed and out.reason == "printer out of paper"
    assert sim.receipts == [] and len(sim.torn) == 1  # the half receipt the customer cannot use
    assert "Balance" not in sim.torn[0].text
    [job] = print_queue.pending(ctx.conn)
    assert job.sale_id == sale.sale_id and job.last_error == "printer out of paper" and job.attempts == 1

    # still out of paper: retrying does not print and does not lose the job
    assert [o.reason for o in retry_pending(ctx)] == ["printer out of paper"]
    assert print_queue.get(ctx.conn, job.job_id).attempts == 2

    sim.paper_out(False)  # new roll
    [again] = retry_pending(ctx)
    assert again.printed and again.job_id == job.job_id
    assert print_queue.pending(ctx.conn) == []
    assert len(sim.receipts) == 1
    assert f"{ledger.balance(ctx.conn, sale.member_id)} pts" in sim.receipts[0].text


def test_paper_out_before_printing_sends_nothing(ctx, sim):
    sale = member_sale(ctx)
    sim.paper_out(True)
    out = print_receipt(ctx, sale.sale_id)
    assert out.reason == "printer out of paper"
    assert sim.receipts == [] and sim.torn == []


@pytest.mark.parametrize("fault,reason", [
    ("offline", "printer offline"),
    ("cover_open", "printer cover open"),
    ("error", "printer error: check the printer, then retry"),
])
def test_printer_faults_leave_the_receipt_queued(ctx, sim, fault, reason):
    sale = member_sale(ctx)
    getattr(sim, fault)(True)
    out = print_receipt(ctx, sale.sale_id)
    assert not out.printed and out.reason == reason
    assert [j.last_error for j in print_queue.pending(ctx.conn)] == [reason]
    print_receipt(ctx, sale.sale_id)  # the cashier presses print again: still one receipt waiting
    [job] = print_queue.pending(ctx.conn)
    assert job.attempts == 2
    getattr(sim, fault)(False)
    assert [o.printed for o in retry_pending(ctx)] == [True]
    assert len(sim.receipts) == 1


def test_unreachable_printer_queues_and_retry_prints_in_order(tmp_path):
    sim = PrinterSim(port=0, out_dir=tmp_path / "paper")
    with refusing_port() as port:  # nobody listens there yet, and nobody else can take it
        _queue_then_print_in_order(tmp_path, sim, port)


def _queue_then_print_in_order(tmp_path: Path, sim: PrinterSim, port: int) -> None:
    ctx = make_till(tmp_path / "till", f"tcp://127.0.0.1:{port}")
    try:
        first, second = member_sale(ctx, "Anaïs", 1), member_sale(ctx, "Søren", 2)
        for sale in (first, second):
            out = print_receipt(ctx, sale.sale_id)
            assert not out.printed and out.reason.startswith("printer not reachable at tcp://127.0.0.1:")
        status = printer_status(ctx)  # a DeviceError (not a PosError since the drivers split): said, not raised
        assert not status["reachable"] and status["problem"].startswith("printer not reachable at tcp://127.0.0.1:")
        assert [j.sale_id for j in print_queue.pending(ctx.conn)] == [first.sale_id, second.sale_id]
        sim.requested_port = port
        sim.start()
        assert [o.printed for o in retry_pending(ctx)] == [True, True]
        assert ["Anaïs" in r.text for r in sim.receipts] == [True, False]
        assert ["Søren" in r.text for r in sim.receipts] == [False, True]
    finally:
        sim.stop()
        ctx.close()


def test_paper_near_end_prints_with_a_warning(ctx, sim):
    sale = member_sale(ctx)
    sim.paper_near_end(True)
    out = print_receipt(ctx, sale.sale_id)
    assert out.printed and out.warning == "printer paper near end"


def test_escpos_status_calls_understand_the_simulator(sim):
    with open_printer(sim.url, "TM-T88V", timeout=2) as printer:
        p = printer.escpos
        assert p.is_online() and p.paper_status() == 2
        sim.paper_near_end(True)
        assert p.paper_status() == 1
        sim.paper_out(True)
        assert p.paper_status() == 0 and not p.is_online()
        st = printer.status(1)
        assert st.paper_out and not st.online and st.problem == "printer out of paper"


def test_a_printer_that_never_answers_status_is_reported(tmp_path):
    """A device that takes the bytes but never replies (wrong port, a one-way box): no hang."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = bytearray()

    def swallow():
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(4096):
                got.extend(data)

    t = threading.Thread(target=swallow, daemon=True)
    t.start()
    ctx = make_till(tmp_path / "till", f"tcp://127.0.0.1:{srv.getsockname()[1]}", status_timeout=0.3)
    try:
        out = print_receipt(ctx, member_sale(ctx).sale_id)
        assert not out.printed and out.reason.startswith("printer not answering")
        t.join(10)  # the till hung up: `got` is whole only once the listener has read to the end
        assert not t.is_alive()
        assert got == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"  # only the status request was sent
    finally:
        ctx.close()
        srv.close()


def test_file_and_dummy_transports(tmp_path):
    lp = tmp_path / "lp0"
    ctx = make_till(tmp_path / "till", f"file://{lp}")
    try:
        sale = member_sale(ctx)
        assert print_receipt(ctx, sale.sale_id).printed  # one-way: no status to read
        [page] = decode(lp.read_bytes(), code_page_table("TM-T88V"))
        assert "Crème brûlée" in page.text()
    finally:
        ctx.close()
    with open_printer("dummy://", "TM-T88V") as printer:
        printer.send(b"\x1b@hello\n")
        assert printer.output == b"\x1b@hello\n" and not printer.status().known


def test_hw_sim_printer_command(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "hw_sim", "printer", "--port", "0", "--out", str(tmp_path)],
                            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("printer listening on tcp://127.0.0.1:")
        url = first.split()[3].rstrip(",")
        proc.stdout.readline()  # the command help
        with open_printer(url, "TM-T88V", timeout=2) as printer:
            printer.send(b"\x1b@\x1bt\x13Caf\x82\n\x1dV\x01")
            assert printer.status(2).ok
        assert proc.stdout.readline().startswith("receipt 1: ")
        proc.stdin.write("paper-out on\n")
        proc.stdin.flush()
        assert "'paper_out': True" in proc.stdout.readline()
        with open_printer(url, "TM-T88V", timeout=2) as printer:
            assert printer.status(2).problem == "printer out of paper"
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "receipt-0001.txt").read_text(encoding="utf-8") == "Café\n"
    assert (tmp_path / "receipt-0001.png").exists()


def test_serial_printer_on_a_pty_with_two_way_status(tmp_path):
    sim = PrinterSim(out_dir=tmp_path / "paper", link=tmp_path / "ttyPRN", png=False).start()
    ctx = make_till(tmp_path / "till", sim.url)
    try:
        assert sim.url.startswith("serial://")
        sale = member_sale(ctx)
        assert print_receipt(ctx, sale.sale_id).printed
        assert "Crème brûlée" in sim.receipts[0].text and sim.status_queries == 6
        sim.paper_out(True)
        assert print_receipt(ctx, sale.sale_id, reprint=True).reason == "printer out of paper"
        assert len(print_queue.pending(ctx.conn)) == 1
    finally:
        ctx.close()
        sim.stop()
    assert not (tmp_path / "ttyPRN").exists()

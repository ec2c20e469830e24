"""The app's printer worker writes the print queue through the till's own connection (issue 15's follow-up).

Why: SQLite drops a connection's page cache when another connection committed since its last read, so a print
queue written on a connection of the printer's made the next sale read its pages again. `PRAGMA data_version`
on a connection changes exactly when another connection commits: it must not change across a print. Sharing the
connection across threads must keep a sale and a print apart: neither waits for "database is locked", and a sale
never lands in (or is rolled back with) the print's transaction.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from drivers.receipt_blocks import Text
from hw_sim.printer import PrinterSim
from pos_client.services import checkout
from pos_client.store import print_queue
from pos_client.store.db import connect, write_txn
from pos_client.till.devices import TillDevices
from tests.printer_support import make_till, member_sale


@pytest.fixture
def sim():
    s = PrinterSim(port=0, png=False).start()
    yield s
    s.stop()


@pytest.fixture
def ctx(tmp_path, sim):
    c = make_till(tmp_path / "till", sim.url)
    yield c
    c.close()


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _on_worker(work):
    """Run `work` on another thread, as the app's printer worker does; its result (or its exception)."""
    out: list = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:  # handed back to the test
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert not t.is_alive()
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def _sale(ctx, member_id: str, cents: int = 500) -> str:
    basket = checkout.Basket(member_id=member_id)
    basket.add(checkout.Line("Pain", "general", 1, cents))
    return checkout.commit_sale(ctx, basket).sale_id


def test_a_print_keeps_the_till_connections_page_cache(ctx, sim):
    sale = member_sale(ctx)
    devices = TillDevices(ctx)
    seen = _version(ctx.conn)
    report = _on_worker(lambda: devices.print_sale(sale.sale_id))
    assert report.printed == 1 and report.waiting == 0 and len(sim.receipts) == 1
    assert print_queue.jobs_for_sale(ctx.conn, sale.sale_id)[0].status == "printed"
    assert _version(ctx.conn) == seen  # no other connection committed: the till's cache is still valid
    report = _on_worker(lambda: devices.retry_or_reprint(sale.sale_id))  # nothing waits: a reprint
    assert report.printed == 1 and _version(ctx.conn) == seen
    _on_worker(devices.check_printer)
    assert _version(ctx.conn) == seen
    other = connect(ctx.conn.execute("PRAGMA database_list").fetchone()[2], migrate=False)
    with write_txn(other):  # what a print on a connection of its own did: the till's data_version moves
        other.execute("UPDATE print_jobs SET attempts = attempts + 1")
    other.close()
    assert _version(ctx.conn) != seen


def test_a_waiting_receipt_is_queued_through_the_till_connection_too(ctx, sim):
    sale = member_sale(ctx)
    devices = TillDevices(ctx)
    sim.paper_out()
    seen = _version(ctx.conn)
    report = _on_worker(lambda: devices.print_sale(sale.sale_id))
    assert report.printed == 0 and report.waiting == 1 and "paper" in (report.problem or "")
    assert _version(ctx.conn) == seen
    sim.paper_out(False)
    report = _on_worker(lambda: devices.retry_or_reprint(sale.sale_id))
    assert report.printed == 1 and report.waiting == 0 and _version(ctx.conn) == seen


def test_a_sale_waits_for_the_prints_transaction_and_never_joins_it(ctx, sim, monkeypatch):
    """A receipt block that writes, then fails, holds the print's transaction open: the sale committed meanwhile on
    the app's thread waits for it, and lands whole when the print's write is rolled back."""
    first = member_sale(ctx)
    inside, release = threading.Event(), threading.Event()

    def block(c, sale_id):
        with write_txn(c.conn):  # the print's own write (as an offer issuing its coupon), then a failure
            c.conn.execute("INSERT INTO sync_state (key, value) VALUES ('print-block', 'x')")
            inside.set()
            release.wait(10)
            raise RuntimeError("layout bug")
        return [Text("never")]

    monkeypatch.setattr(ctx.extensions, "receipt_blocks", [block])
    devices = TillDevices(ctx)
    printer = threading.Thread(target=lambda: devices.print_sale(first.sale_id))
    printer.start()
    assert inside.wait(10)
    done: list = []
    seller = threading.Thread(target=lambda: done.append(_sale(ctx, first.member_id)))
    seller.start()
    time.sleep(0.3)
    assert not done  # the sale waits for the print's transaction: it does not join it
    release.set()
    printer.join(10)
    seller.join(10)
    assert done and not printer.is_alive()
    assert ctx.conn.execute("SELECT COUNT(*) FROM sales WHERE sale_id = ?", (done[0],)).fetchone()[0] == 1
    assert ctx.conn.execute("SELECT COUNT(*) FROM sync_state WHERE key = 'print-block'").fetchone()[0] == 0
    assert len(sim.receipts) == 1  # the receipt printed without the failed block


def test_sales_and_prints_on_two_threads_with_a_third_writer_all_land(ctx, sim):
    """Sales on this thread, each printed from a worker at once, while another connection commits every few ms (the
    sync worker's): no "database is locked" on either side, every sale and every receipt lands."""
    first = member_sale(ctx)
    devices = TillDevices(ctx)
    path = ctx.conn.execute("PRAGMA database_list").fetchone()[2]
    stop, errors = threading.Event(), []

    def other_writer() -> None:
        conn = connect(path, migrate=False)
        try:
            while not stop.is_set():
                with write_txn(conn):
                    conn.execute("INSERT INTO sync_state (key, value) VALUES ('tick', '1') ON CONFLICT(key)"
                                 " DO UPDATE SET value = value + 1")
                time.sleep(0.002)
        except Exception as exc:  # reported by the test
            errors.append(exc)
        finally:
            conn.close()

    writer = threading.Thread(target=other_writer)
    writer.start()
    printers: list[threading.Thread] = []
    reports: list = []
    sales = []
    try:
        for _ in range(20):
            sale_id = _sale(ctx, first.member_id)
            sales.append(sale_id)
            member = ctx.conn.execute("SELECT member_id FROM sales WHERE sale_id = ?", (sale_id,)).fetchall()
            assert member[0][0] == first.member_id  # reads on this thread while the printer works

            def work(s: str = sale_id) -> None:
                try:
                    reports.append(devices.print_sale(s))
                except Exception as exc:  # reported by the test
                    errors.append(exc)

            printers.append(threading.Thread(target=work))
            printers[-1].start()
    finally:
        for t in printers:
            t.join(30)
        stop.set()
        writer.join(10)
    assert not errors
    assert len(reports) == 20 and all(r.printed == 1 for r in reports)
    assert len(sim.receipts) == 20
    for sale_id in sales:
        assert [j.status for j in print_queue.jobs_for_sale(ctx.conn, sale_id)] == ["printed"]


def test_a_queue_write_waits_out_another_threads_read_of_an_older_snapshot(ctx):
    """A read still stepping on the shared connection while another connection commits leaves it at an older
    snapshot, where a BEGIN IMMEDIATE fails at once (SQLITE_BUSY_SNAPSHOT): the queue's write waits for it."""
    sale = member_sale(ctx)
    path = ctx.conn.execute("PRAGMA database_list").fetchone()[2]
    for i in range(3):
        print_queue.enqueue(ctx.conn, sale.sale_id, b"x", reason=str(i))
    cursor = ctx.conn.execute("SELECT job_id FROM print_jobs")
    assert cursor.fetchone() is not None  # the statement is still stepping: the connection holds its snapshot
    other = connect(path, migrate=False)
    with write_txn(other):
        other.execute("INSERT INTO sync_state (key, value) VALUES ('elsewhere', '1')")
    other.close()
    done: list = []
    worker = threading.Thread(target=lambda: done.append(print_queue.enqueue(ctx.conn, sale.sale_id, b"y")))
    worker.start()
    time.sleep(0.2)
    assert not done and worker.is_alive()  # waiting, not failed
    cursor.close()
    worker.join(10)
    assert done and print_queue.get(ctx.conn, done[0].job_id).data == b"y"

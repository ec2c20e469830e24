"""Lose the disk, restore last night's backup, sync: nothing the till had pushed is lost.

The real head office on loopback, the real sync, the real CLI: enrol, sell, back up, sell more, sync,
delete the till database, `pos-client restore`, and every entry, sale and balance is back as it was;
a new sale then pushes with no seq conflict.
"""

from __future__ import annotations

import json

import pytest

from headoffice.server import ServerThread
from pos_client.cli.main import main
from pos_client.store.backup import back_up
from pos_client.store.home import db_path
from pos_client.till import open_till
from sync.engine import sync_once
from tests.sync.tillkit import assert_invariant, enrol, loyalty, register, sell

SALE_COLS = ("sale_id", "store_id", "till_id", "member_id", "total_cents", "tender", "points_earned", "content_hash",
             "created_at")


def _state(ctx) -> dict:
    conn = ctx.conn
    return {
        "entries": [tuple(r) for r in conn.execute("SELECT * FROM ledger ORDER BY store_id, till_id, seq")],
        "sales": [tuple(r) for r in conn.execute(f"SELECT {', '.join(SALE_COLS)} FROM sales ORDER BY sale_id")],
        "lines": [tuple(r) for r in conn.execute("SELECT * FROM sale_lines ORDER BY sale_id, line_no")],
        "balances": dict(conn.execute("SELECT member_id, points FROM balances").fetchall()),
        "cards": [tuple(r) for r in conn.execute("SELECT card_number, member_id, status FROM cards ORDER BY 1")],
    }


def _lose_disk(home) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = db_path(home).with_name(db_path(home).name + suffix)
        p.unlink(missing_ok=True)


def _cli(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else {}


@pytest.fixture
def ho_store(store):
    """Head office on SQLite and on PostgreSQL (the `store` fixture runs both)."""
    return store


@pytest.fixture
def shop(make_till, ho_store):
    """Two registered tills of one store, on the real head-office server; T1 is the one whose disk dies."""
    server = ServerThread(ho_store).start()
    t1, t2 = make_till("S1", "T1"), make_till("S1", "T2")
    register(t1, ho_store, server.url)
    register(t2, ho_store, server.url)
    yield t1, t2
    server.stop()


def test_restore_then_sync_loses_nothing(shop, ho_store, capsys):
    t1, t2 = shop
    home = t1.home
    enrol(t1, 1)
    enrol(t1, 2)
    sell(t1, 1, 1250)
    sell(t1, 2, 3000)
    sync_once(t1)
    backup = back_up(t1.conn, home, t1.config)
    assert (backup.check.entries, backup.check.members, backup.check.points) == (2, 2, 12 + 30)
    # after the backup: more sales, a new member, another till's sale
    sell(t1, 1, 4000)
    enrol(t1, 3)
    sell(t1, 3, 999)
    sync_once(t2)
    sell(t2, 1, 500)
    sync_once(t2)
    sync_once(t1)
    before = _state(t1)
    high = int(ho_store._execute("SELECT high_seq FROM tills WHERE store_id = 'S1' AND till_id = 'T1'")[0][0])
    assert high == max(e[4] for e in before["entries"] if e[3] == "T1")
    t1.close()

    _lose_disk(home)
    code, out = _cli(capsys, "restore", str(backup.path), "--home", str(home), "--json")
    assert code == 0, out
    assert out["recovery_pending"] is False
    assert out["recovered"]["entries"] == 2 and out["recovered"]["sales"] == 2

    t1 = open_till(home)
    try:
        after = _state(t1)
        assert after == before
        assert_invariant(t1)
        # a new sale is numbered past head office's high seq and pushes with no conflict
        sell(t1, 2, 2000)
        report = sync_once(t1)
        assert report.push.rejected == []
        assert report.push.entries == 1
        assert report.push.high_seq == high + 1
        assert int(ho_store._execute("SELECT COUNT(*) FROM rejects")[0][0]) == 0
        assert ho_store.balance(after_member(t1, 2)) == t1.conn.execute(
            "SELECT points FROM balances WHERE member_id = ?", (after_member(t1, 2),)).fetchone()[0]
    finally:
        t1.close()


def after_member(ctx, n: int) -> str:
    return ctx.conn.execute("SELECT member_id FROM cards WHERE card_number = ?", (loyalty(n),)).fetchone()[0]


def test_restore_while_head_office_is_down_then_sync(make_till, ho_store, capsys):
    server = ServerThread(ho_store).start()
    try:
        t1 = make_till("S1", "T1")
        home = t1.home
        register(t1, ho_store, server.url)
        enrol(t1, 1)
        sell(t1, 1, 1000)
        backup = back_up(t1.conn, home, t1.config)
        sell(t1, 1, 2000)
        sync_once(t1)
        before = _state(t1)
        t1.close()
        _lose_disk(home)
        server.stop()  # head office unreachable while the till is restored

        code, out = _cli(capsys, "restore", str(backup.path), "--home", str(home), "--timeout", "2", "--json")
        assert code == 1 and out["recovery_pending"] is True
        code, out = _cli(capsys, "sale", "--card", loyalty(1), "--amount", "5.00", "--home", str(home), "--json")
        assert code == 3 and "restored from a backup" in out["error"]  # no seq head office holds is reused

        server.start()
        code, out = _cli(capsys, "sync", "--once", "--home", str(home), "--json")
        assert code == 0, out
        t1 = open_till(home)
        try:
            assert _state(t1) == before
            sell(t1, 1, 500)
            assert sync_once(t1).push.rejected == []
            member = after_member(t1, 1)
            assert ho_store.balance(member) == 10 + 20 + 5
        finally:
            t1.close()
    finally:
        server.stop()

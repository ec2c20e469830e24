"""Issue 11, finding 4: a damaged till.db is noticed and the till stops writing (hash chain, quick_check,
integrity_check, balances), with real byte flips on a real till.db through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cardread.barcode import with_check_digit
from pos_client.domain.errors import StoppedWriting
from pos_client.services import members
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import upkeep
from pos_client.store import chain_mark, integrity
from pos_client.store.backup import back_up, restore
from pos_client.store.db import apply_migrations, connect
from pos_client.store.home import db_path
from pos_client.till import open_till
from wire.ledger_chain import chain_hash

ROOT = Path(__file__).resolve().parents[1]
CARD = with_check_digit("290000000001")


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pos_client", "--home", str(home), *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)


def _sell(ctx, cents: int, member_id: str | None = None) -> None:
    basket = Basket(member_id=member_id)
    basket.add(Line.keyed(cents))
    commit_sale(ctx, basket)


def _break_entry(db: Path, seq: int) -> None:
    """Change one entry behind the append-only trigger's back (what a bad disk or a hand edit does)."""
    conn = sqlite3.connect(db, isolation_level=None)
    guard = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'ledger_no_update'").fetchone()[0]
    conn.execute("DROP TRIGGER ledger_no_update")
    conn.execute("UPDATE ledger SET points = points + 1 WHERE seq = ?", (seq,))
    conn.execute(guard)
    conn.close()


@pytest.fixture(scope="module")
def selling_till(tmp_path_factory) -> Path:
    """A till made through the CLI: a member with a card, a dozen sales with and without the card."""
    home = tmp_path_factory.mktemp("selling") / "home"
    assert cli(home, "init").returncode == 0
    assert cli(home, "member", "enroll", "--card", CARD, "--name", "Ada").returncode == 0
    for i in range(12):
        args = ["--card", CARD] if i % 2 else []
        done = cli(home, "sale", "--amount", f"{12 + i}.50", *args)
        assert done.returncode == 0, done.stderr
    return home


def _pages(db: Path, name: str) -> tuple[list[int], int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    pages = [int(r[0]) for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'"
                                             " ORDER BY pageno", (name,))]
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    last = conn.execute("SELECT entry_id, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    conn.close()
    return pages, size, *last  # type: ignore[return-value]


def _offset(db: Path, pattern: str) -> int:
    """Where to flip a byte for each pattern of damage."""
    pages, size, entry_id, entry_hash = _pages(db, "ledger")
    data = db.read_bytes()
    table_start = (pages[-1] - 1) * size
    row = data.find(entry_id.encode(), table_start, table_start + size)
    if pattern == "header":
        return 3  # "SQLite format 3" magic
    if pattern == "ledger page header":
        return table_start
    if pattern == "ledger row points":
        # the record body: entry_id, member_id, store, till, seq, kind, points: the byte after 'earn'
        return data.find(b"earn", row, table_start + size) + 4
    if pattern == "ledger row hash":
        return data.find(entry_hash.encode(), row, table_start + size) + 10
    index_pages, _, _, _ = _pages(db, "idx_ledger_member")
    if pattern == "index page header":
        return (index_pages[0] - 1) * size + 3  # the page's cell count
    if pattern == "index cell":
        return (index_pages[0] - 1) * size + size - 40  # cell content sits at the page's end
    raise AssertionError(pattern)


@pytest.mark.parametrize("pattern", ["header", "ledger page header", "ledger row points", "ledger row hash",
                                     "index page header", "index cell"])
def test_a_byte_flip_stops_the_till_taking_sales(selling_till, tmp_path, pattern):
    home = tmp_path / "home"
    shutil.copytree(selling_till, home)
    db = db_path(home)
    before = db.read_bytes()
    offset = _offset(db, pattern)
    damaged = bytearray(before)
    damaged[offset] ^= 0x01 if pattern == "ledger row points" else 0x5A
    db.write_bytes(bytes(damaged))

    for _ in range(2):  # refused now, and still refused on the next try
        sale = cli(home, "sale", "--amount", "5.00", "--card", CARD)
        assert sale.returncode == 5, (pattern, sale.stdout, sale.stderr)
        assert "Traceback" not in sale.stderr
        assert "damaged" in sale.stderr and "restore" in sale.stderr
        assert "sale " not in sale.stdout
    if pattern.startswith("ledger row"):
        assert "hash chain broken" in sale.stderr  # only the chain can see a valid record with wrong content
    if pattern != "header":
        assert integrity.stopped(db) is not None
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            assert conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 12  # nothing was added
        except sqlite3.DatabaseError:
            pass  # a damaged page may hide the count: the refusal above is what matters
        finally:
            conn.close()


def test_hashes_from_append_and_from_the_migration_backfill_agree(till):
    member = members.enroll(till, name="Ada", phone="0612345678")
    for cents in (1250, 399, 10000):
        _sell(till, cents, member.member_id)
    stored = till.conn.execute("SELECT entry_id, prev_hash, entry_hash FROM ledger ORDER BY seq").fetchall()
    assert len(stored) == 3 and stored[0][1] is None and stored[1][1] == stored[0][2]
    assert integrity.verify_chain(till.conn).ok
    # back to a database before m0070, then migrate it: the backfill gives the same hashes
    conn = till.conn
    guard = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'ledger_no_update'").fetchone()[0]
    conn.execute("DROP TRIGGER ledger_no_update")
    conn.execute("ALTER TABLE ledger DROP COLUMN prev_hash")
    conn.execute("ALTER TABLE ledger DROP COLUMN entry_hash")
    conn.execute(guard)
    conn.execute("DELETE FROM schema_migrations WHERE name = 'm0070_ledger_chain'")
    assert apply_migrations(conn) == ["m0070_ledger_chain"]
    assert [tuple(r) for r in conn.execute("SELECT entry_id, prev_hash, entry_hash FROM ledger ORDER BY seq")] \
        == [tuple(r) for r in stored]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # the trigger is back
        conn.execute("UPDATE ledger SET points = 0")


def test_the_chain_names_the_first_changed_entry_and_a_removed_one(till):
    member = members.enroll(till, name="Ada", phone="0612345678")
    for cents in (100, 200, 300, 400):
        _sell(till, cents, member.member_id)
    db = db_path(till.home)
    ids = [r[0] for r in till.conn.execute("SELECT entry_id FROM ledger ORDER BY seq")]
    _break_entry(db, 2)
    report = integrity.verify_chain(till.conn)
    assert report is not None and not report.ok
    assert report.first_bad is not None and report.first_bad["entry_id"] == ids[1] and report.first_bad["seq"] == 2
    assert "content does not match its hash" in report.words()
    # an entry removed: the next one no longer links to the one before it
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP TRIGGER ledger_no_delete")
    conn.execute("DELETE FROM ledger WHERE seq IN (2, 3)")
    conn.close()
    report = integrity.verify_chain(till.conn, (till.config.store_id, till.config.till_id))
    assert report is not None and report.first_bad is not None and report.first_bad["entry_id"] == ids[3]
    assert "does not link to the entry before it (seq 1)" in report.words()


def test_doctor_reports_the_first_bad_entry(selling_till, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(selling_till, home)
    conn = sqlite3.connect(db_path(home))
    entry_id = conn.execute("SELECT entry_id FROM ledger WHERE seq = 3").fetchone()[0]
    conn.close()
    _break_entry(db_path(home), 3)
    done = cli(home, "doctor", "--offline", "--json")
    assert done.returncode == 1, done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["chain"]["status"] == "fail"
    assert entry_id in checks["chain"]["detail"] and "seq 3" in checks["chain"]["detail"]
    assert "pos-client restore" in checks["chain"]["fix"]
    assert "Traceback" not in done.stderr


def test_a_large_database_is_checked_in_the_background_and_writing_stops_on_damage(tmp_path):
    ctx = open_till(tmp_path / "home")
    member = members.enroll(ctx, name="Ada", phone="0612345678")
    _sell(ctx, 1000, member.member_id)
    good = back_up(ctx.conn, ctx.home, ctx.config)
    _sell(ctx, 2000, member.member_id)
    ctx.close()
    db = db_path(tmp_path / "home")
    _break_entry(db, 2)
    # no time at all in the foreground (as for a database too large to check while opening)
    thread = integrity.check_on_open(db, integrity.advice_text(good.path), budget_s=0.0)
    assert thread is not None
    thread.join(30)
    refusal = integrity.stopped(db)
    assert refusal is not None and refusal.exit_code == 5
    assert str(good.path) in str(refusal) and "pos-client restore" in str(refusal)

    ctx = open_till(tmp_path / "home")
    try:
        with pytest.raises(StoppedWriting, match="stopped writing") as caught:
            _sell(ctx, 500, member.member_id)
        assert "hash chain broken" in str(caught.value) and str(good.path) in str(caught.value)
        assert ctx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 2  # nothing recorded
        assert members.get_member(ctx, member.member_id).member_id == member.member_id  # reads still work
    finally:
        ctx.close()

    restore(tmp_path / "home", ctx.config, good.path, force=True)  # the latest good backup: writing again
    assert integrity.stopped(db) is None
    ctx = open_till(tmp_path / "home")
    try:
        _sell(ctx, 700, member.member_id)
        assert integrity.verify_chain(ctx.conn).ok
    finally:
        ctx.close()


def test_the_days_upkeep_runs_the_full_check_and_stops_writing_on_damage(tmp_path):
    ctx = open_till(tmp_path / "home")
    member = members.enroll(ctx, name="Ada", phone="0612345678")
    _sell(ctx, 1000, member.member_id)
    _sell(ctx, 1200, member.member_id)
    _break_entry(db_path(ctx.home), 1)
    try:
        with pytest.raises(StoppedWriting, match="hash chain broken"):
            upkeep.catch_up(ctx, "2030-01-01")
        assert ctx.conn.execute("SELECT COUNT(*) FROM upkeep_runs").fetchone()[0] == 0
        assert integrity.stopped(db_path(ctx.home)) is not None
    finally:
        ctx.close()


def test_the_chain_function_is_the_one_head_office_computes():
    content = ("e1", "m1", "S1", "T1", 1, "earn", 12, None, 1250, "2026-03-01T10:00:00+00:00", None, None, None)
    first = chain_hash(None, content)
    assert first == chain_hash("", content) and len(first) == 64
    assert chain_hash(first, content) != first  # the link is covered
    assert chain_hash(None, (*content[:6], 13, *content[7:])) != first  # so is every value
    with pytest.raises(ValueError):
        chain_hash(None, content[:-1])


def test_connect_on_memory_has_no_marker():
    conn = connect(":memory:")
    assert getattr(conn, "stop_marker", None) is None
    conn.close()


def _large(monkeypatch) -> None:
    """Treat every database as one at chain scale (over the size checked wholly before the upkeep)."""
    monkeypatch.setattr(integrity, "OPEN_CHECK_MAX_BYTES", 0)


def _large_till_that_sold(tmp_path: Path, monkeypatch, *cents: int) -> tuple[Path, str]:
    """A till at chain scale (`_large`) with a member who bought `cents`, closed: its database and the member."""
    _large(monkeypatch)
    ctx = open_till(tmp_path / "home")
    member = members.enroll(ctx, name="Ada", phone="0612345678")
    for c in cents:
        _sell(ctx, c, member.member_id)
    ctx.close()
    return db_path(tmp_path / "home"), member.member_id


def test_at_chain_scale_the_upkeep_verifies_the_entries_since_the_opening_checks_mark(tmp_path, monkeypatch):
    db, member_id = _large_till_that_sold(tmp_path, monkeypatch, 1000)
    thread = integrity.check_on_open(db, integrity.advice_text(None))  # what opening the till starts
    assert thread is not None
    thread.join(30)
    mark = chain_mark.valid(db, sqlite3.connect(db))
    assert mark is not None and mark.rowid == 1  # the sale's one entry
    ctx = open_till(tmp_path / "home")
    try:
        for cents in (1200, 1300, 1400):
            _sell(ctx, cents, member_id)
        seen: list[str] = []
        ctx.conn.set_trace_callback(seen.append)
        upkeep.catch_up(ctx, "2030-01-01")
        ctx.conn.set_trace_callback(None)
        assert not any("integrity_check" in s for s in seen)  # the opening check's work is not done again
        assert chain_mark.valid(db, ctx.conn).rowid > mark.rowid  # the upkeep moved the mark on
        _sell(ctx, 1500, member_id)
        seq = ctx.conn.execute("SELECT MAX(seq) FROM ledger").fetchone()[0]
    finally:
        ctx.close()
    _break_entry(db, seq)  # damage after the mark: the upkeep finds it and refuses to write
    ctx = open_till(tmp_path / "home")
    try:
        days = ctx.conn.execute("SELECT COUNT(*) FROM upkeep_runs").fetchone()[0]
        with pytest.raises(StoppedWriting, match="hash chain broken"):
            upkeep.catch_up(ctx, "2030-02-01")
        assert ctx.conn.execute("SELECT COUNT(*) FROM upkeep_runs").fetchone()[0] == days
        assert integrity.stopped(db) is not None
    finally:
        ctx.close()


def test_the_upkeep_verifies_the_whole_chain_when_the_mark_is_not_this_databases(tmp_path, monkeypatch):
    _large(monkeypatch)
    ctx = open_till(tmp_path / "home")
    member = members.enroll(ctx, name="Ada", phone="0612345678")
    _sell(ctx, 1000, member.member_id)
    _sell(ctx, 1200, member.member_id)
    db = db_path(ctx.home)
    chain_mark.record(db, chain_mark.Mark(2, "another database's entry"), "test")
    _break_entry(db, 1)  # before the (foreign) mark
    try:
        with pytest.raises(StoppedWriting, match="hash chain broken"):
            upkeep.catch_up(ctx, "2030-01-01")
        assert ctx.conn.execute("SELECT COUNT(*) FROM upkeep_runs").fetchone()[0] == 0
    finally:
        ctx.close()


def _no_mark(db: Path) -> None:
    """A till never checked whole yet: wait for the opening check `open_till` started, then drop its mark."""
    with chain_mark.checking(db):
        chain_mark.mark_file(db).unlink(missing_ok=True)


def test_the_upkeep_waits_for_the_opening_check_still_running_and_stops_when_asked(tmp_path, monkeypatch):
    _large(monkeypatch)
    ctx = open_till(tmp_path / "home")
    member = members.enroll(ctx, name="Ada", phone="0612345678")
    _sell(ctx, 1000, member.member_id)
    db = db_path(ctx.home)
    _no_mark(db)
    done: list[int] = []
    try:
        with chain_mark.checking(db) as held:  # the opening check, still running
            assert held
            worker = threading.Thread(target=lambda: done.append(len(upkeep.catch_up(ctx, "2030-01-01"))))
            worker.start()
            worker.join(1.0)
            assert worker.is_alive() and not done  # waiting, nothing written
            assert ctx.conn.execute("SELECT COUNT(*) FROM upkeep_runs").fetchone()[0] == 0
        worker.join(30)
        assert done and done[0] > 0  # the check finished: the upkeep verified the chain and ran its days
        with chain_mark.checking(db):  # with a valid mark the upkeep does not wait for an opening check
            assert len(upkeep.catch_up(ctx, "2030-01-03")) == 2
        _no_mark(db)
        stop = threading.Event()
        stop.set()
        with chain_mark.checking(db):
            assert upkeep.catch_up(ctx, "2030-02-01", stop=stop) == []  # the app closing: nothing checked, nothing run
    finally:
        ctx.close()


def _open_check(db: Path) -> None:
    """What opening the till starts on a large database: the check in the background, waited for here."""
    thread = integrity.check_on_open(db, integrity.advice_text(None))
    assert thread is not None
    thread.join(30)
    assert not thread.is_alive()


def test_a_large_databases_opening_check_reads_the_whole_file_at_most_once_a_day(tmp_path, monkeypatch):
    """At 5 GB the whole check (quick_check reads every page, then the whole chain) ran at every start and the
    first minutes' swipes waited on its reads: it now runs when the last one is a day old; in between an
    opening verifies the chain of the entries appended since the mark, so damage to new entries is still
    found at the next start and damage to old ones at the next whole check (or the upkeep's, or doctor's)."""
    db, _ = _large_till_that_sold(tmp_path, monkeypatch, 1000, 1100)
    chain_mark.mark_file(db).unlink(missing_ok=True)
    _open_check(db)
    first = json.loads(chain_mark.mark_file(db).read_text())
    assert first["how"] == "the check when the till opened" and first["whole_at"] == first["at"]
    assert chain_mark.whole_within(db, integrity.WHOLE_CHECK_EVERY_S)

    _break_entry(db, 1)  # an entry the whole check verified: left to the next whole check
    _open_check(db)
    since = json.loads(chain_mark.mark_file(db).read_text())
    assert since["how"] == "the check when the till opened: the chain since the last mark"
    assert since["whole_at"] == first["whole_at"]  # carried over: the next whole check is still due a day on
    assert integrity.stopped(db) is None

    stale = {**since, "whole_at": (datetime.now(UTC) - timedelta(hours=25)).isoformat(timespec="seconds")}
    chain_mark.mark_file(db).write_text(json.dumps(stale))
    assert not chain_mark.whole_within(db, integrity.WHOLE_CHECK_EVERY_S)
    _open_check(db)  # a day on: the whole check again, which finds it
    refusal = integrity.stopped(db)
    assert refusal is not None and "hash chain broken" in str(refusal)


def test_between_whole_checks_an_opening_still_finds_damage_to_new_entries(tmp_path, monkeypatch):
    db, member_id = _large_till_that_sold(tmp_path, monkeypatch, 1000)
    chain_mark.mark_file(db).unlink(missing_ok=True)
    _open_check(db)  # the whole check: the mark at the first entry
    mark = chain_mark.valid(db, sqlite3.connect(db))
    assert mark is not None and mark.rowid == 1
    monkeypatch.setattr(integrity, "OPEN_CHECK_MAX_BYTES", 1 << 40)  # this opening's check: in the foreground
    ctx = open_till(tmp_path / "home")
    try:
        _sell(ctx, 1200, member_id)  # after the mark
        seq = ctx.conn.execute("SELECT MAX(seq) FROM ledger").fetchone()[0]
    finally:
        ctx.close()
    _large(monkeypatch)
    assert chain_mark.whole_within(db, integrity.WHOLE_CHECK_EVERY_S)
    assert chain_mark.valid(db, sqlite3.connect(db)).rowid < seq
    _break_entry(db, seq)
    _open_check(db)  # the chain since the mark only: the new entry's damage is found
    assert json.loads(chain_mark.mark_file(db).read_text())["whole_at"] is not None
    refusal = integrity.stopped(db)
    assert refusal is not None and "hash chain broken" in str(refusal)

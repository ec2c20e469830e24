"""An empty till's first pull as one file (headoffice/directory_file.py, sync/snapshot_file.py) against the real
head office on loopback, SQLite and PostgreSQL stores: the till ends with head office's directory, writes after
the file was built reach it through the feed, a cut download resumes from the bytes it has, a damaged one is
fetched again, and the copy is SQLite's transfer optimisation (whole records, not row by row)."""

from __future__ import annotations

import sqlite3
import time

import msgspec
import pytest
from records import batch, card, entry, member
from test_snapshot_pull import N, _assert_directory, _fill
from tillkit import enrol, loyalty, register

from headoffice import directory_file
from headoffice.server import ServerThread
from headoffice.store import Principal
from pos_client.store import sync_state as state
from pos_client.store.db import schema_version
from sync import snapshot, snapshot_file
from sync.client import Offline
from sync.engine import client_for, sync_once
from wire.snapshot import DIRECTORY_TABLES


@pytest.fixture
def served(store, tmp_path):
    """The real head office on loopback over `store` (SQLite and PostgreSQL), its directory files in tmp."""
    server = ServerThread(store, directory=tmp_path / "directory").start()
    yield server
    server.stop()


def _ready(t, url_store, url):
    """Register `t` and wait until head office's first directory file is built (its cost, not a pull's)."""
    register(t, url_store, url)
    with client_for(t.conn, t.config) as client:
        for _ in range(200):
            info = client.directory()
            if info.ready:
                return info
            time.sleep(0.05)
    raise AssertionError("no directory file")


def test_an_empty_till_takes_the_directory_as_one_file_and_the_feed_after_it(served, store, make_till):
    seq = _fill(store)
    t = make_till("S1", "T2")
    info = _ready(t, store, served.url)
    assert info.members == N and info.cards == N and info.schema == schema_version(t.conn) and not info.own_entries
    # written after the file was built: they come through the feed, after the file's floor
    who = Principal("S9", "T1")
    store.ingest(who, batch("S9", "T1", members=[member("m99", "S9", name="New"), member("m03", "S9", name="Renamed")],
                            cards=[card(loyalty(999), "m99")],
                            entries=[entry("S9", "T1", seq + 1, "m02", 100), entry("S9", "T1", seq + 2, "m99", 7)]))
    store.block_card(loyalty(105))
    seen = []
    report = sync_once(t, progress=seen.append)
    assert report.pulled["snapshot_file"] == 1 and report.pulled["snapshot_members"] == N
    assert {p.what for p in seen} >= {snapshot_file.BYTES_WHAT, snapshot_file.COPY_WHAT, snapshot.WHAT}
    firsts = [(p.done, p.total) for p in seen if p.what == snapshot.WHAT]
    assert firsts == [(N, N)]  # the copy's last step, then the feed's own progress
    assert t.conn.execute("SELECT name FROM members WHERE member_id = 'm03'").fetchone()[0] == "Renamed"
    assert t.conn.execute("SELECT status FROM cards WHERE card_number = ?", (loyalty(105),)).fetchone()[0] \
        == "blocked"
    assert t.conn.execute("SELECT points FROM balances WHERE member_id = 'm02'").fetchone()[0] == 3 + 2 + 100
    _assert_directory(t, store)
    assert state.get_int(t.conn, snapshot.FLOOR) == info.floor and state.get_int(t.conn, snapshot.DONE) == 1
    assert state.get(t.conn, snapshot_file.HELD) is None
    assert not snapshot_file.part_path(t.conn).exists()
    # the copy dropped the tables' triggers inside its transaction: they are back, and a local change is queued
    assert t.conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name IN"
                          " ('sync_members_upd', 'opening_balances_no_update')").fetchone()[0] == 2
    assert t.conn.execute("SELECT COUNT(*) FROM sync_outbox").fetchone()[0] == 0
    assert t.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert t.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert t.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert t.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    t.conn.execute("UPDATE members SET name = 'Local' WHERE member_id = 'm04'")
    assert [r[0] for r in t.conn.execute("SELECT key FROM sync_outbox WHERE type = 'member'")] == ["m04"]
    again = sync_once(t)
    assert "snapshot_members" not in again.pulled


def test_a_cut_download_resumes_from_the_bytes_it_has(headoffice, ho_store, make_till, proxy):
    _fill(ho_store)
    t = make_till("S1", "T2")
    info = _ready(t, ho_store, proxy.url)
    starts: list[int] = []
    proxy.set_mode("drop_after_response", drop_bytes=info.size // 3)  # a third of the file, then cut
    with client_for(t.conn, t.config) as client:
        download = client.download
        client.download = lambda name, out, start=0, tick=None: (starts.append(start),  # type: ignore[method-assign]
                                                                 download(name, out, start, tick))[1]
        with pytest.raises(Offline):
            snapshot_file.pull_file(t, client, attempts=1)
        part = snapshot_file.part_path(t.conn)
        held = part.stat().st_size
        assert 0 < held < info.size and state.get(t.conn, snapshot_file.HELD)
        assert t.conn.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 0
        proxy.set_mode("pass")
        assert snapshot_file.pull_file(t, client) == N
    assert starts == [0, held]  # the second request asked for the rest only (HTTP Range)
    assert not part.exists()
    sync_once(t)
    _assert_directory(t, ho_store)


def test_a_damaged_download_is_fetched_again(headoffice, ho_store, make_till):
    _fill(ho_store)
    t = make_till("S1", "T2")
    info = _ready(t, ho_store, headoffice.url)
    part = snapshot_file.part_path(t.conn)
    part.write_bytes(b"\0" * info.size)  # the right size, the wrong bytes (a power cut mid-write)
    state.put(t.conn, **{snapshot_file.HELD: msgspec.json.encode(info).decode()})  # as a cut download leaves it
    with client_for(t.conn, t.config) as client:
        assert snapshot_file.pull_file(t, client) == N  # checked, deleted, fetched again from 0
    sync_once(t)
    _assert_directory(t, ho_store)


def test_a_till_that_is_not_empty_takes_the_parts(headoffice, ho_store, make_till):
    _fill(ho_store)
    t = make_till("S1", "T2")
    register(t, ho_store, headoffice.url)
    t.conn.execute("INSERT INTO members (member_id, store_id, created_at, updated_at) VALUES ('local', 'S1', 'x', 'x')")
    assert not snapshot_file.usable(t.conn)
    report = sync_once(t)
    assert "snapshot_file" not in report.pulled and report.pulled["snapshot_members"] == N


def test_the_copy_moves_whole_records(store, tmp_path, make_till):
    """Foreign keys off and no triggers: every table's copy is SQLite's transfer optimisation (`RowData`); with
    foreign keys on, or the file attached read-only (its CHECKs then unparsed), it would not be."""
    _fill(store)
    info = directory_file.build(store, tmp_path)
    t = make_till("S1", "T2")
    conn = t.conn
    conn.execute("ATTACH DATABASE ? AS dir", (str(tmp_path / info.name),))
    try:
        assert not snapshot_file.transfers(conn, "members")  # foreign keys on
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN IMMEDIATE")
        snapshot_file._drop_triggers(conn)
        assert all(snapshot_file.transfers(conn, table) for table in DIRECTORY_TABLES)
        conn.execute("ROLLBACK")
        conn.execute("DETACH DATABASE dir")
        conn.execute("ATTACH DATABASE ? AS dir", (f"file:{tmp_path / info.name}?mode=ro",))
        conn.execute("BEGIN IMMEDIATE")
        snapshot_file._drop_triggers(conn)
        assert not snapshot_file.transfers(conn, "members")
        conn.execute("ROLLBACK")
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DETACH DATABASE dir")


def test_a_directory_file_on_both_head_office_databases(store, tmp_path):
    """The file holds head office's members, consent, balances (opening balances at its floor) and cards in the
    till's schema, its floor recorded inside, on SQLite and PostgreSQL alike."""
    _fill(store)
    info = directory_file.build(store, tmp_path)
    path = tmp_path / info.name
    assert info.size == path.stat().st_size and info.sha256 == directory_file.file_sha256(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM sync_state WHERE key = 'snapshot_floor'").fetchone()[0] \
            == str(info.floor) == str(store.feed_top())
        assert {r[0]: r[1] for r in conn.execute("SELECT member_id, points FROM balances")} \
            == {f"m{i:02d}": 3 + i for i in range(N)}
        assert conn.execute("SELECT COUNT(*), MIN(floor), MAX(floor) FROM opening_balances").fetchone() \
            == (N, info.floor, info.floor)
        assert conn.execute("SELECT channel, granted FROM member_consent WHERE member_id = 'm05'").fetchall() \
            == [("email", 1)]
        assert conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == N
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()


def test_a_file_head_office_no_longer_keeps_is_left_for_the_current_one(headoffice, ho_store, make_till):
    _fill(ho_store)
    t = make_till("S1", "T2")
    info = _ready(t, ho_store, headoffice.url)
    gone = msgspec.structs.replace(info, name="directory-0000000000000000.db")
    snapshot_file.part_path(t.conn).write_bytes(b"half of an older file")
    state.put(t.conn, **{snapshot_file.HELD: msgspec.json.encode(gone).decode()})  # a cut download of it
    with client_for(t.conn, t.config) as client:
        assert snapshot_file.pull_file(t, client) == N  # 404 for the old one, then the current one from 0
    sync_once(t)
    _assert_directory(t, ho_store)


def test_head_office_builds_one_file_at_a_time_and_again_when_it_got_old(ho_store, tmp_path):
    """202 until the first file is built; a file older than its max age is still served while its successor is
    built (once the feed moved); the one before stays for downloads in flight; a second builder waits its turn
    (another worker holding the build lock: nothing built twice)."""
    from headoffice.directory_files import DirectoryFiles, _exclusive

    seq = _fill(ho_store)
    who = Principal("S1", "T2")
    files = DirectoryFiles(ho_store, tmp_path / "dir", max_age_s=3600, first_wait_s=0)
    status, first = files.info(who)
    assert status == 202 and not first.ready and first.retry_after > 0  # the first build has only begun
    files.wait(60)
    status, first = files.info(who)
    assert status == 200 and first.ready and first.floor == ho_store.feed_top()
    with _exclusive(tmp_path / "dir" / "build.lock") as held:  # another worker building
        assert held and files.build_now() is None
    files.max_age_s = 0
    assert files.info(who)[1].name == first.name  # old, but the feed has not moved: nothing to build
    files.wait(60)
    assert files.current().name == first.name
    ho_store.ingest(Principal("S9", "T1"), batch("S9", "T1", entries=[entry("S9", "T1", seq + 1, "m01", 5)]))
    status, served = files.info(who)
    assert status == 200 and served.name == first.name  # served while the next one is built
    files.wait(60)
    second = files.current()
    assert second.name != first.name and second.floor > first.floor
    assert files.path(first.name) is not None and files.path(second.name) is not None


def test_a_till_that_enrolled_after_a_cut_download_takes_the_parts_and_drops_the_download(
        headoffice, ho_store, make_till, proxy):
    _fill(ho_store)
    t = make_till("S1", "T2")
    info = _ready(t, ho_store, proxy.url)
    proxy.set_mode("drop_after_response", drop_bytes=info.size // 2)
    with client_for(t.conn, t.config) as client, pytest.raises(Offline):
        snapshot_file.pull_file(t, client, attempts=1)
    assert snapshot_file.part_path(t.conn).exists()
    proxy.set_mode("pass")
    enrol(t, 1)  # the till sells on meanwhile: its tables are no longer empty
    report = sync_once(t)
    assert "snapshot_file" not in report.pulled and report.pulled["snapshot_members"] == N + 1
    assert not snapshot_file.part_path(t.conn).exists() and state.get(t.conn, snapshot_file.HELD) is None
    _assert_directory(t, ho_store)

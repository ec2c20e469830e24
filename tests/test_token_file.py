"""The head-office token is kept out of `till.db` and out of every backup (issue 11, finding 9).

Real SQLite files, the real `backup`/`restore` CLI and a real head office on loopback: the token is grepped
for in the bytes of every file a backup writes.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import stat

from headoffice.server import ServerThread
from pos_client.cli.main import main
from pos_client.store import sync_state
from pos_client.store.backup import back_up
from pos_client.store.config import write_config
from pos_client.store.db import connect, migration_names
from pos_client.store.token_file import token_path
from pos_client.till import open_till
from sync.engine import sync_once
from tests.sync.tillkit import enrol, register, sell

TOKEN = "tok-3f9a1c7e5b2d4f60a8e1c9b7d3f5a2e4"


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _bytes_under(directory) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def _home(tmp_path, name="till"):
    home = tmp_path / name
    home.mkdir()
    write_config(home, {"store_id": "S1", "till_id": "T1"})
    return home


def test_token_lives_in_its_own_private_file_and_never_in_a_backup(tmp_path, capsys):
    home = _home(tmp_path)
    ctx = open_till(home)
    try:
        enrol(ctx, 1)
        sell(ctx, 1, 2500)
        sync_state.put(ctx.conn, **{sync_state.TOKEN: TOKEN, sync_state.STATE: "offline"})
        assert sync_state.get(ctx.conn, sync_state.TOKEN) == TOKEN
        path = home / "secrets" / "token"
        assert token_path(ctx.conn) == path and path.read_text() == TOKEN
        assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
        row = ctx.conn.execute("SELECT value FROM sync_state WHERE key = 'token'").fetchone()
        assert row is not None and row[0] is None  # the row marks a registered till; its value is empty
        back_up(ctx.conn, home, ctx.config)
    finally:
        ctx.close()
    usb = tmp_path / "usb"
    write_config(home, {"backup": {"copy_to": [str(usb)]}})
    assert main(["backup", "--home", str(home), "--json"]) == 0
    capsys.readouterr()
    files = {**_bytes_under(home / "backups"), **_bytes_under(usb)}
    assert len([f for f in files if f.endswith(".db")]) >= 3
    assert [f for f, data in files.items() if TOKEN.encode() in data] == []
    live = b"".join(p.read_bytes() for p in home.glob("till.db*"))
    assert TOKEN.encode() not in live


def test_migration_moves_an_older_tills_token_out_and_scrubs_its_bytes(tmp_path):
    """A till from before m0080 kept the token in `sync_state`: it moves to the file, the db's bytes lose it."""
    home = _home(tmp_path)
    path = home / "till.db"
    older = [n for n in migration_names() if n < "m0080_token_file" or n == "m0200_sync"]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name in sorted(older):
        importlib.import_module(f"pos_client.store.migrations.{name}").apply(conn)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (name,))
    conn.execute("INSERT INTO sync_state (key, value) VALUES ('token', ?)", (TOKEN,))
    conn.close()
    assert TOKEN.encode() in path.read_bytes()
    conn = connect(path)
    try:
        assert sync_state.get(conn, sync_state.TOKEN) == TOKEN
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    assert (home / "secrets" / "token").read_text() == TOKEN
    assert TOKEN.encode() not in path.read_bytes()
    # the copy taken before the step keeps it: it is what an older version would run on, reading it there
    assert list((home / "backups").glob("pre-migration-*.db"))


def test_restored_till_reads_its_token_file_and_syncs(tmp_path, capsys, ho_store):
    """Restore on the same till: the token file is still there, so the till syncs without registering again."""
    home = _home(tmp_path)
    server = ServerThread(ho_store).start()
    try:
        ctx = open_till(home)
        try:
            register(ctx, ho_store, server.url)
            enrol(ctx, 1)
            sell(ctx, 1, 2500)
            sync_once(ctx)
            backup = back_up(ctx.conn, home, ctx.config).path
            sell(ctx, 1, 1000)  # pushed after the backup: the restored till fetches it back
            sync_once(ctx)
        finally:
            ctx.close()
        token = (home / "secrets" / "token").read_text()
        assert len(token) > 16 and token.encode() not in backup.read_bytes()
        # restore syncs at once with the token read from its file: what was pushed after the backup comes back
        assert main(["restore", str(backup), "--home", str(home), "--force", "--json"]) == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert out["recovery_pending"] is False and out["recovered"]["entries"] >= 1
        ctx = open_till(home)
        try:
            assert sync_state.get(ctx.conn, sync_state.TOKEN) == token
            sync_once(ctx)
            assert sync_state.get(ctx.conn, sync_state.STATE) == "online"
        finally:
            ctx.close()
    finally:
        server.stop()

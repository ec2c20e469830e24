"""Upgrades that keep the data: a till home and a head-office database written by v0.1.0 (fixtures built by
tests/fixtures/upgrade/v0.1.0/make_fixtures.py with the tagged code) opened by today's code.

Every check compares against manifest.json, which the fixture script wrote with v0.1.0 reading its own
databases: counts, ids, points and a digest of every row, so today's code is never checked against itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from cardread import parse_card
from headoffice.server import ServerThread
from headoffice.store import Store, open_store
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import coupons
from pos_client.services.members import get_member, member_for_card
from pos_client.store import print_queue
from pos_client.store.config import write_config
from pos_client.store.db import migration_names
from pos_client.till import open_till
from sync.engine import sync_once
from sync.register import register_till

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "upgrade" / "v0.1.0"
MANIFEST: dict[str, Any] = json.loads((FIXTURE / "manifest.json").read_text())
TILL = MANIFEST["till"]
HO = MANIFEST["headoffice"]


def row_digest(row: dict[str, Any]) -> str:
    """The fixture script's digest of one row (canonical JSON, blobs as hex, first 16 hex digits)."""
    clean = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in row.items()}
    return hashlib.sha256(json.dumps(clean, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def digests(db: Path, table: str, columns: list[str]) -> Counter[str]:
    """Today's rows of a table, over the columns v0.1.0 had, as the fixture script digests them."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cols = ", ".join(f'"{c}"' for c in columns)
        cur = conn.execute(f'SELECT {cols} FROM "{table}"')
        return Counter(row_digest(dict(zip(columns, r, strict=True))) for r in cur.fetchall())
    finally:
        conn.close()


def missing_rows(db: Path, tables: dict[str, Any]) -> dict[str, int]:
    """Per table, how many of v0.1.0's rows are no longer there (column for column)."""
    lost = {}
    for table, recorded in tables.items():
        if table == "sqlite_sequence":
            continue  # SQLite's own AUTOINCREMENT counters: they move when a migration queues rows (m0430)
        now = digests(db, table, recorded["columns"])
        gone = Counter(recorded["rows"]) - now
        if gone:
            lost[table] = sum(gone.values())
    return lost


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def till_home(tmp_path):
    home = tmp_path / "till"
    shutil.copytree(FIXTURE / "till", home)
    return home


@pytest.fixture
def ho_db(tmp_path):
    db = tmp_path / "headoffice.db"
    shutil.copy2(FIXTURE / "headoffice.db", db)
    return db


@pytest.fixture
def ho_server(ho_db):
    """Today's head office on the upgraded v0.1.0 database, served on loopback."""
    store = open_store(f"sqlite:///{ho_db}")
    server = ServerThread(store).start()
    yield server
    server.stop()
    store.close()


def test_fixture_is_small_and_full():
    """The committed fixture holds data in every table v0.1.0 writes, and stays small."""
    size = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert size < 1_000_000
    assert [t for t, v in TILL["tables"].items() if v["count"] == 0] == ["till_state"]  # no v0.1.0 code writes it
    assert [t for t, v in HO["tables"].items() if v["count"] == 0] == []
    assert set(TILL["ledger_kinds"]) == {"earn", "bonus", "redeem", "adjust", "reverse", "expire"}
    assert TILL["outbox"] and TILL["unpushed_entries"] and TILL["print_jobs"]


def test_till_keeps_every_row_balance_coupon_and_queued_record(till_home):
    """Opened by today's code (migrations run): v0.1.0's rows, ids, points, balances and queues are all there."""
    ctx = open_till(till_home)
    try:
        conn = ctx.conn
        got = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        assert set(TILL["migrations"]) <= got and set(migration_names()) <= got
        # the one row that changed: m0080 moved the head-office token out of the database into its own file
        assert missing_rows(till_home / "till.db", TILL["tables"]) == {"sync_state": 1}
        assert conn.execute("SELECT value FROM sync_state WHERE key = 'token'").fetchone()[0] is None
        assert len((till_home / "secrets" / "token").read_text()) == 48
        for table in ("members", "cards", "ledger", "balances", "sales", "sale_lines", "coupons", "coupon_uses",
                      "redemptions", "member_tiers", "print_jobs", "upkeep_runs"):
            count = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            assert count == TILL["tables"][table]["count"], table
        ledger = [dict(r) for r in conn.execute(
            "SELECT entry_id, seq, member_id, kind, points, sale_id FROM ledger ORDER BY seq")]
        assert ledger == TILL["ledger"]
        assert conn.execute("SELECT SUM(points) FROM ledger").fetchone()[0] == TILL["points_sum"]
        members = [dict(r) for r in conn.execute(
            "SELECT member_id, name, phone, status FROM members ORDER BY member_id")]
        assert members == TILL["members"]
        assert {r[0]: r[1] for r in conn.execute("SELECT member_id, points FROM balances")} == TILL["balances"]
        for member in (m for m in TILL["members"] if m["status"] == "active"):  # as the till shows them
            assert get_member(ctx, member["member_id"]).balance == TILL["balances"].get(member["member_id"], 0)
        cards = [dict(r) for r in conn.execute(
            "SELECT card_number, member_id, status FROM cards ORDER BY card_number")]
        assert cards == TILL["cards"]
        used = {u["code"] for u in TILL["coupon_uses"]}
        for c in TILL["coupons"]:  # the signing keys survived: every coupon still verifies offline
            verdict = coupons.check(ctx, c["code"], as_of=c["expires"])
            assert verdict["code"] == c["code"] and (verdict["kind"], verdict["value"]) == (c["kind"], c["value"])
            assert verdict["valid"] == (c["code"] not in used), verdict
        outbox = [dict(r) for r in conn.execute("SELECT id, type, key FROM sync_outbox ORDER BY id")]
        assert [o for o in outbox if o["type"] != "tier_change"] == TILL["outbox"]
        # m0430 queues the tier history v0.1.0 never pushed, once, after what was queued already
        assert [int(o["key"]) for o in outbox if o["type"] == "tier_change"] == [
            r[0] for r in conn.execute("SELECT rowid FROM member_tiers ORDER BY rowid")]
        assert min((o["id"] for o in outbox if o["type"] == "tier_change"), default=0) > max(
            (o["id"] for o in TILL["outbox"]), default=0)
        pending = {j.job_id for j in print_queue.pending(conn)}
        assert pending == {j["job_id"] for j in TILL["print_jobs"] if j["status"] == "pending"}
        state = {r[0]: r[1] for r in conn.execute("SELECT key, value FROM sync_state") if r[0] != "token"}
        assert {k: state.get(k) for k in ("push_high_seq", "pull_cursor", "push_sale_rowid")} == {
            k: TILL["sync_state"][k] for k in ("push_high_seq", "pull_cursor", "push_sale_rowid")}
    finally:
        ctx.close()


def test_cli_opens_the_v010_till_and_reads_a_balance(till_home):
    """The way a store meets the upgrade: the first command after installing the new version."""
    bjorn = MANIFEST["members_by_name"]["bjorn"]
    card = next(c["card_number"] for c in TILL["cards"] if c["member_id"] == bjorn)
    proc = _cli("pos_client", "--home", str(till_home), "--json", "balance", card)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (answer["member_id"], answer["balance"]) == (bjorn, TILL["balances"][bjorn])
    assert answer["tier"] == next(t["tier"] for t in reversed(TILL["tiers"]) if t["member_id"] == bjorn)


def test_till_upgrade_took_a_backup_first(till_home):
    """The pending migrations ran after a copy of the v0.1.0 database was put aside, and the copy is whole."""
    pending = set(migration_names()) - set(TILL["migrations"])
    open_till(till_home).close()
    backups = sorted((till_home / "backups").glob("pre-migration-*.db")) if pending else []
    if not pending:
        assert not (till_home / "backups").exists()
        return
    assert len(backups) == 1 and max(TILL["migrations"]) in backups[0].name
    assert missing_rows(backups[0], TILL["tables"]) == {}
    conn = sqlite3.connect(backups[0])
    try:
        assert {r[0] for r in conn.execute("SELECT name FROM schema_migrations")} == set(TILL["migrations"])
    finally:
        conn.close()


def test_upgraded_till_sells_and_pushes_its_queue_to_upgraded_headoffice(till_home, ho_db, ho_server):
    """Both upgraded: a sale works, and what v0.1.0 left queued reaches head office intact."""
    write_config(till_home, {"headoffice": {"url": ho_server.url}})
    ctx = open_till(till_home)
    try:
        ana = MANIFEST["members_by_name"]["ana"]
        ana_card = next(c["card_number"] for c in TILL["cards"] if c["member_id"] == ana and c["status"] == "active")
        before = TILL["balances"][ana]
        member = member_for_card(ctx, parse_card(ana_card))
        basket = Basket(member_id=member.member_id, card_number=ana_card)
        basket.add(Line.keyed(2000))
        sale = commit_sale(ctx, basket, sale_id="after-upgrade-1")
        assert sale.points_earned > 0
        assert get_member(ctx, ana).balance == before + sale.points_earned
        report = sync_once(ctx)  # the token v0.1.0 got at registration still opens today's head office
        assert report.push.entries == len(TILL["unpushed_entries"]) + len(
            [r for r in ctx.conn.execute("SELECT 1 FROM ledger WHERE sale_id = 'after-upgrade-1'")])
        assert ctx.conn.execute("SELECT COUNT(*) FROM sync_outbox").fetchone()[0] == 0
        own = {r["entry_id"]: dict(r) for r in ctx.conn.execute(
            "SELECT entry_id, kind, points FROM ledger WHERE store_id = 'S1' AND till_id = 'T1'")}
        tier_rows = ctx.conn.execute("SELECT COUNT(*) FROM member_tiers").fetchone()[0]
    finally:
        ctx.close()
    conn = sqlite3.connect(ho_db)
    try:
        at_ho = {r[0]: {"entry_id": r[0], "kind": r[1], "points": r[2]} for r in conn.execute(
            "SELECT entry_id, kind, points FROM ledger WHERE store_id = 'S1' AND till_id = 'T1'")}
        assert at_ho == own  # the queued entries arrived, ids, kinds and points intact
        assert tier_rows and conn.execute(  # and the tier history v0.1.0 kept to itself (m0430)
            "SELECT COUNT(*) FROM tier_changes WHERE store_id = 'S1' AND till_id = 'T1'").fetchone()[0] == tier_rows
        queued = {(o["type"], o["key"]) for o in TILL["outbox"]}
        for kind, key in queued:
            table, column = {"member": ("members", "member_id"), "card": ("cards", "card_number"),
                             "coupon_use": ("coupon_uses", "use_id")}.get(kind, ("offer_targets", None))
            if column is None:
                offer_id, sale_id = key.split("/")
                found = conn.execute("SELECT 1 FROM offer_targets WHERE offer_id = ? AND sale_id = ?",
                                     (offer_id, sale_id)).fetchone()
            else:
                found = conn.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (key,)).fetchone()
            assert found, (kind, key)
        fay = MANIFEST["members_by_name"]["fay"]
        row = conn.execute("SELECT name FROM members WHERE member_id = ?", (fay,)).fetchone()
        assert row[0] == next(m["name"] for m in TILL["members"] if m["member_id"] == fay)
        ho_balance = conn.execute("SELECT points FROM balances WHERE member_id = ?", (ana,)).fetchone()[0]
        assert ho_balance == HO["balances"][ana] + sum(
            e["points"] for e in TILL["ledger"] if e["member_id"] == ana and e["entry_id"] in TILL["unpushed_entries"]
        ) + sale.points_earned
    finally:
        conn.close()


def test_headoffice_keeps_every_row_and_a_till_pulls_from_it(tmp_path, ho_db, ho_server):
    """Opened and served by today's head office: every v0.1.0 row is there and a new till pulls the members."""
    assert missing_rows(ho_db, HO["tables"]) == {}
    conn = sqlite3.connect(f"file:{ho_db}?mode=ro", uri=True)
    try:
        assert {r[0]: r[1] for r in conn.execute("SELECT member_id, points FROM balances")} == HO["balances"]
        ledger = [dict(zip(("entry_id", "store_id", "till_id", "seq", "kind", "points"), r, strict=True))
                  for r in conn.execute("SELECT entry_id, store_id, till_id, seq, kind, points FROM ledger"
                                        " ORDER BY server_seq")]
        assert ledger == HO["ledger"]
    finally:
        conn.close()
    home = tmp_path / "new-till"
    home.mkdir()
    write_config(home, {"store_id": "S3", "till_id": "T3"})
    ctx = open_till(home)
    try:
        register_till(ctx, ho_server.url, ho_server.store.add_till("S3", "T3"))
        report = sync_once(ctx)
        assert report.pulled
        pulled = {r[0] for r in ctx.conn.execute("SELECT member_id FROM members")}
        live = {m["member_id"] for m in HO["members"] if m["status"] == "active"}
        assert live <= pulled
        balances = {r[0]: r[1] for r in ctx.conn.execute("SELECT member_id, points FROM balances")}
        assert {m: balances.get(m, 0) for m in live} == {m: HO["balances"].get(m, 0) for m in live}
    finally:
        ctx.close()


def _register(url: str, store: Store, store_id: str, till_id: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/v1/register", json={"code": store.add_till(store_id, till_id)}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {"authorization": f"Bearer {answer.json()['token']}"}


def test_recorded_v010_requests_replay_against_today_headoffice(tmp_path):
    """A till one protocol version behind: v0.1.0's own push body and pull query, sent as recorded."""
    body = (FIXTURE / "push_batch.json").read_bytes()
    pull = json.loads((FIXTURE / "pull_query.json").read_text())
    recorded = MANIFEST["recorded"]["push_answer"]
    store = open_store(f"sqlite:///{tmp_path / 'fresh-ho.db'}")
    server = ServerThread(store).start()
    try:
        auth = _register(server.url, store, "S1", "T1")
        headers = {**auth, "content-type": "application/json"}
        first = httpx.post(f"{server.url}/v1/push", content=body, headers=headers, timeout=30)
        # the batch erases a member: today a till's erasure waits for a decision (202 + `pending`), so one
        # document fewer is applied; v0.1.0's client takes any status below 400 as done and its PushResult
        # ignores the unknown `pending` field
        assert first.status_code == 202, first.text
        answer = first.json()
        assert [p["kind"] for p in answer["pending"]] == ["erase"]
        for key in ("accepted", "duplicates", "high_seq", "sales", "cards", "rejected"):
            assert answer[key] == recorded[key], key
        assert answer["docs"] == recorded["docs"] - 1
        again = httpx.post(f"{server.url}/v1/push", content=body, headers=headers, timeout=30).json()
        assert (again["accepted"], again["duplicates"]) == (0, recorded["accepted"])
        page = httpx.get(f"{server.url}{pull['path']}", params=pull["query"], headers=auth, timeout=30)
        assert page.status_code == 200, page.text
        pulled = {c["data"].get("member_id") for c in page.json()["changes"] if c["type"] == "member"}
        sent = json.loads(body)
        assert {m["member_id"] for m in sent["members"]} <= pulled
    finally:
        server.stop()
        store.close()


def test_recorded_push_is_a_replay_on_the_upgraded_headoffice(ho_server):
    """The same v0.1.0 batch, sent again to its own (upgraded) head office: nothing counted twice."""
    auth = _register(ho_server.url, ho_server.store, "S1", "T1")
    answer = httpx.post(f"{ho_server.url}/v1/push", content=(FIXTURE / "push_batch.json").read_bytes(),
                        headers={**auth, "content-type": "application/json"}, timeout=30)
    assert answer.status_code == 200, answer.text
    recorded = MANIFEST["recorded"]["push_answer"]
    assert (answer.json()["accepted"], answer.json()["duplicates"]) == (0, recorded["accepted"])


def test_a_future_protocol_version_is_refused_clearly(tmp_path):
    """A batch from a till newer than head office: refused whole, with the version head office speaks."""
    store = open_store(f"sqlite:///{tmp_path / 'ho.db'}")
    server = ServerThread(store).start()
    try:
        auth = _register(server.url, store, "S1", "T1")
        future = {**json.loads((FIXTURE / "push_batch.json").read_text()), "version": 2}
        answer = httpx.post(f"{server.url}/v1/push", json=future, headers=auth, timeout=30)
        assert 400 <= answer.status_code < 500
        assert "this head office speaks version 1" in answer.text, answer.text
        assert store.balance(MANIFEST["members_by_name"]["bjorn"]) == 0  # nothing of the batch was taken
    finally:
        server.stop()
        store.close()


def _cli(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_till_database_from_a_newer_version_is_refused_and_untouched(till_home):
    """A migration this code does not know: refused (exit 2, no traceback) before anything is written."""
    db = till_home / "till.db"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO schema_migrations VALUES ('m9999_future', '2030-01-01T00:00:00+00:00')")
    conn.close()
    before = file_digest(db)
    with pytest.raises(Exception, match="newer version") as refused:
        open_till(till_home)
    assert "m9999_future" in str(refused.value)
    ana_card = TILL["cards"][0]["card_number"]
    proc = _cli("pos_client", "--home", str(till_home), "--json", "balance", ana_card)
    assert proc.returncode == 2, proc.stderr
    assert "newer version" in proc.stderr and "Traceback" not in proc.stderr
    assert file_digest(db) == before
    assert not (till_home / "backups").exists()


def test_headoffice_database_from_a_newer_version_is_refused_and_untouched(ho_db):
    """A newer `schema_version` in head office's meta table: refused before anything is written."""
    conn = sqlite3.connect(ho_db)
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', 999999)"
                     " ON CONFLICT (key) DO UPDATE SET value = 999999")
    conn.close()
    before = file_digest(ho_db)
    with pytest.raises(Exception, match="newer") as refused:
        open_store(f"sqlite:///{ho_db}")
    assert "999999" in str(refused.value)
    proc = _cli("headoffice", "member", "show", MANIFEST["members_by_name"]["ana"], "--db", f"sqlite:///{ho_db}")
    assert proc.returncode == 2, proc.stderr
    assert "newer" in proc.stderr and "Traceback" not in proc.stderr
    assert file_digest(ho_db) == before

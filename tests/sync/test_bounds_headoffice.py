"""Issue 11, finding 1 at head office: two entries of 4611686018427387904 points made a member's balance a
float (9.223372036854776e+18), a new till pulled it and `report points-liability` failed with `integer
overflow`; above 2**63 head office answered 500. Now the wire schema bounds every number (`wire.bounds`), an
entry that would take a balance out of range is quarantined with its reason, the console's adjustments are
bounded, and schema version 2 adds CHECK constraints. Runs on both backends (SQLite and a real PostgreSQL).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from records import batch, entry, member
from tillkit import enrol, register

from headoffice.server import ServerThread
from headoffice.store import open_store
from headoffice.store.directory import ActionRefused
from headoffice.store.migrations import SCHEMA_VERSION
from headoffice.store.migrations.v0002_bounds import CHECKS
from pos_client.cli.main import main
from pos_client.domain.errors import UsageError
from sync.engine import sync_once
from wire.bounds import BALANCE, CENTS, KEYED_POINTS, POINTS, SEQ
from wire.protocol import LedgerRecord

HUGE = 4611686018427387904  # 2**62, the finding's number
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "upgrade" / "v0.1.0" / "headoffice.db"


def test_finding_1_pushes_never_make_a_balance_a_float(store):
    _token, who = store.register(store.add_till("S1", "T1"))
    r = store.ingest(who, batch("S1", "T1", members=[member("m1", "S1")],
                                entries=[entry("S1", "T1", 1, "m1", HUGE), entry("S1", "T1", 2, "m1", HUGE)]))
    assert r.accepted == 0 and len(r.rejected) == 2
    assert all("points: must be <= 1000000000000" in x["reasons"][0] for x in r.rejected)
    # within the per-entry range, but the second would take the balance past BALANCE: set aside with why
    r = store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", 3, "m1", POINTS.high),
                                                     entry("S1", "T1", 4, "m1", POINTS.high)]))
    assert r.accepted == 1 and r.high_seq == 4  # the quarantined seqs count as held
    assert [x["reasons"] for x in r.rejected] == [[
        f"points: +{POINTS.high:,} would take the member's balance of {BALANCE.high:,} outside"
        f" {BALANCE.low:,} to {BALANCE.high:,}"]]
    balance = store.balance("m1")
    assert balance == BALANCE.high and type(balance) is int
    # a replay of what was taken is still a duplicate, not a balance refusal
    taken = next(e for e in store.export_rows("ledger") if e["seq"] == 3)
    replay = {k: taken[k] for k in ("entry_id", "member_id", "store_id", "till_id", "seq", "kind", "points",
                                    "created_at", "amount_cents")}
    r = store.ingest(who, batch("S1", "T1", entries=[replay]))
    assert r.duplicates == 1 and r.rejected == []
    # entries that bring the balance back are taken
    r = store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", 5, "m1", -5, kind="redeem")]))
    assert r.accepted == 1 and store.balance("m1") == BALANCE.high - 5


def test_console_adjustments_are_bounded(store):
    _token, who = store.register(store.add_till("S1", "T1"))
    store.ingest(who, batch("S1", "T1", members=[member("m1", "S1")],
                            entries=[entry("S1", "T1", 1, "m1", BALANCE.high - 10)]))
    with pytest.raises(ActionRefused, match="points: 4611686018427387904 is outside"):
        store.adjust_points("m1", HUGE, "goodwill", "console:olga")
    with pytest.raises(ActionRefused, match="the balance would leave"):
        store.adjust_points("m1", 11, "goodwill", "console:olga")
    assert store.adjust_points("m1", 10, "goodwill", "console:olga")["balance"] == BALANCE.high
    with pytest.raises(ActionRefused, match="from 0 to 1,000,000,000"):
        store.set_console_setting("adjust_limit.owner", KEYED_POINTS.high + 1)
    assert store.console_setting("adjust_limit.manager") == 500  # the till's [limits] default too


def _raw(store_url: str):
    if store_url.startswith("sqlite:///"):
        return sqlite3.connect(store_url[len("sqlite:///"):], isolation_level=None), sqlite3.IntegrityError
    import psycopg  # why: only the PostgreSQL case needs the driver

    return psycopg.connect(store_url, autocommit=True), psycopg.errors.CheckViolation


def test_schema_version_2_refuses_out_of_range_numbers_in_the_database_itself(store_url):
    store = open_store(store_url)
    try:
        _token, who = store.register(store.add_till("S1", "T1"))
        store.ingest(who, batch("S1", "T1", members=[member("m1", "S1")], entries=[entry("S1", "T1", 1, "m1", 5)]))
    finally:
        store.close()
    conn, error = _raw(store_url)
    try:
        assert int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]) \
            == SCHEMA_VERSION >= 2
        for sql in ("UPDATE balances SET points = points + 4611686018427387904",
                    "UPDATE balances SET points = 9223372036854775807",
                    "UPDATE ledger SET seq = 0",
                    "UPDATE tills SET high_seq = -1"):
            with pytest.raises(error, match="_range"):
                conn.execute(sql)
        if isinstance(conn, sqlite3.Connection):
            with pytest.raises(error, match="balances_points_range"):
                conn.execute("UPDATE balances SET points = 5.5")
    finally:
        conn.close()


def test_a_v010_head_office_database_gains_the_constraints_and_keeps_its_rows(tmp_path):
    db = tmp_path / "ho.db"
    shutil.copy(FIXTURE, db)
    before = sqlite3.connect(db)
    rows = {t: before.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid").fetchall() for t in CHECKS}
    indexes = {r[0]: r[1] for r in before.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                                                  " AND sql IS NOT NULL")}
    before.close()
    open_store(f"sqlite:///{db}").close()
    after = sqlite3.connect(db)
    try:
        for t in CHECKS:
            got = after.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid").fetchall()
            assert [g[:len(r)] for g, r in zip(got, rows[t], strict=True)] == rows[t], t
            sql = after.execute("SELECT sql FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0]
            assert all(f"CONSTRAINT {t}_{c}_range " in sql for c, _r in CHECKS[t])
        now = {r[0]: r[1] for r in after.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")}
        assert all(now.get(n) == s for n, s in indexes.items())
        assert int(after.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]) \
            == SCHEMA_VERSION
        assert after.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        after.close()


def test_a_head_office_database_holding_a_float_balance_is_refused_unchanged(tmp_path):
    db = tmp_path / "ho.db"
    shutil.copy(FIXTURE, db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE balances SET points = 9.223372036854776e+18 WHERE rowid = (SELECT MIN(rowid) FROM"
                 " balances)")  # what finding 1 left behind
    conn.commit()
    conn.close()
    with pytest.raises(UsageError, match=r"balances\.points: 1 row\(s\) outside .* Nothing was changed"):
        open_store(f"sqlite:///{db}")
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() in (None, (1,))
        assert conn.execute("SELECT typeof(points) FROM balances ORDER BY rowid").fetchone() == ("real",)
        assert "CONSTRAINT" not in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'balances'").fetchone()[0]
    finally:
        conn.close()


def test_finding_1_end_to_end_a_new_till_pulls_and_the_liability_report_adds_up(ho_store, make_till, capsys):
    server = ServerThread(ho_store).start()
    try:
        token, _ = ho_store.register(ho_store.add_till("S1", "T1"))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        first = {"entry_id": "a" * 32, "member_id": "m1", "store_id": "S1", "till_id": "T1", "seq": 1,
                 "kind": "bonus", "points": HUGE, "created_at": "2026-03-01T10:00:00+00:00"}
        for i, points in enumerate((HUGE, 2**63, 2**64, 9.223372036854776e+18, POINTS.high, POINTS.high)):
            body = json.dumps({"store_id": "S1", "till_id": "T1", "members": [member("m1", "S1")],
                               "entries": [{**first, "entry_id": f"{i + 1:032x}", "seq": i + 1, "points": points}]})
            r = httpx.post(server.url + "/v1/push", content=body.encode(), headers=headers, timeout=30)
            assert r.status_code == (200 if i == 4 else 422), r.text  # never a 500
            if i != 4:
                assert r.json()["rejected"][0]["reasons"][0].startswith("points:")
        assert ho_store.balance("m1") == POINTS.high  # one of the two maxima; the second quarantined
        r = httpx.get(server.url + "/v1/pull", params={"cursor": 2**63}, headers=headers, timeout=30)
        assert r.status_code in (400, 422) and "cursor" in r.text
        till = make_till("S2", "T2")
        register(till, ho_store, server.url)
        enrol(till, 1)
        sync_once(till)
        row = till.conn.execute("SELECT typeof(points), points FROM balances WHERE member_id = 'm1'").fetchone()
        assert tuple(row) == ("integer", POINTS.high)
        home = Path(till.conn.execute("PRAGMA database_list").fetchone()[2]).parent
        code = main(["report", "points-liability", "--json", "--home", str(home)])
        out = capsys.readouterr()
        assert code == 0 and "overflow" not in out.out + out.err
    finally:
        server.stop()


def test_head_office_database_and_wire_agree_on_every_bound(store_url):
    """Property: around every bound, the wire schema, the table and the database's CHECK say the same."""
    open_store(store_url).close()
    conn, error = _raw(store_url)
    sqlite = isinstance(conn, sqlite3.Connection)
    ph = "?" if sqlite else "%s"
    cases = [("ledger", "points", POINTS), ("balances", "points", BALANCE), ("ledger", "seq", SEQ),
             ("sales", "total_cents", CENTS)]
    rows = {"ledger": ("INSERT INTO ledger (server_seq, entry_id, member_id, store_id, till_id, seq, kind, points,"
                       f" created_at, received_at) VALUES (1, 'e', 'm', 'S', 'T', {ph}, 'earn', {ph}, 't', 't')"),
            "balances": f"INSERT INTO balances (member_id, points, updated_at) VALUES ('m', {ph}, 't')",
            "sales": ("INSERT INTO sales (sale_id, store_id, till_id, total_cents, points_earned, created_at,"
                      f" received_at, lines) VALUES ('s', 'S', 'T', {ph}, 0, 't', 't', '[]')")}

    @settings(max_examples=150, deadline=None)
    @given(st.sampled_from(cases).flatmap(lambda c: st.tuples(st.just(c), st.one_of(
        st.sampled_from([c[2].low, c[2].high]).flatmap(lambda e: st.integers(e - 2, e + 2)),
        st.integers(-(2**63), 2**63 - 1)))))
    def agree(case) -> None:
        (table, column, r), value = case
        params = (value,) if table != "ledger" else ((value, 1) if column == "seq" else (1, value))
        conn.execute("SAVEPOINT p" if sqlite else "BEGIN")
        try:
            conn.execute(rows[table], params)
            stored = True
        except error:
            stored = False
        conn.execute("ROLLBACK TO p" if sqlite else "ROLLBACK")
        if sqlite:
            conn.execute("RELEASE p")
        record = {"entry_id": "a" * 32, "member_id": "m", "store_id": "S", "till_id": "T", "seq": 1,
                  "kind": "adjust", "points": 1, "created_at": "2026-03-01"}
        if table == "ledger":
            try:
                msgspec.json.decode(json.dumps({**record, column: value}).encode(), type=LedgerRecord)
                wire = True
            except msgspec.ValidationError:
                wire = False
            assert wire == r.holds(value)
        assert stored == r.holds(value), (table, column, value)

    try:
        agree()
    finally:
        conn.close()


def test_a_push_past_the_bounds_keeps_nothing_of_its_first_try(store):
    """SQLite writes a push straight away and lets the balances' CHECK refuse it (issue 15: ingest rate); then
    the push is taken the careful way. Nothing of the refused try is left: no row, no server_seq, no feed row."""
    _token, who = store.register(store.add_till("S1", "T1"))
    store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", 1, "m1", POINTS.high)]))
    store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", s, "m1", POINTS.high) for s in range(2, 11)]))
    assert store.balance("m1") == BALANCE.high
    r = store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", 11, "m2", 7), entry("S1", "T1", 12, "m1", 1),
                                                     entry("S1", "T1", 13, "m3", 5)]))
    assert (r.accepted, [x["index"] for x in r.rejected], r.high_seq) == (2, [1], 13)
    assert (store.balance("m1"), store.balance("m2"), store.balance("m3")) == (BALANCE.high, 7, 5)
    seqs = sorted(int(x[0]) for x in [*store._execute("SELECT server_seq FROM ledger"),
                                      *store._execute("SELECT server_seq FROM feed")])
    top = int(store._execute("SELECT value FROM meta WHERE key = 'server_seq'")[0][0])
    assert seqs[-1] == top and len(seqs) == len(set(seqs))  # the refused try handed out nothing that stayed
    assert {k for (k,) in store._execute("SELECT key FROM feed WHERE entity = 'balance'")} == {"m1", "m2", "m3"}

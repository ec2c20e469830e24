"""Issue 11, finding 1 at the till: `adjust --points 4611686018427387904` was accepted; two made a balance a
float and `report points-liability` failed with `integer overflow`. Now every number has a range
(`wire.bounds`), refused at every entry point with a clear error and the documented exit code, backed by
CHECK constraints (m0060); manual adjustments have per-role limits ([limits], the owner above a manager's).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardread.barcode import with_check_digit
from pos_client.app.manager_screen import parse_adjustment, parse_part
from pos_client.cli.main import main
from pos_client.domain.bounds import BALANCE, CENTS, POINTS, QUANTITY, SEQ, require
from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.services.checkout import Basket, Line
from pos_client.services.importer import import_sales
from pos_client.services.marketing import limits, manager, rewards
from pos_client.services.members import enroll
from pos_client.store import ledger
from pos_client.store.config import write_config
from pos_client.store.db import apply_migrations
from pos_client.store.migrations.m0060_bounds import CHECKS
from pos_client.till import open_till
from sync.apply import apply_page
from sync.client import Refused
from wire.errors import Invalid, convert
from wire.protocol import LedgerRecord, PullPage

CARD = with_check_digit("290000000001")
HUGE = "4611686018427387904"  # the finding's number: 2**62
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "upgrade" / "v0.1.0" / "till"
PIN, OWNER_PIN = "4321", "9876"


def run(home: Path, capsys, *args: str) -> tuple[int, str]:
    code = main([*args, "--home", str(home)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def till(tmp_path, capsys):
    home = tmp_path / "till"
    assert run(home, capsys, "init")[0] == 0
    assert run(home, capsys, "member", "enroll", "--card", CARD, "--name", "Ana")[0] == 0
    assert run(home, capsys, "manager", "add", "Alice", "--pin", PIN)[0] == 0
    return home


def balances(home: Path) -> list[tuple[str, object]]:
    conn = sqlite3.connect(home / "till.db")
    try:
        return [(r[0], r[1]) for r in conn.execute("SELECT typeof(points), points FROM balances")]
    finally:
        conn.close()


# --- finding 1, the exact commands ---------------------------------------------------------------------


def test_finding_1_the_huge_adjustment_is_refused_and_the_liability_report_still_adds_up(till, capsys):
    for pin in (PIN, OWNER_PIN):
        if pin == OWNER_PIN:
            assert run(till, capsys, "manager", "add", "Olga", "--pin", OWNER_PIN, "--owner")[0] == 0
        for _ in range(2):
            code, out = run(till, capsys, "adjust", "--card", CARD, "--points", HUGE, "--reason", "goodwill",
                            "--pin", pin)
            assert code == 2 and "points too large (max 1,000,000,000)" in out
            assert "Traceback" not in out
    assert balances(till) == [("integer", 0)]
    code, out = run(till, capsys, "report", "points-liability", "--json")
    assert code == 0 and "overflow" not in out
    # above 2**63: a clear refusal too, never a traceback
    code, out = run(till, capsys, "adjust", "--card", CARD, "--points", str(2**64), "--reason", "goodwill",
                    "--pin", PIN)
    assert code == 2 and "Traceback" not in out


# --- per-role limits ---------------------------------------------------------------------------------


def test_a_manager_adjusts_up_to_the_limit_and_the_owner_above_it(till, capsys):
    code, out = run(till, capsys, "adjust", "--card", CARD, "--points", "500", "--reason", "goodwill", "--pin", PIN)
    assert code == 0
    code, out = run(till, capsys, "adjust", "--card", CARD, "--points", "501", "--reason", "goodwill", "--pin", PIN)
    assert code == 3 and "above a manager's limit of 500" in out and "owner's PIN is needed" in out
    code, out = run(till, capsys, "manager", "add", "Olga", "--pin", OWNER_PIN, "--owner", "--json")
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["role"] == "owner"
    code, out = run(till, capsys, "adjust", "--card", CARD, "--points", "10000", "--reason", "goodwill",
                    "--pin", OWNER_PIN)
    assert code == 0
    code, out = run(till, capsys, "adjust", "--card", CARD, "--points", "10001", "--reason", "goodwill",
                    "--pin", OWNER_PIN)
    assert code == 3 and "above the owner's limit of 10,000" in out
    code, out = run(till, capsys, "adjust", "--card", CARD, "--points", "-501", "--reason", "correction",
                    "--pin", PIN)
    assert code == 3 and "owner's PIN" in out  # either way
    assert balances(till) == [("integer", 10_500)]


def test_the_limits_come_from_config_and_a_bad_value_is_a_usage_error(till, capsys):
    write_config(till, {"limits": {"adjust_points_manager": 5000}})
    assert run(till, capsys, "adjust", "--card", CARD, "--points", "5000", "--reason", "goodwill",
               "--pin", PIN)[0] == 0
    write_config(till, {"limits": {"adjust_points_manager": 10**10}})
    code, out = run(till, capsys, "adjust", "--card", CARD, "--points", "5", "--reason", "goodwill", "--pin", PIN)
    assert code == 2 and "[limits] adjust_points_manager" in out
    assert balances(till) == [("integer", 5000)]


def test_the_app_dialog_refuses_what_the_cli_refuses(tmp_path):
    for bad in (f"+{HUGE} goodwill", "+-5 goodwill", f"{'9' * 5000} goodwill"):
        with pytest.raises(UsageError):
            parse_adjustment(bad)
    with pytest.raises(UsageError, match="at most"):
        parse_part("9" * 5000)
    assert parse_adjustment("+1000000000 goodwill") == (10**9, "goodwill")
    ctx = open_till(tmp_path / "till")
    try:
        member = enroll(ctx, name="Ana", phone="0612345678")
        manager.add_manager(ctx, "Alice", PIN)
        with pytest.raises(RefusedInput, match="owner's PIN"):
            rewards.adjust(ctx, member.member_id, 600, "goodwill", PIN)  # the dialog calls this
        limits.add_owner(ctx, "Olga", OWNER_PIN)
        assert rewards.adjust(ctx, member.member_id, 600, "goodwill", OWNER_PIN)["balance"] == 600
    finally:
        ctx.close()


# --- every entry point --------------------------------------------------------------------------------


def test_the_ledger_refuses_an_entry_or_a_balance_out_of_range_and_writes_nothing(tmp_path):
    ctx = open_till(tmp_path / "till")
    try:
        member = enroll(ctx, name="Ana", phone="0612345678")
        with pytest.raises(UsageError, match="points: 4611686018427387904 is outside"):
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(member.member_id, "adjust", 2**62)])
        ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(member.member_id, "adjust", POINTS.high)])
        with pytest.raises(RefusedInput, match="the balance would be 2,000,000,000,000 points"):
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(member.member_id, "adjust",
                                                                             POINTS.high)])
        assert ledger.balance(ctx.conn, member.member_id) == BALANCE.high
        assert ctx.conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 1
    finally:
        ctx.close()


def test_a_basket_refuses_quantities_and_totals_out_of_range():
    basket = Basket()
    with pytest.raises(UsageError, match="qty: 1000000 is outside"):
        basket.add(Line("x", "general", QUANTITY.high + 1, 1))
    with pytest.raises(UsageError, match="the line's amount: 99999899000001 is outside"):
        basket.add(Line("x", "general", QUANTITY.high, 99_999_999))
    basket.add(Line("x", "general", 10_000, 99_999_999))
    with pytest.raises(UsageError, match="basket's total"):
        basket.add(Line("x", "general", 10_000, 99_999_999))
    assert len(basket.lines) == 1 and CENTS.holds(basket.total_cents)


def test_the_importer_refuses_a_quantity_out_of_range(tmp_path):
    ctx = open_till(tmp_path / "till")
    try:
        csv = tmp_path / "sales.csv"
        csv.write_text(f"card,date,amount,qty\n{CARD},2026-03-01,10.00,{'9' * 5000}\n{CARD},2026-03-01,10.00,"
                       f"{QUANTITY.high + 1}\n{CARD},2026-03-01,10.00,2\n")
        out = import_sales(ctx, csv, enroll_unknown=True)
        assert [e["line"] for e in out["errors"]] == [2, 3]
        assert all("qty must be a whole number from 1 to 999,999" in e["reason"] for e in out["errors"])
        assert out["imported"] == 1
    finally:
        ctx.close()


def test_a_pulled_entry_out_of_range_or_a_float_fails_the_page_and_applies_nothing(tmp_path):
    ctx = open_till(tmp_path / "till")
    try:
        good = {"entry_id": "a" * 32, "member_id": "m1", "store_id": "S2", "till_id": "T2", "seq": 1,
                "kind": "adjust", "points": 5, "created_at": "2026-03-01T10:00:00+00:00", "amount_cents": 0,
                "sale_id": None, "operator": None, "reason": None, "ref": None, "prev_hash": None, "entry_hash": None}
        for bad in (9.223372036854776e+18, 2**62, 5.5, "5"):
            page = PullPage.from_dict({"changes": [
                {"cursor": 1, "type": "entry", "data": good},
                {"cursor": 2, "type": "entry", "data": {**good, "entry_id": "b" * 32, "seq": 2, "points": bad}}],
                "next_cursor": 2, "more": False})
            with pytest.raises(Refused, match="head office sent a ledger entry this till cannot store: points"):
                apply_page(ctx, page)
            assert ctx.conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 0
        page = PullPage.from_dict({"changes": [{"cursor": 1, "type": "entry", "data": {**good, "points": 5.0}}],
                                   "next_cursor": 1, "more": False})
        apply_page(ctx, page)  # JSON's 5.0 is the integer 5, stored as one
        assert ctx.conn.execute("SELECT typeof(points), points FROM ledger").fetchone()[:] == ("integer", 5)
    finally:
        ctx.close()


# --- m0060: the CHECK constraints ------------------------------------------------------------------------


def _schema(conn: sqlite3.Connection) -> dict[str, str]:
    return {r[0]: r[1] for r in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL")}


def test_a_fresh_database_refuses_numbers_out_of_range_and_stays_append_only(tmp_path):
    ctx = open_till(tmp_path / "till")
    conn = ctx.conn
    try:
        enroll(ctx, name="Ana", phone="0612345678")
        mid = conn.execute("SELECT member_id FROM members").fetchone()[0]
        row = ("e1", mid, "S1", "T1", 1, "adjust", 5, None, 0, "2026-03-01")
        insert = ("INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, sale_id,"
                  " amount_cents, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)")
        for column, value in ((6, 2**62), (6, 5.5), (8, -(10**13)), (4, 0), (4, 2**53 + 1)):
            bad = list(row)
            bad[column] = value
            with pytest.raises(sqlite3.IntegrityError, match=r"CHECK constraint failed: ledger_.*_range"):
                conn.execute(insert, bad)
        conn.execute(insert, row)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE ledger SET points = 6")
        with pytest.raises(sqlite3.IntegrityError, match="balances_points_range"):
            conn.execute("UPDATE balances SET points = points + ?", (2**62,))
        conn.commit()
        tables = {r[0]: r[1] for r in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
        for table, checks in CHECKS.items():
            assert all(f"CONSTRAINT {table}_{c}_range " in tables[table] for c, _r, _n in checks)
        assert "manager_roles" in tables
    finally:
        ctx.close()


def test_the_v010_database_keeps_every_row_rowid_index_and_trigger(tmp_path):
    home = tmp_path / "till"
    shutil.copytree(FIXTURE, home)
    before = sqlite3.connect(home / "till.db")
    rows = {t: before.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid").fetchall() for t in CHECKS}
    schema = _schema(before)
    before.close()
    ctx = open_till(home)
    try:
        assert {t: ctx.conn.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid").fetchall() for t in CHECKS} \
            .keys() == rows.keys()
        for t in CHECKS:
            got = [tuple(r) for r in ctx.conn.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid")]
            assert [g[:len(r)] for g, r in zip(got, rows[t], strict=True)] == rows[t], t
        after = _schema(ctx.conn)
        assert set(schema) <= set(after) and all(after[n] == schema[n] for n in schema)
        assert ctx.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert ctx.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert "m0060_bounds" in {r[0] for r in ctx.conn.execute("SELECT name FROM schema_migrations")}
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            ctx.conn.execute("DELETE FROM ledger")
    finally:
        ctx.close()


def test_a_database_already_holding_a_number_out_of_range_is_refused_and_left_as_it_was(tmp_path, capsys):
    home = tmp_path / "till"
    shutil.copytree(FIXTURE, home)
    conn = sqlite3.connect(home / "till.db")
    # an entry v0.1.0 let in (finding 1), with its balance: the ledger and the balances still agree
    conn.execute("INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, created_at)"
                 " SELECT 'f1', member_id, 'S1', 'T1', 999999, 'adjust', ?, '2026-03-01' FROM balances"
                 " ORDER BY rowid LIMIT 1", (2**62,))
    conn.execute("UPDATE balances SET points = points + ? WHERE rowid = (SELECT MIN(rowid) FROM balances)",
                 (2**62,))
    conn.commit()
    conn.close()
    code, out = run(home, capsys, "report", "points-liability")
    assert code == 2 and "ledger.points: 1 row(s) outside" in out and "balances.points: 1 row(s)" in out
    assert "Nothing was changed" in out
    assert "Traceback" not in out
    conn = sqlite3.connect(home / "till.db")
    try:
        assert "m0060_bounds" not in {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        assert "CONSTRAINT" not in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'ledger'").fetchone()[0]
    finally:
        conn.close()


# --- one table, read the same everywhere ---------------------------------------------------------------------


def _near(r) -> st.SearchStrategy[int]:
    edges = st.sampled_from([r.low, r.high]).flatmap(lambda e: st.integers(e - 3, e + 3))
    return st.one_of(edges, st.integers(r.low - 2**64, r.high + 2**64), st.integers(-(2**70), 2**70))


def test_the_wire_the_domain_and_the_till_database_agree_on_every_bound(tmp_path):
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    apply_migrations(conn)
    conn.execute("PRAGMA foreign_keys = OFF")  # the ledger row's member need not exist for this check
    base = {"entry_id": "c" * 32, "member_id": "m1", "store_id": "S1", "till_id": "T1", "seq": 1, "kind": "adjust",
            "points": 1, "created_at": "2026-03-01T10:00:00+00:00", "amount_cents": 0}

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.sampled_from([("points", POINTS), ("amount_cents", CENTS), ("seq", SEQ)]).flatmap(
        lambda f: st.tuples(st.just(f), _near(f[1]))))
    def agree(case) -> None:
        (field, r), value = case
        data = {**base, field: value}
        try:
            convert(data, LedgerRecord)
            wire = True
        except Invalid:
            wire = False
        try:  # what head office decodes: the JSON text, whatever its size
            msgspec.json.decode(json.dumps(data).encode(), type=LedgerRecord)
            decoded = True
        except msgspec.ValidationError:
            decoded = False
        try:
            require(r, value)
            domain = True
        except UsageError:
            domain = False
        database = True
        if -(2**63) <= value < 2**63:
            conn.execute("SAVEPOINT p")
            try:
                conn.execute("INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points,"
                             " amount_cents, created_at) VALUES (:entry_id, :member_id, :store_id, :till_id, :seq,"
                             " :kind, :points, :amount_cents, :created_at)", data)
            except sqlite3.IntegrityError:
                database = False
            conn.execute("ROLLBACK TO p")
            conn.execute("RELEASE p")
        else:
            database = False  # SQLite cannot even bind it
        assert wire == decoded == domain == database == r.holds(value), (field, value)

    try:
        agree()
    finally:
        conn.close()

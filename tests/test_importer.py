"""Importing a store's sales history: idempotent, line-numbered errors, nothing half-imported."""

from __future__ import annotations

import pytest

from cardread import parse_card
from cardread.barcode import with_check_digit
from pos_client.domain.bounds import BALANCE
from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.services import members
from pos_client.services.importer import import_sales
from pos_client.store import ledger


def write(tmp_path, text):
    path = tmp_path / "sales.csv"
    path.write_text(text)
    return path


def test_rows_sharing_a_sale_id_are_one_sale(till, tmp_path):
    card = with_check_digit("290000000001")
    m = members.enroll(till, card=parse_card(card))
    path = write(tmp_path, "sale_id,card,date,amount\n"
                 f"X1,{card},2025-03-01T10:00,10.00\nX1,{card},2025-03-01T10:00,5.50\n")
    r = import_sales(till, path)
    assert r["imported"] == 1 and r["errors"] == []
    row = till.conn.execute("SELECT total_cents, created_at, points_earned FROM sales WHERE sale_id='X1'").fetchone()
    assert row[0] == 1550 and row[1].startswith("2025-03-01T10:00") and row[2] == 15
    assert ledger.balance(till.conn, m.member_id) == ledger.ledger_sum(till.conn, m.member_id) == 15


def test_member_id_column_and_unknown_members(till, tmp_path):
    m = members.enroll(till, phone="0612345678")
    path = write(tmp_path, f"member_id,date,amount\n{m.member_id},2025-01-01,3.00\nnobody,2025-01-01,3.00\n")
    r = import_sales(till, path)
    assert r["imported"] == 1 and r["errors"] == [{"line": 3, "reason": "unknown member_id"}]


def test_unknown_card_without_enroll_is_an_error(till, tmp_path):
    path = write(tmp_path, f"card,date,amount\n{with_check_digit('290000000005')},2025-01-01,3.00\n")
    r = import_sales(till, path)
    assert r["imported"] == 0 and "enroll" in r["errors"][0]["reason"]


def test_bad_header_is_a_usage_error(till, tmp_path):
    with pytest.raises(UsageError):
        import_sales(till, write(tmp_path, "who,when\n1,2\n"))


def test_thousands_of_rows_import_in_one_go(till, tmp_path):
    lines = ["card,date,amount,qty"]
    for i in range(3000):
        lines.append(f"{with_check_digit(f'2900000{i % 300:05d}')},2025-0{1 + i % 9}-1{i % 10},{i}.{i % 100:02d},1")
    lines.append(lines[-1])  # an identical row is the same sale: counted once
    r = import_sales(till, write(tmp_path, "\n".join(lines) + "\n"), enroll_unknown=True)
    assert r["enrolled"] == 300 and r["imported"] == 3000 and r["duplicates"] == 1 and r["skipped"] == 0
    bad = till.conn.execute(
        "SELECT COUNT(*) FROM balances b WHERE points != (SELECT COALESCE(SUM(points),0) FROM ledger l"
        " WHERE l.member_id = b.member_id)").fetchone()[0]
    assert bad == 0


def _index_sql(conn):
    return sorted(tuple(r) for r in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name IN ('sales', 'sale_lines', 'ledger')"))


def test_indexes_dropped_for_a_fresh_till_come_back_the_same(till, tmp_path):
    """Into a fresh till the importer makes the history tables' indexes after the rows (import_bulk): the same
    indexes are there afterwards, used, and a failed import leaves them as they were."""
    before = _index_sql(till.conn)
    assert any(name == "idx_ledger_member" for name, _sql in before)
    rows = [f"{with_check_digit(f'2900000{i % 50:05d}')},2025-02-{1 + i % 28:02d},{10 + i}.00" for i in range(200)]
    r = import_sales(till, write(tmp_path, "card,date,amount\n" + "\n".join(rows) + "\n"), enroll_unknown=True)
    assert r["imported"] == 200 and r["skipped"] == 0
    assert _index_sql(till.conn) == before
    plan = " ".join(str(r[-1]) for r in till.conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM ledger WHERE member_id = ?", ("x",)))
    assert "idx_ledger_member" in plan
    assert till.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # A second, smaller file into the now bigger tables keeps the indexes in place (row by row).
    more = [f"{with_check_digit(f'2900000{i:05d}')},2025-03-01,1.00" for i in range(3)]
    assert import_sales(till, write(tmp_path, "card,date,amount\n" + "\n".join(more) + "\n"))["imported"] == 3
    assert _index_sql(till.conn) == before
    assert till.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_balance_the_import_would_take_out_of_range_is_refused_in_words_and_nothing_is_imported(till, tmp_path):
    """The balances' CHECK refuses the sum at the write; the refusal names the member and the whole file is undone
    (sales, lines, entries, the other member's balance, the replay's rows)."""
    rich = members.enroll(till, card=parse_card(with_check_digit("290000000011")))
    other = members.enroll(till, card=parse_card(with_check_digit("290000000012")))
    ledger.append(till.conn, till.store_id, till.till_id, [ledger.Entry(rich.member_id, "adjust", BALANCE.high)])
    before = {t: till.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("sales", "sale_lines", "ledger", "member_tiers", "member_stages", "upkeep_runs")}
    path = write(tmp_path, "sale_id,card,date,amount\n"
                 f"A1,{with_check_digit('290000000012')},2025-03-01,10.00\n"
                 f"A2,{with_check_digit('290000000011')},2025-03-02,10.00\n")
    with pytest.raises(RefusedInput, match=f"member {rich.member_id}: this import would take the balance outside"):
        import_sales(till, path)
    assert ledger.balance(till.conn, rich.member_id) == BALANCE.high
    assert ledger.balance(till.conn, other.member_id) == 0
    assert before == {t: till.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in before}
    assert import_sales(till, write(tmp_path, "sale_id,card,date,amount\n"
                                    f"A1,{with_check_digit('290000000012')},2025-03-01,10.00\n"))["imported"] == 1

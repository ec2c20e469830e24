"""The purchase summary a snapshot keeps (`purchase_table.build_summary`) changes no report's figure.

A generated log on a real till (tiers on, so tier changes are recorded): every report over several periods and
a store scope, first from the sales themselves, then with the summary built, must be equal; the table read from
the summary must equal the one read from the sales, with each day's sale count and spend equal to a sum written
here in SQL. The summary is ignored once a sale is added after it (it would be stale), and a sale it cannot
encode leaves no summary. New customers and tier migration are also checked against computations written here
(the tills' own `tiers.tier_at` per member, and SQL over the sales).
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from pos_client.services.marketing import purchase_table, tiers
from pos_client.services.marketing.reports import run_report
from pos_client.store.db import write_txn
from pos_client.till import open_till
from tests.marketing.gen_log import generate
from tests.marketing.helpers import new_member, sell

REPORTS = ("new-customers", "lifecycle", "second-purchase", "reactivation", "retention", "rfm", "tier-migration")
PERIODS = (("2025-03-01", "2025-12-31"), ("2026-01-01", "2026-03-31"), ("2025-11-01", "2025-11-30"))


@pytest.fixture(scope="module")
def till(tmp_path_factory):
    log = generate(300, seed=11)
    ctx = open_till(tmp_path_factory.mktemp("summary") / "till")
    ctx.conn.execute("PRAGMA synchronous=OFF")  # a throwaway test database: no fsync per sale
    for sales in log.values():
        member_id, _ = new_member(ctx)
        for d, cents in sorted(sales):
            sell(ctx, member_id, cents, d.isoformat())
    yield ctx
    ctx.close()


def _with_summary(ctx):
    with write_txn(ctx.conn):
        assert purchase_table.build_summary(ctx.conn)
    assert purchase_table.has_summary(ctx.conn)


def _drop_summary(ctx):
    with write_txn(ctx.conn):
        ctx.conn.execute(f"DROP TABLE IF EXISTS {purchase_table.SUMMARY}")
        ctx.conn.execute(f"DROP TABLE IF EXISTS {purchase_table.SUMMARY_META}")


def _pairs(table):
    return sorted(zip([table.ids[i] for i in table.member.tolist()], table.day.tolist(), strict=True))


def test_every_report_is_equal_with_the_summary(till):
    ctx = till
    store = ctx.store_id
    plain = {(name, s, e, scope): run_report(ctx, name, start=s, end=e, store_id=scope)
             for name in REPORTS for s, e in PERIODS for scope in (None, store)}
    _with_summary(ctx)
    try:
        for (name, s, e, scope), want in plain.items():
            assert run_report(ctx, name, start=s, end=e, store_id=scope) == want, (name, s, e, scope)
        assert sum(plain[("second-purchase", *PERIODS[0], None)]["summary"][k] for k in ("first_buyers",)) > 20
        assert plain[("reactivation", *PERIODS[1], None)]["summary"]["spent_cents"] > 0
    finally:
        _drop_summary(ctx)


def test_summary_table_equals_the_sales(till):
    ctx = till
    end = date(2026, 2, 14)
    from_sales = purchase_table.read(ctx, end)
    _with_summary(ctx)
    try:
        summary = purchase_table.read(ctx, end, amounts=True)
        assert _pairs(summary) == _pairs(from_sales)
        want = {(m, d): (n, c) for m, d, n, c in ctx.conn.execute(
            "SELECT member_id, substr(created_at, 1, 10), COUNT(*), SUM(total_cents) FROM sales"
            " WHERE member_id IS NOT NULL AND created_at < '2026-02-15' GROUP BY 1, 2")}
        got = {(summary.ids[m], date.fromordinal(d).isoformat()): (n, c) for m, d, n, c in zip(
            summary.member.tolist(), summary.day.tolist(), summary.sales.tolist(), summary.cents.tolist(), strict=True)}
        assert got == want and len(want) > 500
    finally:
        _drop_summary(ctx)


def test_new_customers_and_tier_migration_against_independent_counts(till):
    ctx = till
    for s, e in PERIODS:
        r = run_report(ctx, "new-customers", start=s, end=e)
        active = ctx.conn.execute("SELECT COUNT(DISTINCT member_id) FROM sales WHERE member_id IS NOT NULL AND"
                                  " substr(created_at, 1, 10) BETWEEN ? AND ?", (s, e)).fetchone()[0]
        new = ctx.conn.execute("SELECT COUNT(*) FROM (SELECT MIN(substr(created_at, 1, 10)) AS f FROM sales WHERE"
                               " member_id IS NOT NULL GROUP BY member_id) WHERE f BETWEEN ? AND ?",
                               (s, e)).fetchone()[0]
        assert (r["summary"]["new"], r["summary"]["active"]) == (new, active)
        before = date.fromordinal(date.fromisoformat(s).toordinal() - 1)
        matrix = Counter((tiers.tier_at(ctx, m, before), tiers.tier_at(ctx, m, e)) for (m,) in ctx.conn.execute(
            "SELECT member_id FROM members WHERE status != 'merged' AND (substr(created_at, 1, 10) <= ? OR member_id"
            " IN (SELECT member_id FROM sales WHERE substr(created_at, 1, 10) <= ?))", (e, e)))
        got = run_report(ctx, "tier-migration", start=s, end=e)["summary"]["matrix"]
        assert {(a, b): n for a, row in got.items() for b, n in row.items() if n} == dict(matrix)
    assert ctx.conn.execute("SELECT COUNT(*) FROM member_tiers").fetchone()[0] > 0


def test_a_sale_after_the_summary_makes_it_ignored(tmp_path):
    ctx = open_till(tmp_path / "t", marketing=False)
    try:
        member_id, _ = new_member(ctx)
        sell(ctx, member_id, 1000, "2026-01-05")
        _with_summary(ctx)
        sell(ctx, member_id, 500, "2026-01-09")
        assert not purchase_table.has_summary(ctx.conn)
        table = purchase_table.read(ctx, date(2026, 1, 31), amounts=True)
        assert table.day.tolist() == [date(2026, 1, 5).toordinal(), date(2026, 1, 9).toordinal()]
        assert table.cents is None  # read from the sales: no amounts
    finally:
        ctx.close()


def test_a_sale_it_cannot_encode_leaves_no_summary(tmp_path):
    ctx = open_till(tmp_path / "t", marketing=False)
    try:
        member_id, _ = new_member(ctx)
        sell(ctx, member_id, 1000, "2026-01-05")
        with write_txn(ctx.conn):  # a history older than 1970 (one character per day since then)
            ctx.conn.execute("UPDATE sales SET created_at = '1969-12-31T12:00:00+00:00'")
            assert not purchase_table.build_summary(ctx.conn)
        assert not purchase_table.has_summary(ctx.conn)
        assert purchase_table.read(ctx, date(2026, 1, 31)).day.tolist() == [date(1969, 12, 31).toordinal()]
    finally:
        ctx.close()

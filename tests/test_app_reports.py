"""The reports screen computes off the UI thread and draws its trends (issue 10).

A key is handled while a slow report runs on a real big till (bench's generator, the real schema);
the lifecycle bars and the new-customers sparkline are checked against figures worked out by hand
and against a plain-Python count of the sales written; offer lift runs for the offer picked.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import date

import pytest
from textual import events
from textual.widgets import DataTable, OptionList, Static

from bench.generate import Size, generate
from pos_client.app import report_charts
from pos_client.app.reports_screen import REPORT_LABELS, ReportsScreen
from pos_client.services import members
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import manager
from pos_client.till import open_till
from tests.test_app_support import make_app, make_till, report_ready, type_slowly

PIN = "4321"
TODAY = date(2026, 11, 23)
# member -> purchase days; stages at the end of 2026-11-23 worked out from docs/marketing.md:
SALES = {
    "A": ["2026-11-10"],                # first purchase 13 days ago: new
    "F": ["2026-11-20"],                # new
    "B": ["2026-06-01", "2026-10-01"],  # gap 122, recency 53 <= 2 x 122: active
    "C": ["2026-09-01"],                # one purchase, recency 83 > 45: at risk
    "D": ["2026-01-05"],                # recency 322 > 180: lapsed
    "E": ["2026-01-10", "2026-11-15"],  # lapsed on 11-14, bought 8 days ago: reactivated
}
STAGE_OF = {"A": "new", "F": "new", "B": "active", "C": "at_risk", "D": "lapsed", "E": "reactivated"}


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_reports(pilot) -> ReportsScreen:
    await pilot.press("f10")
    await type_slowly(pilot, pilot.app, PIN)
    await pilot.press("enter", "f7")
    assert isinstance(pilot.app.screen, ReportsScreen)
    return pilot.app.screen


def hand_till(tmp_path):
    ctx, _ = make_till(tmp_path, with_history=False)  # Ada has no sale: no stage, not counted
    manager.add_manager(ctx, "Alice", PIN)
    for n, (name, days) in enumerate(SALES.items()):
        member_id = members.enroll(ctx, phone=f"06 00 00 00 {n:02d}", name=f"Member {name}").member_id
        for day in days:
            basket = Basket(member_id=member_id)
            basket.add(Line.keyed(1000, "grocery"))
            commit_sale(ctx, basket, created_at=f"{day}T12:00:00+00:00")
    return ctx


@pytest.fixture
def fixed_today(monkeypatch):
    monkeypatch.setattr("pos_client.domain.dates.today", lambda: TODAY)


# --- the drawing, by hand ------------------------------------------------------------------------------

def test_sparkline_scales_to_the_largest_value():
    # top 2: 0 -> lowest, 1 -> round(3.5) = 4 (the fifth block), 2 -> the full block; None is a blank
    assert report_charts.sparkline([0, 1, 2, None]) == "▁▅█ "
    assert report_charts.sparkline([]) == "" and report_charts.sparkline([0, 0]) == "▁▁"


def test_bar_is_a_share_of_its_width_to_the_eighth():
    assert report_charts.bar(100.0, 4) == "████"
    assert report_charts.bar(0.0, 4) == "    "
    assert report_charts.bar(50.0, 20) == "█" * 10 + " " * 10
    assert report_charts.bar(33.3, 20) == "██████▋".ljust(20)  # 0.333 x 160 eighths = 53.28 -> 6 cells + 5/8


def test_retention_line_reads_the_total_row():
    report = {"columns": ["cohort", "members", "m0", "m1", "m2"],
              "summary": {"total_pct": ["total", 10, 100.0, 50.0, None]}}
    # 50 of 100 is 3.5 of 7 steps, rounded to 4: the fifth block
    assert report_charts.retention_line(report).splitlines() == [
        "% of cohorts still buying, by months since first purchase", "+0 █▅  +2   100.0% -> 50.0%"]


# --- the screen --------------------------------------------------------------------------------------------

async def test_lifecycle_bars_and_new_customers_per_month_checked_by_hand(tmp_path, fixed_today):
    ctx = hand_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("down", "enter")  # lifecycle, this month
        assert screen.busy or screen.report is not None
        await report_ready(pilot)
        table = screen.query_one("#table", DataTable)
        # 6 members have bought: new 2 (33.3 %), the other four stages 1 each (16.7 %)
        by_stage = {r[0]: r[1:] for r in rows(table)}
        counted = Counter(STAGE_OF.values())
        for stage, n in counted.items():
            members_cell, pct_cell, mix = by_stage[stage.replace("_", " ")]
            assert (members_cell, pct_cell) == (str(n), f"{n * 100 / 6:.1f}")
            assert mix.rstrip() == {2: "██████▋", 1: "███▍"}[n]  # 53.28 -> 53 and 26.72 -> 27 eighths of 20 cells
        assert [str(c.label) for c in table.columns.values()][-1] == "Mix"
        assert rows(table)[-1][:3] == ["total", "6", "100.0"]

        await pilot.press("up", "enter")  # new customers, this month: A and F
        await report_ready(pilot)
        assert rows(table) == [["2", "3", "66.7"]]  # active this month: A, F, E
        # the trend: first purchase months over the 12 months to 2026-11, counted here from SALES
        firsts = Counter(min(days)[:7] for days in SALES.values())
        months = [f"{y}-{m:02d}" for y, m in [(2025, 12), *((2026, k) for k in range(1, 12))]]
        assert [firsts.get(m, 0) for m in months] == [0, 2, 0, 0, 0, 0, 1, 0, 0, 1, 0, 2]
        chart = str(screen.query_one("#chart", Static).render())
        assert chart.splitlines() == ["New customers per month (peak 2 in 2026-01, last 2)",
                                      "2025-12 ▁█▁▁▁▁▅▁▁▅▁█ 2026-11"]


async def test_offer_lift_runs_for_the_offer_picked(tmp_path, fixed_today):
    ctx = hand_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_reports(pilot)
        picker = screen.query_one("#offer", OptionList)
        assert not picker.display  # only offer lift needs an offer
        await pilot.press(*["down"] * list(REPORT_LABELS).index("offer-lift"))
        assert picker.display
        assert [str(picker.get_option_at_index(i).prompt) for i in range(picker.option_count)] == [
            "welcome", "we-miss-you", "points-close"]  # the configured offers (the defaults), by priority
        await pilot.press("tab", "tab", "tab", "down", "enter")  # period, as-of, offer: we-miss-you
        await report_ready(pilot)
        assert screen.report is not None and screen.report["report"] == "offer-lift"
        assert "we-miss-you" in str(screen.query_one("#extra", Static).render())
        # the members it reports per group are the randomised targetings recorded this month, counted here
        recorded = dict(ctx.conn.execute(
            "SELECT grp, COUNT(DISTINCT member_id) FROM offer_targets WHERE offer_id = 'we-miss-you'"
            " AND holdout_bp > 0 AND day BETWEEN '2026-11-01' AND '2026-11-23' GROUP BY grp").fetchall())
        shown = {r[0]: r[1] for r in rows(screen.query_one("#table", DataTable)) if r[0] != "total"}
        assert {g: int(n) for g, n in shown.items() if int(n)} == recorded


# --- responsive on a big till ----------------------------------------------------------------------------------

def key(app, name: str) -> None:
    event = events.Key(name, None)
    event.set_sender(app)
    app._driver.send_message(event)


async def until_soon(check, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not handled in time"
        await asyncio.sleep(0.005)


@pytest.fixture(scope="module")
def big_home(tmp_path_factory):
    """A till with 10,000 members and 200,000 ledger entries: points liability takes about a second."""
    home = tmp_path_factory.mktemp("big-till")
    generate(home / "till.db", Size("pilot", 10_000, 12_000, 200_000, 100), 5)
    return home


async def test_keys_are_handled_while_a_slow_report_runs(big_home):
    ctx = open_till(big_home, create=False)
    manager.add_manager(ctx, "Alice", PIN)
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_reports(pilot)
        report_list = screen.query_one("#report", OptionList)
        report_list.highlighted = first = list(REPORT_LABELS).index("points-liability")
        # Keys go straight to the driver and the test polls with short sleeps: Pilot.press would wait for the
        # process to go idle, which it is not while the worker computes.
        key(app, "f5")
        await until_soon(lambda: screen.busy)
        assert "computing…" in str(screen.query_one("#heading", Static).render())
        worker = screen.worker
        sent = time.monotonic()
        key(app, "down")  # the UI thread takes the key while the worker computes
        await until_soon(lambda: report_list.highlighted == first + 1)
        handled = time.monotonic() - sent
        assert worker is not None and worker.is_running and screen.busy, "the report finished before the key"
        assert handled < 0.5, f"the key waited {handled:.2f} s"
        await report_ready(pilot)
        assert screen.report is not None and screen.report["report"] == "points-liability"
        # what the screen shows is the liability the ledger holds: the balances summed here over the entries
        balance = ctx.conn.execute(
            "SELECT COALESCE(SUM(p), 0) FROM (SELECT SUM(points) AS p FROM ledger GROUP BY member_id HAVING p > 0)"
        ).fetchone()[0]
        assert screen.report["summary"]["points"] <= balance

"""Pilot tests of the marketing side of the till: coupons at checkout, the member panel's notes,
manager mode (PIN lock-out, partial redemption, adjustment, coupon slip on the simulated printer)
and the reports screen with figures checked by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.widgets import DataTable, Input, Static

from cardread import parse_card
from cardread.barcode import with_check_digit
from hw_sim.printer import PrinterSim
from pos_client.app.checkout_screen import CheckoutScreen
from pos_client.app.manager_screen import ManagerScreen, parse_adjustment, parse_part
from pos_client.app.reports_screen import ReportsScreen
from pos_client.app.widgets import MemberPanel, MessageLine
from pos_client.domain.dates import today
from pos_client.domain.errors import UsageError
from pos_client.services import members
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import coupons, limits, manager, reports, rewards
from pos_client.services.printing import retry_pending
from pos_client.store import ledger
from pos_client.store.config import write_config
from tests.test_app_support import CARD, OIL, make_app, make_till, report_ready, scan, type_slowly

PIN = "4321"


def _message(app) -> str:
    return app.screen.query_one(MessageLine).text


def _panel(app) -> str:
    return str(app.screen.query_one(MemberPanel).render())


def _rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_coupon_scanned_at_checkout_applies_once_and_is_refused_on_the_next_sale(tmp_path):
    ctx, member = make_till(tmp_path)
    coupon = coupons.issue(ctx, "amount_off", 200, expires="2099-12-31")
    expired = coupons.issue(ctx, "amount_off", 100, expires="2020-01-31")
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, CARD)
        await scan(pilot, app, OIL)
        await scan(pilot, app, coupon.token)  # the QR code, read by a wedge scanner
        table = app.screen.query_one("#basket", DataTable)
        assert _rows(table)[-1] == [f"Coupon {coupon.code}"[:24], "1", "    -2.00"]
        assert "This sale +6 pts" in _panel(app)  # 8.99 - 2.00 = 6.99 -> 6, as commit_sale will count
        await scan(pilot, app, coupon.token)
        assert "already in the basket" in _message(app) and table.row_count == 2
        await pilot.press("f5")
        assert "Paid 6.99 cash. +6 pts, balance 21" in _message(app)
        first_sale = ctx.conn.execute("SELECT sale_id FROM sales WHERE total_cents = 699").fetchone()[0]

        # the next customer hands the same coupon over: the short code keyed in the item slot
        await scan(pilot, app, OIL)
        await pilot.press("f3")
        await type_slowly(pilot, app, coupon.code)
        await pilot.press("enter")
        assert "coupon refused: already used (store S1, till T1" in _message(app)
        assert app.screen.basket.total_cents == 899 and table.row_count == 1  # the basket is kept
        entry = app.screen.query_one("#entry", Input)
        entry.value = ""
        await type_slowly(pilot, app, expired.code)
        await pilot.press("enter")
        assert "coupon refused: expired on 2020-01-31" in _message(app)
        entry.value = ""
        await type_slowly(pilot, app, "S1-T1-99-ABCD")
        await pilot.press("enter")
        assert "unknown coupon code" in _message(app)
        assert app.screen.basket.total_cents == 899
    assert [u["sale_id"] for u in coupons.uses_of(ctx, coupon.code)] == [first_sale]
    assert ledger.balance(ctx.conn, member.member_id) == 21


async def test_coupon_burst_while_keying_an_amount_keeps_the_amount_and_other_screens_refuse_it(tmp_path):
    ctx, _ = make_till(tmp_path)
    coupon = coupons.issue(ctx, "percent_off", 10, expires="2099-12-31")
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, OIL)
        await pilot.press("f3")
        await type_slowly(pilot, app, "3.5")  # the cashier was keying an amount...
        await scan(pilot, app, coupon.token)  # ... when the customer's coupon is scanned
        entry = app.screen.query_one("#entry", Input)
        assert entry.value == "3.5" and app.focused is entry
        assert app.screen.basket.total_cents == 899 - 89  # 10 % of 8.99, rounded down
        await pilot.press("enter")
        assert app.screen.basket.total_cents == 810 + 350  # the amount line comes after
        await pilot.press("f9")
        await scan(pilot, app, coupon.code)
        assert "scan coupons on the checkout screen" in _message(app)
        await pilot.press("escape", "f2")
        await type_slowly(pilot, app, coupon.code)  # a coupon keyed in the card slot is still a coupon
        await pilot.press("enter")
        assert "already in the basket" in _message(app)


def test_coupon_shapes_are_told_from_amounts_products_and_cards():
    token = "A" * 24 + "." + "B" * 103
    assert coupons.looks_like_coupon(token) and coupons.looks_like_coupon(token.lower())
    assert coupons.looks_like_coupon("S1-T1-12-AB2Q") and coupons.looks_like_coupon(" store-9-till-2-3-ZZZZ\n")
    for text in ("25.57", "12.50 grocery", OIL, CARD, "3*" + OIL, ";2900000000015=4912?", "S1-T1-x-ABCD",
                 "S1-T1-1-AB1Q", "AAAA.BBBB", "2" * 24 + "." + "B" * 102):
        assert not coupons.looks_like_coupon(text), text


async def test_member_panel_shows_tier_progress_expiring_points_and_the_cashier_prompt(tmp_path):
    write_config(tmp_path, {"program": {
        "expiry": {"mode": "inactivity", "months": 1},
        "offers": [{"id": "ask-email", "priority": 5, "conditions": {"min_frequency": 1}, "holdout_pct": 0,
                    "action": {"type": "prompt", "message": "Ask for their e-mail"}}]}})
    ctx, member = make_till(tmp_path, with_history=False)
    basket = Basket(member_id=member.member_id)
    basket.add(Line.keyed(1599, "grocery"))
    # bought 20 days ago: inactivity expiry (1 month) falls within the next 30 days
    day = (today() - timedelta(days=20)).isoformat()
    commit_sale(ctx, basket, created_at=f"{day}T10:00:00+00:00")
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, CARD)
        panel = _panel(app)
        assert "Silver in 484.01 spend" in panel  # 500.00 - 15.99
        assert "Expiring 15 pts by" in panel
        assert "» Ask for their e-mail" in panel
        assert "Ada Lovelace attached · Ask for their e-mail" in _message(app)


async def test_five_wrong_pins_lock_manager_mode(tmp_path):
    ctx, _ = make_till(tmp_path)
    manager.add_manager(ctx, "Alice", PIN)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        assert isinstance(app.screen, ManagerScreen)
        for i in range(5):
            await type_slowly(pilot, app, "1111")
            await pilot.press("enter")
            if i < 4:
                assert f"wrong manager PIN ({4 - i} tries left)" in _message(app)
        assert "Manager PIN locked for 5 minutes" in _message(app)
        await type_slowly(pilot, app, PIN)  # even the right PIN waits for the lock to end
        await pilot.press("enter")
        assert "locked for 5 minutes" in _message(app)
        assert not app.screen.unlocked
        await pilot.press("f5")
        assert "locked: key the manager PIN first" in _message(app)
        await pilot.press("escape", "f10")  # the lock outlives the screen (and a restart: it is in the database)
        assert "Manager PIN locked for 5 minutes" in _message(app)
    assert manager.locked_minutes(ctx) == 5


async def test_manager_redeems_part_of_a_reward_adjusts_and_locks_again_on_leaving(tmp_path):
    ctx, member = make_till(tmp_path)
    alice = limits.add_owner(ctx, "Alice", PIN)  # above a manager's 500-point limit: the owner
    rewards.adjust(ctx, member.member_id, 985, "goodwill", PIN)  # 15 + 985 = 1000 points
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, CARD)
        await pilot.press("f10")
        screen = app.screen
        assert "Manager mode LOCKED" in str(screen.query_one("#who", Static).render())
        await type_slowly(pilot, app, PIN)
        await pilot.press("enter")
        assert screen.unlocked and "Unlocked for Alice" in _message(app)
        table = screen.query_one("#rewards", DataTable)
        assert [r[0] for r in _rows(table)] == ["R500", "PCT10", "COFFEE", "GIFT20"]
        assert _rows(table)[3][-1] == "Silver+ only" and _rows(table)[0][-1] == "yes"
        # R500 is highlighted: spend 200 of its 500 points -> 2.00 off
        screen.query_one("#points", Input).focus()
        await type_slowly(pilot, app, "2.5x")
        await pilot.press("enter")
        assert "whole points (200) or an amount (2.50)" in _message(app)
        screen.query_one("#points", Input).value = ""
        await type_slowly(pilot, app, "200")
        await pilot.press("enter")
        shown = str(screen.query_one("#coupon", Static).render())
        code = screen.last_redemption["coupon"]
        assert f"Coupon {code}" in shown and "2.00 off" in shown and "balance 800" in shown
        assert "approved by Alice" in shown and "No printer configured" in shown

        await pilot.press("f6")
        await type_slowly(pilot, app, "+50 goodwill")
        await pilot.press("enter")
        assert "Adjusted +50 pts (goodwill), balance 850, approved by Alice" in _message(app)
        await type_slowly(pilot, app, "+5 because")
        await pilot.press("enter")
        assert "reason code must be one of" in _message(app)

        await pilot.press("escape")
        assert isinstance(app.screen, CheckoutScreen) and "Balance 850 pts" in _panel(app)
        await pilot.press("f10")
        assert not app.screen.unlocked  # manager mode locked itself on leaving
        await pilot.press("f5")
        assert "locked" in _message(app)

    redeems = [dict(r) for r in ctx.conn.execute(
        "SELECT points, operator, reason FROM ledger WHERE member_id = ? AND kind = 'redeem'", (member.member_id,))]
    assert redeems == [{"points": -200, "operator": "Alice", "reason": "reward:R500"}]
    assert ledger.balance(ctx.conn, member.member_id) == 850 == ledger.ledger_sum(ctx.conn, member.member_id)
    verdict = coupons.check(ctx, code)
    assert verdict["valid"] and (verdict["kind"], verdict["value"]) == ("amount_off", 200)
    actions = [(a["action"], a["manager_id"], a["reason"]) for a in manager.approvals(ctx)]
    assert actions[-2:] == [("redeem", alice.manager_id, "R500"), ("adjust", alice.manager_id, "goodwill")]


async def test_redeemed_coupon_slip_prints_on_the_simulated_printer(tmp_path):
    sim = PrinterSim(port=0, out_dir=tmp_path / "paper", png=False).start()
    try:
        home = tmp_path / "till"
        home.mkdir()
        write_config(home, {"printer": {"url": sim.url, "profile": "TM-T88V", "timeout": 3, "status_timeout": 1}})
        ctx, member = make_till(home)
        limits.add_owner(ctx, "Alice", PIN)  # above a manager's 500-point limit: the owner
        rewards.adjust(ctx, member.member_id, 985, "goodwill", PIN)
        app = make_app(ctx)
        async with app.run_test(size=(80, 24)) as pilot:
            await scan(pilot, app, CARD)
            await pilot.press("f10")
            await type_slowly(pilot, app, PIN)
            await pilot.press("enter", "f5")  # the whole first reward: 500 points for 5.00 off
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "Coupon printed" in str(app.screen.query_one("#coupon", Static).render())
            code = app.screen.last_redemption["coupon"]

            sim.paper_out(True)  # the second coupon cannot print: it waits in the queue, the coupon stands
            app.screen.query_one("#points", Input).focus()
            await type_slowly(pilot, app, "250", enter=True)  # half of R500: 2.50 off
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "Not printed (printer out of paper): in the print queue" in str(
                app.screen.query_one("#coupon", Static).render())
            second = app.screen.last_redemption["coupon"]
        jobs = {r["sale_id"]: (r["kind"], r["status"], r["last_error"]) for r in ctx.conn.execute(
            "SELECT sale_id, kind, status, last_error FROM print_jobs")}
        assert jobs == {f"coupon:{code}": ("coupon", "printed", None),
                        f"coupon:{second}": ("coupon", "pending", "printer out of paper")}
        assert coupons.check(ctx, second)["valid"] and ledger.balance(ctx.conn, member.member_id) == 250
        sim.paper_out(False)  # paper back in: the queue prints the waiting slip
        assert [o.printed for o in retry_pending(ctx)] == [True]
        text = sim.receipts[1].page.text()
        assert "Part of: 5.00 off your basket" in text and "2.50 off" in text
        assert sim.receipts[1].page.barcodes[0].data == second
        assert len(sim.receipts) == 2 and [r.torn for r in sim.receipts] == [False, False]
        page = sim.receipts[0].page
        assert "COUPON" in page.text() and "5.00 off your basket" in page.text() and "5.00 off" in page.text()
        assert page.barcodes[0].data == code
        assert page.qrcodes[0].data == coupons.get(ctx, code).token
        assert coupons.check(ctx, page.qrcodes[0].data)["valid"]  # what is on paper is the coupon
    finally:
        sim.stop()


def _member_with_card(ctx, n: int):
    card = parse_card(with_check_digit(f"2900000001{n:02d}"))
    return members.enroll(ctx, card=card, name=f"Member {n}").member_id


def _sell(ctx, member_id, cents, day):
    basket = Basket(member_id=member_id)
    basket.add(Line.keyed(cents, "grocery"))
    commit_sale(ctx, basket, created_at=f"{day.isoformat()}T12:00:00+00:00")


async def test_reports_screen_new_customers_and_tier_migration_checked_by_hand(tmp_path):
    ctx, _ = make_till(tmp_path, with_history=False)  # Ada has no sales: not counted anywhere
    manager.add_manager(ctx, "Alice", PIN)
    start, end = reports.period("last-quarter")
    a, b, c = (_member_with_card(ctx, n) for n in (1, 2, 3))
    _sell(ctx, c, 60000, start - timedelta(days=10))  # C: Silver before the quarter
    _sell(ctx, c, 1000, start + timedelta(days=3))    # ... and buys again in it (active, not new)
    _sell(ctx, a, 60000, start + timedelta(days=5))   # A: first purchase in the quarter, becomes Silver
    _sell(ctx, b, 1000, end)                          # B: first purchase on the quarter's last day
    _sell(ctx, b, 1000, end + timedelta(days=1))      # after the quarter: not counted
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        await type_slowly(pilot, app, PIN)
        await pilot.press("enter", "f7")
        assert isinstance(app.screen, ReportsScreen)
        await pilot.press("tab", "down", "down", "enter")  # period: last quarter; report: new customers
        await report_ready(pilot)
        table = app.screen.query_one("#table", DataTable)
        # active in the quarter: A, B, C; new (first purchase ever in it): A, B -> 2 of 3 = 66.7 %
        assert _rows(table) == [["2", "3", "66.7"]]
        heading = str(app.screen.query_one("#heading", Static).render())
        assert f"New customers  {start} to {end}" in heading
        # issue 13: human labels, never the raw field names (new_pct)
        assert "New 2 · Active 3 · New % 66.7" in heading and "new_pct" not in heading
        assert [str(c.label) for c in table.columns.values()] == ["New", "Active", "New %"]

        await pilot.press("shift+tab", "down", "down", "enter")  # tier migration, same period
        await report_ready(pilot)
        # at the start: A, B Member (no sales yet count as the lowest tier), C Silver;
        # at the end: A Silver (upgraded on the sale), B Member, C Silver (downgrades only at period end)
        assert _rows(table) == [["Member", "Member", "1", "50.0"], ["Member", "Silver", "1", "50.0"],
                                ["Silver", "Silver", "1", "100.0"]]
        assert [str(c.label) for c in table.columns.values()] == ["From tier", "To tier", "Members", "% of from tier"]
        heading = str(app.screen.query_one("#heading", Static).render())
        assert "At start: Member 2, Silver 1" in heading and "at_start" not in heading

        await pilot.press("tab", "tab")  # the as-of date: 30 days to the day of A's purchase
        await type_slowly(pilot, app, (start + timedelta(days=5)).isoformat())
        await pilot.press("enter")
        await report_ready(pilot)
        # known by then: A and C (B and Ada had no sale yet); both were Member 30 days before, Silver now
        assert _rows(table) == [["Member", "Silver", "2", "100.0"]]
        await pilot.press("escape")
        assert isinstance(app.screen, ManagerScreen) and app.screen.unlocked


def test_report_periods():
    assert reports.period("last-quarter", "2026-02-15") == (reports.as_date("2025-10-01"),
                                                            reports.as_date("2025-12-31"))
    assert reports.period("last-quarter", "2026-11-23") == (reports.as_date("2026-07-01"),
                                                            reports.as_date("2026-09-30"))
    assert reports.period("this-month", "2026-11-23") == (reports.as_date("2026-11-01"),
                                                          reports.as_date("2026-11-23"))
    assert reports.period("last-month", "2026-03-31") == (reports.as_date("2026-02-01"),
                                                          reports.as_date("2026-02-28"))
    assert reports.period("as-of", "2026-11-23", "2026-03-31") == (reports.as_date("2026-03-02"),
                                                                   reports.as_date("2026-03-31"))


def test_manager_slots_parse_points_amounts_and_adjustments():
    assert parse_part("") == (None, None) and parse_part(" 200 ") == (200, None)
    assert parse_part("2.50") == (None, 250) and parse_part("2,5", ",") == (None, 250)
    with pytest.raises(UsageError, match=r"2\.50"):
        parse_part("2,5")  # the till's separator only: never read the other one as something else
    assert parse_adjustment("+50 goodwill") == (50, "goodwill") and parse_adjustment("-20 Correction") == (-20,
                                                                                                        "correction")
    for bad in ("-3", "abc"):
        with pytest.raises(UsageError):
            parse_part(bad)
    for bad in ("50", "goodwill", "x goodwill", "+5 a b"):
        with pytest.raises(UsageError):
            parse_adjustment(bad)

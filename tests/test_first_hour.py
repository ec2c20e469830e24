"""Issue 13, "the first hour at the till": a new cashier's first hour on the demo, scripted end to end.

The demo till on its simulated hardware (magstripe reader and barcode scanner on ptys, the TCP receipt
printer; NFC off so no pcscd is needed), driven through the app as a cashier would: enrol a customer
whose card is numbered outside the program prefix, see that card work swiped and scanned, key an amount
fast, have a bank card swiped while the member is attached, take the payment (receipt and the welcome
coupon on screen and on paper), then redeem a reward as the demo manager and read a report. Every
screen state on the way is asserted.
"""

from __future__ import annotations

import time

from textual.widgets import DataTable, Input, Static

from cardread import parse_card
from cardread.read import PAYMENT_CARD_MESSAGE
from hw_sim.demo_rig import DemoRig
from hw_sim.swipes import TEST_PAN
from pos_client.app.checkout_screen import CheckoutScreen
from pos_client.app.demo_app import DemoHelp, build_demo_app
from pos_client.app.manager_screen import ManagerScreen
from pos_client.app.member_screen import MemberScreen
from pos_client.app.reports_screen import ReportsScreen
from pos_client.app.widgets import MemberPanel, MessageLine, StatusBar
from pos_client.demo import demo_home, prepare
from pos_client.services import demo_seed, members
from pos_client.store import ledger
from tests.test_app_support import StepClock, report_ready, send_keys, type_slowly

GRACE_CARD = "2100000012343"  # the card: an EAN-13 outside the program's 29 prefix


async def until(pilot, check, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            bar = str(pilot.app.screen.query_one(StatusBar).render())
            msg = str(pilot.app.screen.query_one(MessageLine).render())
            raise AssertionError(f"timed out waiting for {what}; status bar {bar!r}; message {msg!r}")
        await pilot.pause(0.02)


def text_of(app, widget) -> str:
    return str(app.screen.query_one(widget).render())


def message(app) -> str:
    return text_of(app, MessageLine)


async def test_first_hour_on_the_demo(tmp_path):
    home = demo_home({"POS_CLIENT_HOME": str(tmp_path / "demo")})
    with DemoRig(home, nfc=False) as rig:
        ctx = prepare(home, rig)
        try:
            await _first_hour(ctx, rig)
        finally:
            ctx.close()


async def _first_hour(ctx, rig) -> None:
    app = build_demo_app(ctx, rig, clock=StepClock())
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: all(f"{d}: ok" in text_of(app, StatusBar) for d in ("swipe", "scanner", "printer")),
                    "devices")
        assert f"F10 PIN {demo_seed.MANAGER_PIN}" in text_of(app, DemoHelp)  # the demo manager's PIN is on screen

        # --- 1. enrol at the till: the new card scanned into the enrol form -------------------------------
        await pilot.press("f9", "f3")
        assert isinstance(app.screen, MemberScreen) and app.screen.active == "enrol"
        rig.scan(GRACE_CARD)  # the scanner's driver takes it for a product by its shape ...
        await until(pilot, lambda: app.screen.query_one("#e-card", Input).value == GRACE_CARD, "card in the form")
        assert "scan products on the checkout screen" not in message(app)  # ... the form takes it as a card
        app.screen.query_one("#e-phone", Input).focus()
        await type_slowly(pilot, app, "0611223344")
        app.screen.query_one("#e-name", Input).focus()
        await type_slowly(pilot, app, "Grace Hopper")
        app.screen.query_one("#c-email").focus()
        await pilot.press("space", "f5")
        assert isinstance(app.screen, CheckoutScreen)
        assert message(app) == "Grace Hopper: enrolled"
        grace = members.member_for_card(ctx, parse_card(GRACE_CARD))
        assert grace.name == "Grace Hopper" and app.screen.basket.member_id == grace.member_id
        assert app.screen.query_one("#card", Input).value == GRACE_CARD

        # --- 2. her card works swiped and scanned (not "unknown product") ---------------------------------
        await pilot.press("f8")
        assert app.screen.basket.member_id is None and app.screen.query_one("#card", Input).value == ""
        rig.swipe(GRACE_CARD)
        await until(pilot, lambda: app.screen.basket.member_id == grace.member_id, "Grace by swipe")
        assert message(app) == "Card …2343: Grace Hopper attached"
        await pilot.press("f8")
        rig.scan(GRACE_CARD)
        await until(pilot, lambda: app.screen.basket.member_id == grace.member_id, "Grace by scan")
        assert message(app) == "Card …2343: Grace Hopper attached" and app.screen.basket.lines == []
        assert "Grace Hopper" in text_of(app, MemberPanel) and "(first visit)" in text_of(app, MemberPanel)

        # --- 3. a fast typist's amount stays an amount -----------------------------------------------------
        await pilot.press("f3")
        app.clock.t += 1.0
        app.clock.step = 0.01  # 10 ms a key: scanner speed
        await send_keys(pilot, "12.50", enter=True)
        app.clock.step = 0.2
        assert [(li.name, li.amount_cents) for li in app.screen.basket.lines] == [("General", 1250)]
        assert message(app) == "Added 12.50 general"
        await pilot.press("ctrl+p")  # and a product on the scanner
        await until(pilot, lambda: len(app.screen.basket.lines) == 2, "scanned product")
        assert app.screen.basket.lines[1].name == "Huile d'olive Picual 1L"
        assert app.screen.basket.total_cents == 2700

        # --- 4. a bank card swiped while Grace is attached: refused, one consistent state -----------------
        await pilot.press("ctrl+b")
        await until(pilot, lambda: message(app).startswith(PAYMENT_CARD_MESSAGE), "refusal")
        assert message(app) == f"{PAYMENT_CARD_MESSAGE}; Grace Hopper stays on this sale"
        assert app.screen.basket.member_id == grace.member_id
        assert app.screen.query_one("#card", Input).value == GRACE_CARD
        assert "Grace Hopper" in text_of(app, MemberPanel)
        assert TEST_PAN not in app.export_screenshot()

        # --- 5. pay: the receipt, and the welcome coupon on screen as on paper -----------------------------
        await pilot.press("f5")
        coupon = ctx.conn.execute("SELECT code, expires FROM coupons WHERE member_id = ?",
                                  (grace.member_id,)).fetchone()
        assert coupon is not None  # the welcome offer: her first purchase
        assert message(app) == f"Paid 27.00 cash. +27 pts, balance 27 · Coupon {coupon['code']} issued"
        panel = text_of(app, MemberPanel)
        assert "Last sale" in panel and "Earned  +27 pts" in panel
        assert f"Coupon {coupon['code']}" in panel and f"5.00 off until {coupon['expires']}" in panel
        await until(pilot, lambda: len(rig.printer.receipts) == 1, "receipt")
        receipt = sorted(rig.receipts_dir.glob("receipt-*.txt"))[-1].read_text(encoding="utf-8")
        assert f"Code {coupon['code']}" in receipt and f"Valid until {coupon['expires']}" in receipt
        assert "Balance" in receipt and "27 pts" in receipt
        assert ledger.balance(ctx.conn, grace.member_id) == 27

        # --- 6. the demo manager redeems a reward for Bjørn -----------------------------------------------
        bjorn = members.member_for_card(ctx, parse_card(demo_seed.CARDS["bjorn"]))
        await pilot.press("f9")
        await type_slowly(pilot, app, "0698765432", enter=True)
        table = app.screen.query_one("#results", DataTable)
        assert table.row_count == 1 and table.get_row_at(0)[0] == "Bjørn Øster"
        await pilot.press("enter")
        assert isinstance(app.screen, CheckoutScreen) and app.screen.basket.member_id == bjorn.member_id
        await pilot.press("f10")
        assert isinstance(app.screen, ManagerScreen) and not app.screen.unlocked
        await type_slowly(pilot, app, demo_seed.MANAGER_PIN, enter=True)
        assert app.screen.unlocked and message(app).startswith(f"Unlocked for {demo_seed.MANAGER_NAME}")
        rewards = app.screen.query_one("#rewards", DataTable)
        assert rewards.get_row_at(0)[:2] == ["R500", "5.00 off your basket"] and rewards.get_row_at(0)[5] == "yes"
        await pilot.press("f5")  # the whole reward
        assert message(app).startswith("Redeemed 500 pts for R500: coupon ")
        assert ledger.balance(ctx.conn, bjorn.member_id) == bjorn.balance - 500
        slip = str(app.screen.query_one("#coupon", Static).render())
        assert "5.00 off" in slip and f"approved by {demo_seed.MANAGER_NAME}" in slip
        await until(pilot, lambda: len(rig.printer.receipts) == 2, "coupon slip")

        # --- 7. and reads a report with human labels --------------------------------------------------------
        await pilot.press("f7")
        assert isinstance(app.screen, ReportsScreen)
        await pilot.press("enter")  # new customers, this month
        await report_ready(pilot)
        heading = str(app.screen.query_one("#heading", Static).render())
        assert "New customers" in heading and "New %" in heading and "new_pct" not in heading
        labels = [str(c.label) for c in app.screen.query_one("#table", DataTable).columns.values()]
        assert labels == ["New", "Active", "New %"]
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, CheckoutScreen)
    data = b"".join(p.read_bytes() for p in ctx.home.rglob("*") if p.is_file())
    assert TEST_PAN.encode() not in data  # the bank card was never kept anywhere

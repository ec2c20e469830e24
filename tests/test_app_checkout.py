"""Pilot tests of the checkout screen: cards keyed and scanned, products, a sale committed."""

from __future__ import annotations

from textual.geometry import Region
from textual.widgets import DataTable, Input
from textual.widgets._toast import Toast  # the toasts' widget: Textual does not export it

from pos_client.app.till_app import TillApp
from pos_client.app.widgets import MemberPanel, MessageLine, StatusBar
from pos_client.services import catalog
from pos_client.services.marketing.receipt import receipt_blocks
from pos_client.store import ledger
from tests.test_app_support import (
    BREAD,
    CARD,
    OIL,
    PAN,
    TRACK_PAN,
    UNKNOWN_CARD,
    make_app,
    make_till,
    scan,
    send_keys,
    type_slowly,
    without_holdout,
)


def _panel(app) -> str:
    return str(app.screen.query_one(MemberPanel).render())


def _message(app) -> str:
    return app.screen.query_one(MessageLine).text


async def test_key_card_scan_products_and_pay(tmp_path):
    ctx, member = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        await type_slowly(pilot, app, CARD)
        await pilot.press("enter")
        panel = _panel(app)
        assert "Ada Lovelace" in panel and "Balance 15 pts" in panel
        assert "2026-11-01" in panel and "Olive oil 1L" in panel  # what they bought last time
        assert "•" in panel and "0612345678" not in panel and "678" in panel  # masked phone

        await pilot.press("f3")
        await scan(pilot, app, OIL)
        await scan(pilot, app, BREAD)
        await type_slowly(pilot, app, "12.50 grocery")
        await pilot.press("enter")
        table = app.screen.query_one("#basket", DataTable)
        assert table.row_count == 3
        assert [table.get_row_at(i)[0] for i in range(3)] == ["Olive oil 1L", "Sourdough bread", "Grocery"]
        assert "This sale +24 pts" in _panel(app)  # 8.99 + 3.50 + 12.50 = 24.99 -> 24

        await pilot.press("f4", "f5")
        assert "Paid 24.99 card. +24 pts, balance 39" in _message(app)
        assert "Earned  +24 pts" in _panel(app) and "Balance 39 pts" in _panel(app)
        assert table.row_count == 0  # a new basket
    assert ledger.balance(ctx.conn, member.member_id) == 39 == ledger.ledger_sum(ctx.conn, member.member_id)
    sale = ctx.conn.execute("SELECT * FROM sales WHERE sale_id != 'earlier-sale'").fetchone()
    assert (sale["total_cents"], sale["tender"], sale["points_earned"]) == (2499, "card", 24)


async def test_wedge_burst_reaches_card_slot_from_anywhere(tmp_path):
    ctx, member = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        entry = app.screen.query_one("#entry", Input)
        await pilot.press("f3")
        await type_slowly(pilot, app, "3.5")  # the cashier was keying an amount
        await scan(pilot, app, CARD)  # ... when the customer's card is scanned
        assert app.focused is entry
        assert entry.value == "3.5"  # the burst's digits did not stay in the amount slot
        assert app.screen.query_one("#card", Input).value == CARD
        assert app.screen.basket.member_id == member.member_id
        assert "Ada Lovelace" in _panel(app)
        await pilot.press("enter")
        assert app.screen.basket.total_cents == 350


async def test_bad_input_keeps_the_basket(tmp_path):
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, OIL)
        bad = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
        await pilot.press("f2")
        await type_slowly(pilot, app, bad)
        await pilot.press("enter")
        assert "bad check digit" in _message(app)
        await scan(pilot, app, UNKNOWN_CARD)
        assert _message(app) == (f"{UNKNOWN_CARD}: not a known card or product; taken as a loyalty card (prefix 29)"
                                 " · F9 enrols")
        await scan(pilot, app, "4000000000006")  # valid EAN-13, not in the catalog (and Luhn-valid: masked)
        assert _message(app) == "#############: not a known card or product; taken as a product (EAN-13)"
        await pilot.press("f3")
        await type_slowly(pilot, app, "abc")
        await pilot.press("enter")
        assert "key an amount" in _message(app)
        assert app.screen.query_one("#entry", Input).value == "abc"  # nothing lost
        assert app.screen.basket.total_cents == 899
        await pilot.press("f6")
        assert app.screen.basket.lines == []
        await pilot.press("f5")
        assert "the basket is empty" in _message(app)


async def test_escape_cancels_keying_and_f8_clears_the_sale(tmp_path):
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, OIL)
        await scan(pilot, app, CARD)
        await type_slowly(pilot, app, "12.3")
        await pilot.press("escape")
        assert app.screen.query_one("#entry", Input).value == ""
        assert app.screen.basket.total_cents == 899 and app.screen.basket.member_id
        await pilot.press("f8")
        assert app.screen.basket.lines == [] and app.screen.basket.member_id is None
        assert "No member" in _panel(app)
        assert ctx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 1  # only the earlier one


async def test_wedge_with_stx_etx_framing_and_lf_suffix_while_focus_on_the_basket(tmp_path):
    ctx, member = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#basket", DataTable).focus()
        app.clock.t += 1.0
        app.clock.step = 0.004
        await send_keys(pilot, "\x02" + CARD + "\x03\n")  # control characters some wedges add
        assert app.screen.basket.member_id == member.member_id
        assert app.screen.query_one("#card", Input).value == CARD


async def test_wedge_with_a_tab_suffix_and_a_person_pressing_tab(tmp_path):
    ctx, member = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        item = app.screen.query_one("#entry", Input)
        item.focus()
        app.clock.t += 1.0
        app.clock.step = 0.004
        await send_keys(pilot, CARD + "\t")  # a scanner set to send Tab after each read
        assert app.screen.basket.member_id == member.member_id
        assert app.focused is item and item.value == ""
        app.clock.step = 0.2
        await send_keys(pilot, "\t")  # a person's Tab still moves the focus
        assert app.focused is not item


async def test_key_timestamps_decide_not_processing_time(tmp_path):
    """Without a scripted clock the detector uses each key's own time (when the driver read it):
    keys a person typed while the app was busy arrive together but are not a burst."""
    from textual import events

    ctx, _ = make_till(tmp_path)
    app = TillApp(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        t0 = events.Key("a", "a").time
        for i, char in enumerate("12.50\r"):
            event = events.Key("enter" if char == "\r" else (char if char.isalnum() else "full_stop"), char)
            event.time = t0 + 0.15 * i  # typed by a person ...
            event.set_sender(app)
            app._driver.send_message(event)  # ... delivered in one go
        await pilot.pause()
        assert app.screen.basket.total_cents == 1250  # keyed as an amount, not taken as a scan
        await send_keys(pilot, OIL, enter=True)  # a real burst: keys stamped microseconds apart
        assert [li.name for li in app.screen.basket.lines] == ["General", "Olive oil 1L"]


# --- issue 13, "the first hour at the till" ----------------------------------------------------------

async def test_fast_typed_amount_in_the_item_slot_stays_typed(tmp_path):
    """A fast typist's amount after F3 was swallowed as a scan burst ("card not enrolled")."""
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        app.clock.t += 1.0
        app.clock.step = 0.012  # 12 ms a key: as fast as a scanner
        await send_keys(pilot, "12.50", enter=True)
        assert [(li.name, li.amount_cents) for li in app.screen.basket.lines] == [("General", 1250)]
        assert _message(app) == "Added 12.50 general"
        await send_keys(pilot, "4.5 bakery", enter=True)
        assert app.screen.basket.lines[-1].amount_cents == 450 and app.screen.basket.lines[-1].category == "bakery"
        await scan(pilot, app, OIL)  # a scan into the same slot is still a scan
        assert app.screen.basket.lines[-1].name == "Olive oil 1L"
        assert app.screen.query_one("#entry", Input).value == ""


async def test_bank_card_with_a_member_attached_keeps_one_consistent_state(tmp_path):
    """The member stayed attached while the card slot emptied; now the slot keeps their card and the
    message says the swipe was refused and who stays on the sale."""
    ctx, member = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, CARD)
        await scan(pilot, app, TRACK_PAN)  # a bank card swiped on a wedge magstripe reader
        assert app.screen.basket.member_id == member.member_id
        assert app.screen.query_one("#card", Input).value == CARD
        assert _message(app) == "this is a payment card, not a loyalty card; Ada Lovelace stays on this sale"
        assert "Ada Lovelace" in _panel(app) and PAN not in app.export_screenshot()
        await scan(pilot, app, UNKNOWN_CARD)  # an unknown card changes nothing either
        assert app.screen.query_one("#card", Input).value == CARD and app.screen.basket.member_id
        assert _message(app).endswith("· F9 enrols; Ada Lovelace stays on this sale")
        await pilot.press("f2")
        await type_slowly(pilot, app, "12")
        await pilot.press("escape")  # Esc drops the keying, not the attached card
        assert app.screen.query_one("#card", Input).value == CARD


async def test_long_names_end_with_an_ellipsis_at_80_columns(tmp_path):
    ctx, _ = make_till(tmp_path)
    long_ean = "4012345678901"
    catalog.upsert_products(ctx, [catalog.Product("LONG1", long_ean, "Huile d'olive vierge extra Picual récolte"
                                                  " précoce 1L", "grocery", 1999)])
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, long_ean)
        table = app.screen.query_one("#basket", DataTable)
        assert table.get_row_at(0)[0] == "Huile d'olive vierge ex…"
        await scan(pilot, app, CARD)
        assert "\n Olive oil 1L, 2x Sourdough br…\n" in _panel(app)  # last visit's items, cut with an ellipsis
        ctx.conn.execute("UPDATE members SET name = 'Maria de los Ángeles Fernández-Castillo'")
        ctx.conn.commit()
        app.screen.refresh_basket()
        await pilot.pause()
        panel_lines = app.screen.query_one(MemberPanel).render_lines(Region(0, 0, 34, 3))
        assert "".join(seg.text for seg in panel_lines[1]).rstrip().endswith("…")  # the name, cut on screen
        await pilot.press("f9")
        await type_slowly(pilot, app, "Maria", enter=True)
        results = app.screen.query_one("#results", DataTable)
        assert results.get_row_at(0)[0] == "Maria de los Ángeles …"


async def test_a_toast_never_covers_the_status_bar(tmp_path):
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        app.set_status("scanner", "ok")
        app.report("printer: out of paper", error=True)
        await pilot.pause(0.3)
        toast = app.screen.query_one(Toast)
        for widget in (app.screen.query_one(StatusBar), app.screen.query_one(MessageLine)):
            assert not toast.region.overlaps(widget.region), (toast.region, widget.region)


async def test_the_coupon_a_sale_issues_is_shown_with_code_and_expiry(tmp_path):
    """The welcome coupon was printed on the receipt but never shown on screen."""
    ctx, member = make_till(tmp_path, with_history=False)  # Ada's first purchase: the welcome offer
    ctx = without_holdout(ctx)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, CARD)
        await scan(pilot, app, OIL)
        await pilot.press("f5")
        coupon = ctx.conn.execute("SELECT code, expires FROM coupons WHERE member_id = ?",
                                  (member.member_id,)).fetchone()
        assert coupon is not None
        assert _message(app) == f"Paid 8.99 cash. +8 pts, balance 8 · Coupon {coupon['code']} issued"
        panel = _panel(app)
        assert f"Coupon {coupon['code']}" in panel and f"5.00 off until {coupon['expires']}" in panel
        sale_id = ctx.conn.execute("SELECT sale_id FROM sales").fetchone()[0]
        printed = [line for b in receipt_blocks(ctx, sale_id) if b["type"] == "text" for line in b["lines"]]
        assert f"Code {coupon['code']}" in printed  # the receipt prints the same coupon, not a second one
        assert ctx.conn.execute("SELECT COUNT(*) FROM coupons").fetchone()[0] == 1

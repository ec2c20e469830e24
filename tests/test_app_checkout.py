"""Pilot tests of the checkout screen: cards keyed and scanned, products, a sale committed."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from pos_client.app.till_app import TillApp
from pos_client.app.widgets import MemberPanel, MessageLine
from pos_client.store import ledger
from tests.test_app_support import BREAD, CARD, OIL, UNKNOWN_CARD, make_app, make_till, scan, send_keys, type_slowly


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
        assert "card not enrolled" in _message(app)
        await scan(pilot, app, "4000000000006")  # valid EAN-13, not in the catalog
        assert "unknown product" in _message(app)
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

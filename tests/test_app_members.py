"""Pilot tests of the member screen: find and attach, enrol in seconds, report a lost card."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from cardread import parse_card
from pos_client.app.checkout_screen import CheckoutScreen
from pos_client.app.member_screen import MemberScreen
from pos_client.app.widgets import MemberPanel, MessageLine
from pos_client.services import members
from pos_client.store import ledger
from tests.test_app_support import CARD, NEW_CARD, OIL, UNKNOWN_CARD, make_app, make_till, scan, type_slowly


def _message(app) -> str:
    return app.screen.query_one(MessageLine).text


async def test_find_by_phone_or_name_and_attach(tmp_path):
    ctx, member = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, OIL)
        await pilot.press("f9")
        assert isinstance(app.screen, MemberScreen)
        await type_slowly(pilot, app, "06.12.34.56.78", enter=True)  # any formatting
        table = app.screen.query_one("#results", DataTable)
        assert table.row_count == 1 and table.get_row_at(0)[0] == "Ada Lovelace"
        assert "678" in table.get_row_at(0)[1] and "12 34" not in table.get_row_at(0)[1]
        query = app.screen.query_one("#q", Input)
        query.value = ""
        query.focus()
        await type_slowly(pilot, app, "lovel", enter=True)
        assert table.row_count == 1
        await pilot.press("enter")  # attach the highlighted member
        assert isinstance(app.screen, CheckoutScreen)
        assert app.screen.basket.member_id == member.member_id
        assert app.screen.basket.total_cents == 899  # the basket waited
        assert "Ada Lovelace" in str(app.screen.query_one(MemberPanel).render())
        await pilot.press("f5")
        assert "+8 pts, balance 23" in _message(app)


async def test_unknown_card_enrolled_in_seconds(tmp_path):
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, UNKNOWN_CARD)
        assert "not a known card or product" in _message(app)
        await pilot.press("f9")  # the unknown card is carried over to the enrol form
        assert app.screen.query_one("#e-card", Input).value == UNKNOWN_CARD
        app.screen.query_one("#e-phone", Input).focus()
        await type_slowly(pilot, app, "0698765432")
        app.screen.query_one("#e-name", Input).focus()
        await type_slowly(pilot, app, "Grace Hopper")
        app.screen.query_one("#c-sms").focus()
        await pilot.press("space", "f5")
        assert isinstance(app.screen, CheckoutScreen)
        assert "Grace Hopper: enrolled" in _message(app)
        mid = app.screen.basket.member_id
    assert members.member_for_card(ctx, parse_card(UNKNOWN_CARD)).member_id == mid
    assert members.consents(ctx, mid) == {"sms": True}
    assert members.find(ctx, "+33 6 98 76 54 32")[0].name == "Grace Hopper"


async def test_enrol_refuses_bad_input_and_keeps_the_form(tmp_path):
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9", "f3")
        await pilot.press("f5")
        assert "a card or a phone number is needed" in _message(app)
        await scan(pilot, app, CARD)  # a scan on the enrol tab fills the card field
        assert app.screen.query_one("#e-card", Input).value == CARD
        app.screen.query_one("#e-name", Input).focus()
        await type_slowly(pilot, app, "Someone")
        await pilot.press("f5")
        assert "already enrolled" in _message(app)
        assert app.screen.query_one("#e-name", Input).value == "Someone"
        await pilot.press("escape")
        assert isinstance(app.screen, CheckoutScreen)


async def test_lost_card_moves_the_member_and_blocks_the_old_card(tmp_path):
    ctx, member = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        await type_slowly(pilot, app, "Ada", enter=True)
        await pilot.press("f4")
        assert app.screen.query_one("#l-old", Input).value == CARD  # the member's active card
        await scan(pilot, app, NEW_CARD)  # the new card from the drawer
        assert app.screen.query_one("#l-new", Input).value == NEW_CARD
        await pilot.press("f5")
        assert isinstance(app.screen, CheckoutScreen)
        assert "card replaced, 15 pts kept" in _message(app)
        await scan(pilot, app, CARD)  # the old card now refused at the till
        assert "this card is lost" in _message(app)
        await scan(pilot, app, NEW_CARD)
        assert app.screen.basket.member_id == member.member_id
    assert ledger.balance(ctx.conn, member.member_id) == 15

"""Issue 13, routing: a scanned number is what the database knows it is, then what the program's card
ranges say, then its shape; an unknown number says which it was taken for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardread import parse_card
from cardread.barcode import with_check_digit
from cardread.read import PAYMENT_CARD_MESSAGE, Source
from cardread.router import CardRange, parse_card_range, route_scan
from drivers.events import CardEvent, ProductEvent, event_from_frame
from pos_client.app.member_screen import MemberScreen
from pos_client.app.widgets import MemberPanel, MessageLine
from pos_client.services import catalog, members, scan_routing
from pos_client.store.config import Config, load_config, write_config
from pos_client.till import open_till
from tests.test_app_support import CARD, OIL, PAN, make_app, make_till, scan, send_keys

NON_29 = "2100000012343"  # the card: `member enrol --card 2100000012343` works, a scan did not
WEIGHED = with_check_digit("290012300150")  # an in-store 29-prefixed product barcode the catalog knows
RANGE_CARD = with_check_digit("210000009999")  # in the configured range, not enrolled
UNKNOWN_EAN = with_check_digit("761234567890")  # a valid EAN-13 the catalog does not have


def _message(app) -> str:
    return app.screen.query_one(MessageLine).text


def _till_with_non_29_member(tmp_path, *, ranges: list[str] | None = None):
    ctx, ada = make_till(tmp_path)
    if ranges is not None:
        write_config(ctx.home, {"program": {"card_ranges": ranges}})
        ctx.close()
        ctx = open_till(ctx.home)
    if ranges is None:  # issue 11: only the program's formats are stored; Grace enrolled while her range was
        write_config(ctx.home, {"program": {"card_ranges": [f"{NON_29}-{NON_29}"]}})  # configured, then removed
        ctx.close()
        ctx = open_till(ctx.home)
    grace = members.enroll(ctx, card=parse_card(NON_29), name="Grace Hopper", phone="0698765432")
    catalog.upsert_products(ctx, [catalog.Product("OLIVES-W", WEIGHED, "Olives au poids", "food", 150)])
    if ranges is None:
        write_config(ctx.home, {"program": {"card_ranges": []}})
        ctx.close()
        ctx = open_till(ctx.home)
    return ctx, ada, grace


# --- the pure part: card ranges in the shape router -------------------------------------------------

def test_card_ranges_parse_and_route_by_shape():
    r = parse_card_range("2100000000000-2100000999999")
    assert r == CardRange("2100000000000", "2100000999999")
    assert r.contains(NON_29) and not r.contains("2100001000000") and not r.contains("210000001234")
    assert route_scan(NON_29).product_ean == NON_29  # shape alone: an EAN-13
    assert route_scan(NON_29, card_ranges=(r,)).card.card_number == NON_29  # the program's own range
    for bad in ("21-2100", "abc-def", "2100000000009-2100000000000", "2100000000000"):
        with pytest.raises(ValueError):
            parse_card_range(bad)


@given(st.text(alphabet="0123456789", min_size=8, max_size=13))
def test_a_range_card_is_never_a_product_by_shape(digits):
    rng = CardRange("0" * len(digits), "9" * len(digits))
    assert route_scan(digits, card_ranges=(rng,)).product_ean is None


# --- the service: what the database knows first ------------------------------------------------------

def test_known_card_known_product_then_ranges_then_shape(tmp_path):
    ctx, _, _ = _till_with_non_29_member(tmp_path, ranges=["2100000000000-2100000099999"])
    r = scan_routing.route(ctx, NON_29)
    assert r.known and r.card is not None and r.card.card_number == NON_29 and r.product_ean is None
    r = scan_routing.route(ctx, WEIGHED)
    assert r.known and r.product_ean == WEIGHED and r.card is None  # 29-prefixed, but the catalog has it
    r = scan_routing.route(ctx, RANGE_CARD)
    assert not r.known and r.card is not None and r.taken_as == "a loyalty card (the program's card range)"
    r = scan_routing.route(ctx, UNKNOWN_EAN)
    assert not r.known and r.product_ean == UNKNOWN_EAN
    assert r.unknown_message() == f"{UNKNOWN_EAN}: not a known card or product; taken as a product (EAN-13)"
    assert scan_routing.route(ctx, "4000000000006").product_ean == "4000000000006"  # an EAN first, by shape
    r = scan_routing.route(ctx, with_check_digit("290000000099"))
    assert r.taken_as == "a loyalty card (prefix 29)"
    r = scan_routing.route(ctx, PAN)
    assert r.card is not None and r.card.payment_card and PAN not in repr(r) and PAN not in r.unknown_message()


def test_bad_card_ranges_config_is_a_clear_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, {"program": {"card_ranges": ["21-2"]}})
    with pytest.raises(Exception, match=r"program.card_ranges\[0\]"):
        scan_routing.card_ranges(load_config(home))
    assert scan_routing.card_ranges(Config()) == ()


# --- the app: wedge bursts, serial frames and the item slot ------------------------------------------

async def test_wedge_scan_of_an_enrolled_non_29_card_attaches_the_member(tmp_path):
    ctx, _, grace = _till_with_non_29_member(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, NON_29)
        assert "unknown product" not in _message(app)
        assert app.screen.basket.member_id == grace.member_id
        assert "Grace Hopper" in str(app.screen.query_one(MemberPanel).render())
        await scan(pilot, app, WEIGHED)  # a 29-prefixed barcode the catalog knows is a product
        assert [li.name for li in app.screen.basket.lines] == ["Olives au poids"]


async def test_serial_scanner_frame_of_an_enrolled_non_29_card_attaches_the_member(tmp_path):
    ctx, _, grace = _till_with_non_29_member(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        event = event_from_frame("scanner", "barcode", NON_29)  # the driver routes by shape: a product
        assert isinstance(event, ProductEvent)
        app.post_device_event(event)
        await pilot.pause()
        assert app.screen.basket.member_id == grace.member_id and app.screen.basket.lines == []
        weighed = event_from_frame("scanner", "barcode", WEIGHED)  # ... and this a card
        assert isinstance(weighed, CardEvent)
        app.post_device_event(weighed)
        await pilot.pause()
        assert [li.name for li in app.screen.basket.lines] == ["Olives au poids"]


async def test_a_swipe_stays_a_card_whatever_the_catalog_says(tmp_path):
    ctx, _, _ = _till_with_non_29_member(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        app.post_device_event(CardEvent("swipe", parse_card(f";{WEIGHED}=0000?", Source.MAGSTRIPE)))
        await pilot.pause()
        assert app.screen.basket.lines == [] and "card not enrolled" in _message(app)


async def test_unknown_numbers_say_what_they_were_taken_for(tmp_path):
    ctx, _, _ = _till_with_non_29_member(tmp_path, ranges=["2100000000000-2100000099999"])
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await scan(pilot, app, UNKNOWN_EAN)
        assert _message(app) == f"{UNKNOWN_EAN}: not a known card or product; taken as a product (EAN-13)"
        await scan(pilot, app, RANGE_CARD)
        assert _message(app) == (f"{RANGE_CARD}: not a known card or product; taken as a loyalty card"
                                 " (the program's card range) · F9 enrols")
        await pilot.press("f9")  # the unknown card waits on the enrol form
        assert isinstance(app.screen, MemberScreen)
        assert app.screen.query_one("#e-card").value == RANGE_CARD
        await pilot.press("escape")
        await scan(pilot, app, PAN)
        assert _message(app) == PAYMENT_CARD_MESSAGE and PAN not in app.export_screenshot()


async def test_item_slot_code_routes_through_the_database(tmp_path):
    ctx, _, grace = _till_with_non_29_member(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        app.clock.step = 0.2
        await send_keys(pilot, f"{NON_29}\r")  # keyed in the item slot by a person
        assert app.screen.basket.member_id == grace.member_id
        await send_keys(pilot, f"2*{OIL}\r")
        assert app.screen.basket.lines[-1].qty == 2


async def test_member_screen_takes_a_product_shaped_card_for_enrolment(tmp_path):
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9", "f3")
        await scan(pilot, app, NON_29)  # a new non-29 card, scanned into the enrol form
        assert app.screen.query_one("#e-card").value == NON_29
        await pilot.press("escape")
        await scan(pilot, app, CARD)
        assert app.screen.basket.member_id

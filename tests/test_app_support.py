"""Shared set-up for the app's pilot tests (no tests here): a till on a temporary home with a small catalog."""

from __future__ import annotations

import time
from pathlib import Path

from textual import events
from textual.keys import _character_to_key

from cardread import parse_card
from cardread.barcode import with_check_digit
from pos_client.app.till_app import TillApp
from pos_client.services import catalog, members
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.store.config import write_config
from pos_client.till import open_till

OIL = with_check_digit("400638133393")
BREAD = with_check_digit("500000000001")
WINE = with_check_digit("300000000007")
CARD = with_check_digit("290000000001")
NEW_CARD = with_check_digit("290000000002")
UNKNOWN_CARD = with_check_digit("290000000099")
PAN = "4111111111111111"
TRACK_PAN = f"%B{PAN}^DOE/JOHN^25121010000000000000?"


class StepClock:
    """A clock for the wedge detector: each key advances it by `step` seconds."""

    def __init__(self, step: float = 0.2) -> None:
        self.t = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def make_till(home: Path, *, with_history: bool = True):
    """A till with three products and one member (name, phone, one earlier sale at a fixed time)."""
    ctx = open_till(home)
    catalog.upsert_products(ctx, [
        catalog.Product("OIL1", OIL, "Olive oil 1L", "grocery", 899),
        catalog.Product("BRD1", BREAD, "Sourdough bread", "bakery", 350),
        catalog.Product("WIN1", WINE, "Red wine", "alcohol", 1250),
    ])
    member = members.enroll(ctx, card=parse_card(CARD), phone="06 12 34 56 78", name="Ada Lovelace")
    if with_history:
        basket = Basket(member_id=member.member_id, card_number=CARD)
        basket.add(Line.of_product(catalog.by_ean(ctx, OIL)))
        basket.add(Line.of_product(catalog.by_ean(ctx, BREAD), 2))
        commit_sale(ctx, basket, sale_id="earlier-sale", created_at="2026-11-01T10:00:00+00:00")
    return ctx, member


def without_holdout(ctx):
    """The same till with no offer control group (`[program] holdout_pct = 0`): every eligible member gets
    the offer, so a test that expects the welcome coupon never draws a held-out member."""
    write_config(ctx.home, {"program": {"holdout_pct": 0}})
    home = ctx.home
    ctx.close()
    return open_till(home)


def make_app(ctx, clock: StepClock | None = None, **kw) -> TillApp:
    return TillApp(ctx, clock=clock or StepClock(), **kw)


CONTROL_KEYS = {"\r": "enter", "\n": "ctrl+j", "\t": "tab", "\x02": "ctrl+b", "\x03": "ctrl+c"}


async def send_keys(pilot, text: str, enter: bool = False) -> None:
    """Deliver characters through the app's driver as Pilot.press does, idling once at the end
    rather than after every key (the timing the detector sees comes from the app's clock)."""
    app = pilot.app
    for char in text + ("\r" if enter else ""):
        key = CONTROL_KEYS.get(char) or (char if char.isalnum() else _character_to_key(char))
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()


async def type_slowly(pilot, app, text: str, enter: bool = False) -> None:
    """A person typing: every key 200 ms after the previous one."""
    app.clock.step = 0.2
    await send_keys(pilot, text, enter)


async def scan(pilot, app, text: str) -> None:
    """A wedge reader: a pause, then every key 5 ms after the previous one, then Enter."""
    app.clock.t += 1.0
    app.clock.step = 0.005
    await send_keys(pilot, text, enter=True)
    app.clock.step = 0.2


async def report_ready(pilot, timeout: float = 30.0) -> None:
    """Wait until the reports screen has shown the report it computes in a worker thread."""
    deadline = time.monotonic() + timeout
    await pilot.pause()
    while getattr(pilot.app.screen, "busy", False):
        if time.monotonic() > deadline:
            raise AssertionError("the report did not come back from its worker")
        await pilot.pause(0.02)
    await pilot.pause()

"""Snapshot of the checkout screen at 80x24 with deterministic data (fixed names and sale times)."""

from __future__ import annotations

from datetime import date

from tests.test_app_support import BREAD, CARD, OIL, make_app, make_till, scan, without_holdout


def test_checkout_screen_snapshot(tmp_path, snap_compare, monkeypatch):
    # the member panel's tier progress and expiry are "as of today": pin today for a stable picture
    monkeypatch.setattr("pos_client.domain.dates.today", lambda: date(2026, 11, 23))
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)

    async def fill_basket(pilot) -> None:
        await scan(pilot, app, OIL)
        await scan(pilot, app, BREAD)
        await scan(pilot, app, CARD)
        for slot in app.screen.query("Input"):
            slot.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=fill_basket)


def _fixed_day(monkeypatch) -> None:
    """Today and the sale's timestamp pinned, so dates on screen (visits, coupon expiry) never move."""
    monkeypatch.setattr("pos_client.domain.dates.today", lambda: date(2026, 11, 23))
    monkeypatch.setattr("pos_client.services.checkout.now_iso", lambda: "2026-11-23T10:00:00.000000+00:00")


def _fixed_coupon_key(home) -> None:
    """An Ed25519 key of fixed bytes: its signatures, so the coupons' short codes, are the same every run."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pos_client.services.marketing.signing import KEY_FILE

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    path = home / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def test_checkout_after_a_sale_shows_its_coupon_snapshot(tmp_path, snap_compare, monkeypatch):
    """Issue 13: the welcome coupon the receipt prints is on screen too (code, value, expiry); long names end in …"""
    from pos_client.services import catalog

    _fixed_day(monkeypatch)
    ctx, _ = make_till(tmp_path, with_history=False)
    ctx = without_holdout(ctx)
    _fixed_coupon_key(ctx.home)
    catalog.upsert_products(ctx, [catalog.Product("LONG1", "4012345678901", "Huile d'olive vierge extra Picual"
                                                  " récolte précoce 1L", "grocery", 1999)])
    app = make_app(ctx)

    async def sell(pilot) -> None:
        await scan(pilot, app, CARD)
        await scan(pilot, app, OIL)
        await scan(pilot, app, "4012345678901")
        await pilot.press("f5")
        for slot in app.screen.query("Input"):
            slot.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=sell)


def test_bank_card_refused_with_a_member_attached_snapshot(tmp_path, snap_compare, monkeypatch):
    """Issue 13: one state on screen: the member, their card in the slot, and the refusal said in the message line."""
    from tests.test_app_support import TRACK_PAN

    _fixed_day(monkeypatch)
    ctx, _ = make_till(tmp_path)
    app = make_app(ctx)

    async def refuse(pilot) -> None:
        await scan(pilot, app, BREAD)
        await scan(pilot, app, CARD)
        await scan(pilot, app, TRACK_PAN)
        for slot in app.screen.query("Input"):
            slot.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=refuse)

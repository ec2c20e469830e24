"""Snapshot of the checkout screen at 80x24 with deterministic data (fixed names and sale times)."""

from __future__ import annotations

from datetime import date

from tests.test_app_support import BREAD, CARD, OIL, make_app, make_till, scan


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

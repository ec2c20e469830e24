"""Snapshot of manager mode at 80x24: unlocked, a member attached, the rewards catalog (fixed data)."""

from __future__ import annotations

from pos_client.services.marketing import manager
from tests.test_app_support import CARD, make_app, make_till, report_ready, scan, send_keys

PIN = "4321"


def test_manager_screen_snapshot(tmp_path, snap_compare):
    ctx, _ = make_till(tmp_path)
    manager.add_manager(ctx, "Alice", PIN)
    app = make_app(ctx)

    async def unlock(pilot) -> None:
        await scan(pilot, app, CARD)
        await pilot.press("f10")
        await send_keys(pilot, PIN, enter=True)
        for slot in app.screen.query("Input"):
            slot.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=unlock)


def test_reports_screen_snapshot(tmp_path, snap_compare, monkeypatch):
    """Issue 13: the reports screen labels its figures for a person (New %, not new_pct)."""
    from datetime import date

    monkeypatch.setattr("pos_client.domain.dates.today", lambda: date(2026, 11, 23))
    ctx, _ = make_till(tmp_path)  # Ada's first sale on 2026-11-01: one new customer this month
    manager.add_manager(ctx, "Alice", PIN)
    app = make_app(ctx)

    async def run_report(pilot) -> None:
        await pilot.press("f10")
        await send_keys(pilot, PIN, enter=True)
        await pilot.press("f7", "enter")
        await report_ready(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_report)

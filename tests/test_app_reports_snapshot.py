"""Snapshots of the reports screen at 80x24 (issue 10): the lifecycle stage mix drawn as bars, and the offer
picker that offer lift needs. The figures are the hand-worked till of tests/test_app_reports.py."""

from __future__ import annotations

from datetime import date

from pos_client.app.reports_screen import REPORT_LABELS
from tests.test_app_reports import PIN, hand_till
from tests.test_app_support import make_app, report_ready, send_keys

TODAY = date(2026, 11, 23)


async def _open_reports(pilot) -> None:
    await pilot.press("f10")
    await send_keys(pilot, PIN, enter=True)
    await pilot.press("f7")


def test_lifecycle_bars_snapshot(tmp_path, snap_compare, monkeypatch):
    monkeypatch.setattr("pos_client.domain.dates.today", lambda: TODAY)
    app = make_app(hand_till(tmp_path))

    async def lifecycle(pilot) -> None:
        await _open_reports(pilot)
        await pilot.press("down", "enter")
        await report_ready(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=lifecycle)


def test_offer_lift_picker_snapshot(tmp_path, snap_compare, monkeypatch):
    monkeypatch.setattr("pos_client.domain.dates.today", lambda: TODAY)
    app = make_app(hand_till(tmp_path))

    async def offer_lift(pilot) -> None:
        await _open_reports(pilot)
        await pilot.press(*["down"] * list(REPORT_LABELS).index("offer-lift"), "enter")
        await report_ready(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=offer_lift)

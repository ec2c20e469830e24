"""Issue 13: tenders are a configured list (`[till] tenders`), checked by the CLI, by checkout and by the
app's F4; the till's decimal separator decides what the CLI and the app's item slot accept."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Input

from pos_client.app.widgets import MessageLine
from pos_client.cli.main import main
from pos_client.domain.errors import UsageError
from pos_client.services import checkout
from pos_client.store.config import write_config
from pos_client.till import open_till
from tests.test_app_support import make_app, make_till, type_slowly


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "till"
    assert main(["init", "--home", str(path)]) == 0
    return path


def test_unknown_tender_is_refused_by_the_cli(home, capsys):
    """Finding: `--tender bitcoin` was accepted."""
    capsys.readouterr()
    assert main(["sale", "--amount", "5.00", "--tender", "bitcoin", "--home", str(home), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert "unknown tender 'bitcoin'" in out["error"] and "cash, card" in out["error"]
    ctx = open_till(home)
    assert ctx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 0
    ctx.close()
    assert main(["sale", "--amount", "5.00", "--tender", "card", "--home", str(home)]) == 0


def test_configured_tenders_are_taken(home):
    write_config(home, {"till": {"tenders": ["cash", "card", "voucher"]}})
    assert main(["sale", "--amount", "5.00", "--tender", "voucher", "--sale-id", "V1", "--home", str(home)]) == 0
    ctx = open_till(home)
    assert ctx.conn.execute("SELECT tender FROM sales WHERE sale_id = 'V1'").fetchone()[0] == "voucher"
    ctx.close()


def test_checkout_refuses_a_tender_the_till_does_not_take(home):
    ctx = open_till(home)
    basket = checkout.Basket(tender="bitcoin")
    basket.add(checkout.Line.keyed(500))
    with pytest.raises(UsageError, match="unknown tender 'bitcoin'"):
        checkout.commit_sale(ctx, basket)
    assert ctx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 0
    ctx.close()


def test_sale_amount_follows_the_till_decimal_separator(home, capsys):
    """Finding: `12,50` was silently taken; a comma till takes it, a point till says which to use."""
    capsys.readouterr()
    assert main(["sale", "--amount", "12,50", "--home", str(home), "--json"]) == 2
    assert "this till uses '.' for decimals" in json.loads(capsys.readouterr().out)["error"]
    write_config(home, {"till": {"decimal_separator": ","}})
    assert main(["sale", "--amount", "12,50", "--sale-id", "C1", "--home", str(home)]) == 0
    assert "sale C1: 12,50" in capsys.readouterr().out
    ctx = open_till(home)
    assert ctx.conn.execute("SELECT total_cents FROM sales WHERE sale_id = 'C1'").fetchone()[0] == 1250
    ctx.close()


async def test_f4_cycles_through_the_configured_tenders(tmp_path):
    ctx, _ = make_till(tmp_path)
    ctx.close()
    write_config(tmp_path, {"till": {"tenders": ["cash", "card", "voucher"]}})
    ctx = open_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        seen = []
        for _ in range(4):
            await pilot.press("f4")
            seen.append(app.screen.basket.tender)
        assert seen == ["card", "voucher", "cash", "card"]
    ctx.close()


async def test_item_slot_uses_the_till_decimal_separator(tmp_path):
    ctx, _ = make_till(tmp_path)
    ctx.close()
    write_config(tmp_path, {"till": {"decimal_separator": ","}})
    ctx = open_till(tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await type_slowly(pilot, app, "12,50 grocery")
        await pilot.press("enter")
        assert [li.amount_cents for li in app.screen.basket.lines] == [1250]
        app.screen.query_one("#entry", Input).value = ""
        await type_slowly(pilot, app, "3.5")
        await pilot.press("enter")
        assert "this till uses ','" in app.screen.query_one(MessageLine).text
        assert len(app.screen.basket.lines) == 1
    ctx.close()

"""`sale --json` says what the sale did to the balance: points_earned = points_base + points_bonus (tier bonus).

Finding (issue 10): a 2,000.00 sale that made the member Gold said `points_earned: 2000` while the balance
rose by 3000; the receipt printed 3000.
"""

from __future__ import annotations

import json

import pytest

from pos_client.cli.main import main
from pos_client.services.checkout import refund
from pos_client.store import ledger
from pos_client.till import open_till
from tests.marketing.helpers import card_data, new_member, sell


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "till"
    assert main(["init", "--home", str(path)]) == 0
    return path


def _sale(home, capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["sale", *args, "--home", str(home), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_sale_json_counts_the_tier_bonus(home, capsys):
    card = card_data()
    capsys.readouterr()
    assert main(["member", "enroll", "--card", card, "--home", str(home)]) == 0
    # 2,000.00 at 1 point per 1.00: 2000 base; the sale lifts 12-month spend past 1,500.00 -> Gold (150 %):
    # bonus 2000 x 50 % = 1000; the balance goes 0 -> 3000.
    out = _sale(home, capsys, "--card", card, "--amount", "2000.00", "--sale-id", "G1")
    assert (out["points_base"], out["points_bonus"], out["points_earned"], out["balance"]) == (2000, 1000, 3000, 3000)
    # next sale at Gold: 10.00 -> 10 + 5
    out = _sale(home, capsys, "--card", card, "--amount", "10.00", "--sale-id", "G2")
    assert (out["points_base"], out["points_bonus"], out["points_earned"], out["balance"]) == (10, 5, 15, 3015)
    # a replay answers the same figures (from the ledger entries the first commit wrote)
    again = _sale(home, capsys, "--card", card, "--amount", "2000.00", "--sale-id", "G1")
    assert (again["points_base"], again["points_bonus"], again["points_earned"]) == (2000, 1000, 3000)
    capsys.readouterr()
    assert main(["sale", "--card", card, "--amount", "10.00", "--sale-id", "G3", "--home", str(home)]) == 0
    assert "+15 pts (10 + 5 bonus), balance 3030 pts" in capsys.readouterr().out


def test_earned_is_the_balance_change_and_replays_survive_refunds(tmp_path):
    ctx = open_till(tmp_path / "till")
    try:
        mid, _ = new_member(ctx)
        sell(ctx, mid, 60000, "2026-01-10")  # Silver on this sale: 600 + 150
        before = ledger.balance(ctx.conn, mid)
        r = sell(ctx, mid, 4000, "2026-01-11", sale_id="S2")  # 40 + 25 % = 10
        assert (r.points_base, r.points_bonus, r.points_earned) == (40, 10, 50)
        assert ledger.balance(ctx.conn, mid) - before == r.points_earned
        refund(ctx, "S2")  # reverses 40 + 10: the sale's own figures do not change
        again = sell(ctx, mid, 4000, "2026-01-11", sale_id="S2")
        assert again.replayed and (again.points_base, again.points_bonus, again.points_earned) == (40, 10, 50)
        anonymous = sell(ctx, None, 4000, "2026-01-12")
        assert (anonymous.points_base, anonymous.points_bonus, anonymous.points_earned) == (0, 0, 0)
    finally:
        ctx.close()

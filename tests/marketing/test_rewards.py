import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from pos_client.domain.errors import NotFound, RefusedInput, UsageError
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import coupons, manager, rewards
from pos_client.store import ledger
from tests.marketing.helpers import new_member, sell

PIN = "4321"


@pytest.fixture
def shop(ctx):
    manager.add_manager(ctx, "Alice", PIN)
    mid, _ = new_member(ctx)
    sell(ctx, mid, 120000, "2026-01-10")  # 1200 points, Silver (+300)
    return ctx, mid


def test_pin_is_a_slow_salted_hash(ctx):
    manager.add_manager(ctx, "Bob", "1234")
    stored = ctx.conn.execute("SELECT pin_hash FROM managers").fetchone()[0]
    algo, n, _r, _p, salt, digest = stored.split("$")
    assert (algo, n, len(salt), len(digest)) == ("scrypt", "16384", 32, 64)  # the PIN itself is not stored
    assert manager.pin_matches("1234", stored) and not manager.pin_matches("1235", stored)
    assert manager.hash_pin("1234") != manager.hash_pin("1234")  # salted
    with pytest.raises(RefusedInput):
        manager.add_manager(ctx, "Carol", "1234")  # PINs identify managers
    with pytest.raises(UsageError):
        manager.add_manager(ctx, "Dan", "12")


def test_five_wrong_tries_lock_for_five_minutes_and_survive_restart(make_ctx):
    ctx = make_ctx()
    manager.add_manager(ctx, "Alice", PIN)
    t0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    for i in range(4):
        with pytest.raises(RefusedInput, match=f"{4 - i} tries left"):
            manager.check_pin(ctx, "0000", now=t0)
    with pytest.raises(RefusedInput, match="locked for 5 minutes"):
        manager.check_pin(ctx, "0000", now=t0)
    ctx.close()
    ctx = make_ctx()  # a restart reads the lock from the database
    with pytest.raises(RefusedInput, match="locked"):
        manager.check_pin(ctx, PIN, now=t0 + timedelta(minutes=4, seconds=59))
    assert manager.check_pin(ctx, PIN, now=t0 + timedelta(minutes=5, seconds=1)).name == "Alice"


def test_redeem_takes_points_in_one_entry_and_issues_a_signed_coupon(shop):
    ctx, mid = shop
    out = rewards.redeem(ctx, mid, "R500", PIN, as_of="2026-01-10")
    assert out["points_spent"] == 500 and out["balance"] == 1500 - 500 and out["approved_by"] == "Alice"
    entries = ctx.conn.execute("SELECT kind, points, operator, ref FROM ledger WHERE kind = 'redeem'").fetchall()
    assert [tuple(e) for e in entries] == [("redeem", -500, "Alice", out["redemption_id"])]
    approval = manager.approvals(ctx, out["redemption_id"])
    assert [(a["manager_name"], a["action"]) for a in approval] == [("Alice", "redeem")]
    verdict = coupons.check(ctx, out["coupon"], as_of="2026-01-11")
    assert verdict["valid"] and verdict["kind"] == "amount_off" and verdict["value"] == 500
    assert verdict["expires"] == "2026-04-10"
    key = ctx.home / "keys" / "coupon_ed25519.pem"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert ledger.balance(ctx.conn, mid) == ledger.ledger_sum(ctx.conn, mid)


def test_partial_redemption_by_points_or_amount(shop):
    ctx, mid = shop
    by_points = rewards.redeem(ctx, mid, "GIFT20", PIN, points=250)  # 2000 pts = 20.00 -> 250 pts = 2.50
    assert by_points["points_spent"] == 250 and by_points["value"] == 250
    by_amount = rewards.redeem(ctx, mid, "GIFT20", PIN, amount_cents=333)  # 3.33 -> ceil(333*2000/2000)
    assert by_amount["points_spent"] == 333 and by_amount["balance"] == 1500 - 583
    with pytest.raises(UsageError):
        rewards.redeem(ctx, mid, "PCT10", PIN, points=100)  # only whole


def test_refusals_lose_nothing(shop):
    ctx, mid = shop
    with pytest.raises(RefusedInput, match="not enough"):
        rewards.redeem(ctx, mid, "GIFT20", PIN)
    with pytest.raises(RefusedInput, match="wrong manager PIN"):
        rewards.redeem(ctx, mid, "R500", "9999")
    with pytest.raises(NotFound):
        rewards.redeem(ctx, mid, "NOPE", PIN)
    assert ledger.balance(ctx.conn, mid) == 1500
    other, _ = new_member(ctx)
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(member_id=other, kind="adjust", points=3000)])
    with pytest.raises(RefusedInput, match="Silver members"):
        rewards.redeem(ctx, other, "GIFT20", PIN)  # tier requirement


def test_adjust_and_reverse_need_reason_and_pin(shop):
    ctx, mid = shop
    with pytest.raises(UsageError, match="reason code"):
        rewards.adjust(ctx, mid, 50, "because", PIN)
    with pytest.raises(RefusedInput, match="below zero"):
        rewards.adjust(ctx, mid, -1501, "correction", PIN)
    out = rewards.adjust(ctx, mid, 50, "goodwill", PIN)
    assert out["balance"] == 1550
    back = rewards.reverse_entry(ctx, out["entry_id"], "correction", PIN)
    assert back["balance"] == 1500
    with pytest.raises(RefusedInput, match="already been reversed"):
        rewards.reverse_entry(ctx, out["entry_id"], "correction", PIN)
    actions = [a["action"] for a in manager.approvals(ctx)]
    assert actions == ["adjust", "reverse"]


def test_coupon_applied_at_checkout_is_used_once_and_lowers_points(shop):
    ctx, mid = shop
    out = rewards.redeem(ctx, mid, "R500", PIN)
    basket = Basket(member_id=mid)
    basket.add(Line.keyed(2000))
    line = coupons.apply_coupon(ctx, basket, out["token"])  # the QR
    assert line.amount_cents == -500 and line.category == "coupon"
    sale = commit_sale(ctx, basket)
    assert sale.total_cents == 1500 and sale.points_base == 15  # discount lowers the spend
    assert sale.points_earned == 15 + sale.points_bonus  # plus the tier bonus, as the balance sees it
    verdict = coupons.check(ctx, out["coupon"])
    assert not verdict["valid"] and verdict["reason"].startswith("already used")
    again = Basket(member_id=mid)
    again.add(Line.keyed(2000))
    with pytest.raises(RefusedInput, match="already used"):
        coupons.apply_coupon(ctx, again, out["coupon"])
    assert [u["sale_id"] for u in coupons.uses_of(ctx, out["coupon"])] == [sale.sale_id]


def test_percent_and_free_product_coupons(ctx):
    from pos_client.services.catalog import by_sku_or_ean

    pct = coupons.issue(ctx, "percent_off", 10, expires="2099-01-01")
    free = coupons.issue(ctx, "free_product", 0, sku="COFFEE", expires="2099-01-01")
    basket = Basket()
    basket.add(Line.of_product(by_sku_or_ean(ctx, "DOGFOOD")))  # 40.00
    basket.add(Line.of_product(by_sku_or_ean(ctx, "CIGS")))  # excluded: no discount on it
    with pytest.raises(RefusedInput, match="free product first"):
        coupons.apply_coupon(ctx, basket, free.token)
    basket.add(Line.of_product(by_sku_or_ean(ctx, "COFFEE")))  # 15.00
    assert coupons.apply_coupon(ctx, basket, pct.token).amount_cents == -550
    assert coupons.apply_coupon(ctx, basket, free.code).amount_cents == -1500
    assert basket.total_cents == 4000 + 1000 + 1500 - 550 - 1500


def test_refund_of_a_sale_paid_with_a_reward(shop):
    ctx, mid = shop
    out = rewards.redeem(ctx, mid, "R500", PIN)  # 1500 -> 1000
    basket = Basket(member_id=mid)
    basket.add(Line.keyed(2000))
    coupons.apply_coupon(ctx, basket, out["coupon"])
    sale = commit_sale(ctx, basket)  # +15, +3 Silver bonus -> 1018
    assert sale.balance == 1018
    default = rewards.refund_sale(ctx, sale.sale_id, {"1": 1})  # default: reward points stay spent
    assert default["reward_points_restored"] == 0 and default["balance"] == 1000
    basket2 = Basket(member_id=mid)
    basket2.add(Line.keyed(2000))
    out2 = rewards.redeem(ctx, mid, "R500", PIN)  # 1000 -> 500
    coupons.apply_coupon(ctx, basket2, out2["coupon"])
    sale2 = commit_sale(ctx, basket2)
    restored = rewards.refund_sale(ctx, sale2.sale_id, restore_reward_points=True, pin=PIN)
    assert restored["reward_points_restored"] == 500 and restored["balance"] == 1000
    assert ledger.balance(ctx.conn, mid) == ledger.ledger_sum(ctx.conn, mid)
    assert [a["action"] for a in manager.approvals(ctx)][-1] == "restore-reward"

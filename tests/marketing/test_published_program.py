"""Head office's published program at a real till: pulled rules (through `sync.apply.apply_page`, as a pull
applies them) lay over config.toml's earning settings, promotions and offers; the next sale earns by them, a
restart keeps them, and a rule the till cannot apply fails the page with nothing applied."""

from __future__ import annotations

import pytest

from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import offers
from pos_client.store.config import Config
from pos_client.store.program_overlay import applied_version
from pos_client.till import open_till
from sync.apply import apply_page
from sync.client import Refused
from tests.marketing.helpers import new_member
from wire.batches import Change, PullPage

# The promotion's day and the sales that test it are one fixed day: a "today" read when the module is collected
# is yesterday for a sale made after midnight (the suite runs for minutes; a nightly CI run can cross it).
DAY = "2026-06-15"


def pull(ctx, *rules: tuple[str, object, int]) -> dict[str, int]:
    """Apply one pulled page carrying these (key, value, version) rules, as `sync.engine.pull_all` would."""
    cursor = 1 + int(ctx.conn.execute("SELECT COUNT(*) FROM sync_rules").fetchone()[0]) * 10
    changes = [Change(cursor + i, "rule", {"key": k, "value": v, "version": n}) for i, (k, v, n) in enumerate(rules)]
    return apply_page(ctx, PullPage(changes, next_cursor=cursor + len(changes), more=False))


def earn(ctx, member_id: str, *lines: Line, day: str | None = None) -> int:
    """The base points of a sale of `lines`, made now or, given `day`, at noon UTC that day."""
    basket = Basket(member_id=member_id)
    for line in lines:
        basket.add(line)
    return commit_sale(ctx, basket, created_at=f"{day}T12:00:00+00:00" if day else None).points_base


def test_published_earning_multipliers_and_promotions_decide_the_next_sale(ctx):
    member, _ = new_member(ctx, name="Ann")
    assert earn(ctx, member, Line.keyed(1000)) == 10  # the till's own rule: 1 point per 1.00
    assert applied_version(ctx.conn) is None
    counts = pull(ctx, ("earning", {"points_per_unit": 3, "unit_cents": 200}, 4))
    assert counts["rules"] == 1 and applied_version(ctx.conn) == 4
    assert earn(ctx, member, Line.keyed(1000)) == 15  # 3 points per 2.00, the same TillContext
    assert ctx.rules.excluded_categories == frozenset({"prescription", "gift_card", "tobacco"})  # left out: kept

    pull(ctx, ("category_multipliers", [{"category": "pet", "multiplier_pct": 200},
                                        {"category": "grocery", "multiplier_pct": 5}], 5),
         ("promotions", [{"name": "Spring", "start": DAY, "end": DAY, "multiplier_pct": 300,
                          "categories": ["grocery"]},
                         {"name": "Over", "start": "2020-01-01", "end": "2020-01-31", "multiplier_pct": 1000}], 6))
    assert applied_version(ctx.conn) == 6
    assert ctx.rules.category_multipliers == {"pet": 200, "grocery": 5}  # 5 is 5 %, not config's "x5"
    # pet x2: 20.00 -> 60 points at 3 per 2.00; grocery 5 % x 300 % promotion: 10.00 -> 0.15 x 15 = 2.25 -> 2
    assert earn(ctx, member, Line.keyed(2000, "pet"), day=DAY) == 60
    assert earn(ctx, member, Line.keyed(1000, "grocery"), day=DAY) == 2
    assert earn(ctx, member, Line.keyed(1000, "grocery"), day="2026-06-16") == 0  # the day after: 5 % alone


def test_the_published_program_survives_a_restart(make_ctx, tmp_path):
    ctx = make_ctx(program={"points_per_unit": 2})
    pull(ctx, ("earning", {"points_per_unit": 5}, 2))
    assert ctx.rules.points_per_unit == 5
    ctx.close()
    again = open_till(tmp_path / "till")
    try:
        assert again.rules.points_per_unit == 5 and applied_version(again.conn) == 2
    finally:
        again.close()


def test_a_rule_the_till_cannot_apply_fails_the_page_and_nothing_changes(ctx):
    pull(ctx, ("earning", {"points_per_unit": 2}, 1))
    with pytest.raises(Refused, match="unit_cents: must be >= 1"):
        pull(ctx, ("offline_redeem_cap", 100, 2), ("earning", {"points_per_unit": 9, "unit_cents": 0}, 3))
    assert ctx.rules.points_per_unit == 2 and applied_version(ctx.conn) == 1
    assert ctx.conn.execute("SELECT COUNT(*) FROM sync_rules WHERE key = 'offline_redeem_cap'").fetchone()[0] == 0
    with pytest.raises(Refused, match=r"promotions\[0\]\.multiplier_pct: must be an integer"):
        pull(ctx, ("promotions", [{"name": "x", "start": DAY, "end": DAY, "multiplier_pct": 1.5}], 4))
    # a key this till does not know (a newer head office's) is kept, not refused
    assert pull(ctx, ("loyalty_colour", "red", 5))["rules"] == 1 and applied_version(ctx.conn) == 5


def test_published_offers_replace_the_tills_own_with_their_holdout(make_ctx):
    ctx = make_ctx(program={"offers": [{"id": "local", "priority": 1, "conditions": {},
                                        "action": {"type": "message", "message": "hi"}}]})
    assert [o.id for o in offers.catalog(ctx)] == ["local"]
    pull(ctx, ("offers", [
        {"id": "welcome", "trigger": "first_purchase", "reward": "amount_off", "value": 500, "holdout_pct": 25,
         "priority": 100, "message": "5.00 off your next visit"},
        {"id": "second", "trigger": "second_purchase", "reward": "percent_off", "value": 10, "valid_days": 14},
        {"id": "winback", "trigger": "reactivated", "reward": "free_product", "sku": "COFFEE", "cap_days": 180,
         "holdout_pct": 0, "window_days": 60},
        {"id": "close", "trigger": "points_close", "reward": "message", "points_to_reward": 50,
         "message": "{points_needed} to go"}], 7))
    by_id = {o.id: o for o in offers.catalog(ctx)}
    assert list(by_id) == ["welcome", "second", "winback", "close"]  # highest priority first (50 is the default)
    welcome, second, winback, close = by_id.values()
    assert (welcome.holdout_pct, welcome.holdout_bp, welcome.conditions) == (25, 2500, {"max_frequency": 1})
    assert welcome.action == {"type": "coupon", "kind": "amount_off", "value": 500, "sku": None, "valid_days": 30,
                              "message": "5.00 off your next visit"}
    assert second.conditions == {"min_frequency": 2, "max_frequency": 2} and second.window_days == 14
    assert second.holdout_pct == 10  # the wire's default share
    assert (winback.conditions, winback.cap, winback.holdout_bp, winback.window_days) == (
        {"stage": "reactivated"}, {"max": 1, "days": 180}, 0, 60)
    assert close.conditions == {"points_to_reward": 50} and close.action["type"] == "message"

    # the first purchase brings the published welcome offer (or holds the member out of it, by the hash)
    member, _ = new_member(ctx, name="Bea")
    basket = Basket(member_id=member)
    basket.add(Line.keyed(1000))
    sale = commit_sale(ctx, basket)
    presented = offers.present(ctx, member, sale.sale_id)
    target = ctx.conn.execute("SELECT offer_id, grp, holdout_bp FROM offer_targets WHERE sale_id = ?",
                              (sale.sale_id,)).fetchone()
    assert (target["offer_id"], target["holdout_bp"]) == ("welcome", 2500)
    assert (presented is None) == (target["grp"] == "control")


def test_a_published_tier_ladder_decides_the_next_sale_and_is_not_read_again_until_then(ctx):
    """Issue 15: the tier ladder is kept on the TillContext from one sale to the next (`TillContext.memo`, keyed by
    the rules marker a pull moves in its own transaction): a sale reads no rule, a pulled ladder counts at once."""
    member, _ = new_member(ctx, name="Bo")
    sale = Basket(member_id=member)
    sale.add(Line.keyed(1000))
    assert commit_sale(ctx, sale).points_bonus == 0  # Member: x1
    seen: list[str] = []
    ctx.conn.set_trace_callback(seen.append)
    try:
        again = Basket(member_id=member)
        again.add(Line.keyed(1000))
        assert commit_sale(ctx, again).points_bonus == 0
    finally:
        ctx.conn.set_trace_callback(None)
    assert any("program_rules_at" in s for s in seen)  # what says whether the program moved
    assert not any("sync_rules" in s for s in seen), seen
    pull(ctx, ("tiers", [{"name": "Member", "min_spend_cents": 0, "multiplier_pct": 200}], 2))
    doubled = Basket(member_id=member)
    doubled.add(Line.keyed(1000))
    result = commit_sale(ctx, doubled)
    assert result.points_base == 10 and result.points_bonus == 10


def test_a_config_written_again_rebuilds_the_kept_ladder(ctx):
    """`ctx.config` is replaced when config.toml is written (identity, setup, register): the ladder kept between
    sales is built again from the new one, as the earning rules are."""
    member, _ = new_member(ctx, name="Cy")
    earn(ctx, member, Line.keyed(1000))
    with ctx.pinned():
        kept = ctx.memo("tiers", list)
    raw = {**ctx.config.raw, "program": {**ctx.config.section("program"),
                                         "tiers": [{"name": "Only", "min_spend_cents": 0, "multiplier_pct": 300}]}}
    ctx.config = Config(raw=raw)
    sale = Basket(member_id=member)
    sale.add(Line.keyed(1000))
    assert commit_sale(ctx, sale).points_bonus == 20  # x3 from the new config's ladder
    with ctx.pinned():
        assert ctx.memo("tiers", list) is not kept

"""The upkeep figure's baseline (bench/figures/_upkeep_pandas.py) computes what the day's upkeep writes: the
same members and points expired, stage changes and tier changes, read as the tables stood before the day ran
(so the bench can run it after the upkeep in a round), on a till with sales, refunds and redemptions."""

from __future__ import annotations

import random
from datetime import date, timedelta

from bench.figures import _upkeep_pandas as pdu
from pos_client.services.checkout import refund
from pos_client.services.marketing import tiers, upkeep
from pos_client.services.marketing.lifecycle import stage_rules
from pos_client.services.program_settings import expiry as expiry_rules
from pos_client.store import ledger
from tests.marketing.helpers import new_member, sell


def test_the_pandas_day_finds_what_the_upkeep_writes(ctx):
    rng = random.Random(5)
    members = [new_member(ctx)[0] for _ in range(40)]
    start = date(2025, 1, 1)
    for i in range(420):
        day = start + timedelta(days=i)
        for mid in rng.sample(members if i < 150 else members[20:], 2):  # half stop buying: the review downgrades
            sale = sell(ctx, mid, rng.randint(1, 1500) * 100, day.isoformat())
            if rng.random() < 0.05:
                refund(ctx, sale.sale_id)
        if rng.random() < 0.2:
            held = [m for m in members if ledger.balance(ctx.conn, m) > 30]
            if held:
                ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                    member_id=rng.choice(held), kind="redeem", points=-30, created_at=f"{day}T18:00:00+00:00")])
    rules = pdu.Rules(ctx.store_id, int(expiry_rules(ctx)["months"]), stage_rules(ctx),
                      sorted(tiers.tiers(ctx), key=lambda t: t.min_spend_cents), sorted(ctx.rules.excluded_categories))
    period = tiers.review_period(ctx)
    seen = {"expired": 0, "stages": 0, "tiers": 0}
    for day in (date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 14), date(2026, 3, 31)):
        mark = pdu.marks(ctx.conn)
        done = upkeep.run_day(ctx, day, "test")  # the pandas day runs after it, from the marks taken before
        found = pdu.day_of_upkeep(ctx.conn, day, rules, mark, tiers.is_review_day(day, period))
        assert (len(found.due), int(found.due.sum()), found.stage_changes) == (
            done.expired_members, done.expired_points, done.stage_changes), day
        if found.tier_changes is not None:
            assert found.tier_changes == done.tier_changes, day
            seen["tiers"] += done.tier_changes
        seen["expired"] += done.expired_members
        seen["stages"] += done.stage_changes
    assert all(seen.values()), seen  # every kind of change happened at least once

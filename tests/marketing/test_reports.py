"""Each report on a small data set whose figures are worked out by hand in the comments."""

import pytest

from pos_client.services.marketing import manager, privacy, rewards, tiers
from pos_client.services.marketing.reports import run_report
from pos_client.store import ledger
from tests.marketing.helpers import new_member, sell

Q1 = {"start": "2026-01-01", "end": "2026-03-31"}


@pytest.fixture
def history(ctx):
    """Four customers (default tiers 0 / 500.00 / 1500.00, default lifecycle rules).

    A: 1600.00 on 2025-02-01 (Gold), 600.00 on 2025-06-01; nothing since -> Silver at the Q1 review.
    B: 1600.00 on 2025-02-01 (Gold), 1500.00 on 2026-02-01 -> stays Gold.
    C: 100.00 on 2025-11-01, 450.00 on 2026-01-15 -> Silver on that sale.
    D: 30.00 on 2026-02-10, first purchase; consents to email.
    """
    ids = {}
    ids["A"], _ = new_member(ctx)
    ids["B"], _ = new_member(ctx)
    ids["C"], _ = new_member(ctx, email="c@example.com", consent=["email"])
    ids["D"], _ = new_member(ctx, email="d@example.com", consent=["email"])
    sell(ctx, ids["A"], 160000, "2025-02-01")
    sell(ctx, ids["B"], 160000, "2025-02-01")
    sell(ctx, ids["A"], 60000, "2025-06-01")
    sell(ctx, ids["C"], 10000, "2025-11-01")
    sell(ctx, ids["C"], 45000, "2026-01-15")
    sell(ctx, ids["B"], 150000, "2026-02-01")
    sell(ctx, ids["D"], 3000, "2026-02-10")
    tiers.evaluate_tiers(ctx, "2026-03-31")  # period end: A drops to Silver (600.00 in 12 months)
    return ctx, ids


def test_new_customers(history):
    ctx, _ = history
    # bought in Q1: B, C, D = 3; first purchase ever in Q1: D = 1 -> 33.3 %
    assert run_report(ctx, "new-customers", **Q1)["summary"] == {"new": 1, "active": 3, "new_pct": 33.3}


def test_tier_migration_answers_what_share_of_gold_dropped(history):
    ctx, _ = history
    r = run_report(ctx, "tier-migration", **Q1)
    # start (2025-12-31): A Gold, B Gold, C Member, D Member; end: A Silver, B Gold, C Silver, D Member
    assert r["rows"] == [["Member", "Member", 1, 50.0], ["Member", "Silver", 1, 50.0],
                         ["Gold", "Silver", 1, 50.0], ["Gold", "Gold", 1, 50.0]]
    assert r["summary"]["at_start"] == {"Member": 2, "Silver": 0, "Gold": 2}
    assert r["summary"]["at_end"] == {"Member": 1, "Silver": 2, "Gold": 1}


def test_lifecycle(history):
    ctx, _ = history
    r = run_report(ctx, "lifecycle", **Q1)
    # 2025-12-31 -> 2026-03-31: A lapsed -> lapsed (303 days), B lapsed -> active (back 2026-02-01, 58 days ago),
    # C at_risk (60 days, no second purchase) -> active, D none -> at_risk (49 days > 45, no second purchase)
    assert r["summary"]["stages"] == {"new": 0, "active": 2, "at_risk": 1, "lapsed": 1, "reactivated": 0}
    assert r["summary"]["moved"] == 3
    assert r["summary"]["moves"] == [{"from": "at_risk", "to": "active", "members": 1},
                                     {"from": "lapsed", "to": "active", "members": 1},
                                     {"from": "none", "to": "at_risk", "members": 1}]


def test_rfm(history):
    ctx, _ = history
    # as of 2026-03-31: A R1 F2 M3 cant_lose; B R2 F2 M3 loyal; C R2 F2 M3 loyal; D R2 F1 M1 promising
    r = run_report(ctx, "rfm", end="2026-03-31")
    assert r["summary"]["segments"] == {"champions": 0, "loyal": 2, "newcomers": 0, "promising": 1,
                                        "cant_lose": 1, "hibernating": 0}


def test_points_liability(history):
    ctx, _ = history
    # A 1600 + 800 Gold bonus + 600 + 300 = 3300; B 1600 + 800 + 1500 + 750 = 4650;
    # C 100 + 450 + 112 (Silver: 450 x 25 % rounded down) = 662; D 30. Total 8642 points earned, but the
    # 2400 A and B each earned on 2025-02-01 expire 12 months later (2026-02-01) whether or not the upkeep
    # has written it: 8642 - 4800 = 3842 points = 38.42 at 1 cent.
    r = run_report(ctx, "points-liability", end="2026-03-31")
    assert r["summary"] == {"members": 4, "points": 3842, "value_cents": 3842, "point_value_cents": 1}
    assert run_report(ctx, "points-liability", end="2025-12-31")["summary"]["points"] == 3300 + 2400 + 100


def test_rewards_redeemed(history, monkeypatch):
    ctx, ids = history
    # The redemptions are stamped with the till's clock: pinned to one day, so that neither midnight between a
    # redemption and the report nor the calendar (the points below expire from 2027-01-15 on) changes the figures.
    day = "2026-12-01"
    monkeypatch.setattr(rewards, "now_iso", lambda: f"{day}T12:00:00.000000+00:00")
    monkeypatch.setattr(ledger, "now_iso", lambda: f"{day}T12:00:00.000000+00:00")
    manager.add_manager(ctx, "Alice", "4321")
    rewards.redeem(ctx, ids["A"], "R500", "4321")
    rewards.redeem(ctx, ids["A"], "R500", "4321")
    rewards.redeem(ctx, ids["B"], "GIFT20", "4321", points=1000)  # half: 10.00
    r = run_report(ctx, "rewards-redeemed", start=day, end=day)
    assert r["rows"] == [["GIFT20", 1, 1000, 1000, 0], ["R500", 2, 1000, 1000, 0]]
    assert r["summary"] == {"redemptions": 3, "points": 2000}
    after = run_report(ctx, "points-liability", end=day)["summary"]
    # As of that day every bucket of 2025-11-30 or earlier has expired, spent points first out of them (FIFO):
    # A 3300 all old, 1000 spent -> 0; B 2400 old, 1000 spent -> 1400 expire, 2250 left; C 100 old -> 562; D 30.
    assert after["points"] == 0 + 2250 + 562 + 30


def test_contact_list_only_consenting_members(history):
    ctx, ids = history
    # as of 2026-05-01: one purchase 60+ days ago -> A? no (2), B no, C no, D yes (80 days) and consents to email
    r = run_report(ctx, "contact-list", end="2026-05-01", rule="first-purchase-no-second", days=60, channel="email")
    assert r["rows"] == [[ids["D"], None, "d@example.com", "2026-02-10", "2026-02-10"]]
    assert run_report(ctx, "contact-list", end="2026-05-01", channel="sms")["rows"] == []
    assert [row[0] for row in run_report(ctx, "contact-list", end="2026-05-01", rule="no-purchase", days=60,
                                         channel="email")["rows"]] == sorted([ids["C"], ids["D"]])
    manager.add_manager(ctx, "Alice", "4321")
    privacy.erase(ctx, ids["D"], "4321")
    assert run_report(ctx, "contact-list", end="2026-05-01", days=60)["rows"] == []

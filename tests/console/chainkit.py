"""A small two-store chain for the dashboard tests, made through real tills and real sync, with the events it
made kept in plain Python so the tests can work the figures out themselves (docs/marketing.md)."""

from __future__ import annotations

import itertools
import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from cardread import parse_card
from headoffice import upkeep
from headoffice.server import ServerThread
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import manager, offers, rewards
from pos_client.services.members import member_for_card
from pos_client.store.config import write_config
from pos_client.till import open_till
from sync.engine import sync_once
from tests.sync.tillkit import enrol, loyalty, register

NO_TIERS = [{"name": "Member", "min_spend_cents": 0, "multiplier_pct": 100}]
WELCOME = {"id": "welcome", "priority": 100, "conditions": {"max_frequency": 1}, "holdout_pct": 50,
           "action": {"type": "coupon", "kind": "amount_off", "value": 500, "valid_days": 30, "message": "Welcome!"},
           "cap": {"max": 1}}
PROGRAM = {"tiers": NO_TIERS, "offers": [WELCOME], "holdout_key": "dashboard-test"}
CARDS = {"S1": range(1, 15), "S2": range(101, 115)}
PIN = "4321"


@dataclass
class Chain:
    """What was made: each member's home store, sales (day, cents, store), points earned and redemptions."""

    today: date
    snapshot: object
    home: dict[str, str] = field(default_factory=dict)
    sales: dict[str, list[tuple[date, int, str]]] = field(default_factory=dict)
    earned: dict[str, int] = field(default_factory=dict)
    redeemed: list[tuple[str, str, int, int]] = field(default_factory=list)  # member, reward, points, value cents
    targets: list[tuple[str, str, str, date, int]] = field(default_factory=list)  # member, grp, store, day, window

    def members(self, store: str | None) -> list[str]:
        return sorted(m for m, s in self.home.items() if store is None or s == store)

    def days(self, member: str, upto: date) -> list[date]:
        return sorted({d for d, _, _ in self.sales.get(member, []) if d <= upto})


def build(tmp_path, ho_store) -> Chain:
    """Two tills (S1, S2), 14 members each, a year of sales (a fifth at the other store), three rewards
    redeemed today, everything synced, and head office's snapshot refreshed through today.

    The sales are dated days before the day the build starts; enrolments and redemptions take the tills' clock.
    The chain's "today" is read once they are all written: a build that crosses midnight has redeemed "tomorrow",
    and a snapshot through the day it started left those out (the dashboard then disagreed with the tests' count).
    """
    started = datetime.now(UTC).date()
    rng = random.Random(12)
    server = ServerThread(ho_store).start()
    tills = {}
    try:
        for store in CARDS:
            home = tmp_path / f"till-{store}"
            home.mkdir()
            write_config(home, {"store_id": store, "till_id": "T1", "program": PROGRAM})
            tills[store] = open_till(home)
            register(tills[store], ho_store, server.url)
        chain = Chain(started, upkeep.snapshot_path(f"sqlite:///{ho_store.path}"))
        card_of = {}
        for store, cards in CARDS.items():
            for n in cards:
                member = enrol(tills[store], n)
                chain.home[member.member_id], card_of[member.member_id] = store, n
        for _ in range(2):
            for ctx in tills.values():
                sync_once(ctx)
        visits = []
        for member_id, store in chain.home.items():
            for _ in range(rng.choice([0, 1, 1, 2, 3, 4, 6])):
                where = store if rng.random() < 0.8 else ("S2" if store == "S1" else "S1")
                day = started - timedelta(days=rng.randint(1, 330))
                visits.append((day, member_id, where, rng.randint(1000, 120000)))
        for day, member_id, where, cents in sorted(visits):
            ctx = tills[where]
            member = member_for_card(ctx, parse_card(loyalty(card_of[member_id])))
            basket = Basket(member_id=member.member_id, card_number=loyalty(card_of[member_id]))
            basket.add(Line.keyed(cents))
            sale = commit_sale(ctx, basket, created_at=f"{day.isoformat()}T12:00:00.000000+00:00")
            offers.present(ctx, member_id, sale.sale_id, day)  # the receipt's offer: targets (or holds out) the first
            chain.sales.setdefault(member_id, []).append((day, cents, where))
            chain.earned[member_id] = chain.earned.get(member_id, 0) + sale.points_earned
        for _ in range(2):  # twice round: each till learns the points earned at the other
            for ctx in tills.values():
                sync_once(ctx)
        for ctx in tills.values():
            manager.add_manager(ctx, "Alice", PIN)
        rich = sorted(chain.earned, key=lambda m: (-chain.earned[m], m))
        assert chain.earned[rich[0]] >= 1000 and chain.earned[rich[1]] >= 500
        for member_id, reward in ((rich[0], "R500"), (rich[0], "R500"), (rich[1], "R500")):
            out = rewards.redeem(tills[chain.home[member_id]], member_id, reward, PIN)
            chain.redeemed.append((member_id, reward, out["points_spent"], out["value"]))
        for ctx in tills.values():
            chain.targets += [(r[0], r[1], ctx.store_id, date.fromisoformat(r[2]), int(r[3])) for r in ctx.conn.execute(
                "SELECT member_id, grp, day, window_days FROM offer_targets WHERE holdout_bp > 0 AND store_id = ?",
                (ctx.store_id,))]
        for _ in range(2):
            for ctx in tills.values():
                sync_once(ctx)
    finally:
        for ctx in tills.values():
            ctx.close()
        server.stop()
    chain.today = datetime.now(UTC).date()  # after every row stamped with the clock (see above)
    upkeep.refresh(ho_store, chain.snapshot, chain.today)
    return chain


# --- docs/marketing.md, written again here -------------------------------------------------------------------
def _base(days: list[date], d: date) -> str:
    r = (d - days[-1]).days
    if r > 180:
        return "lapsed"
    if (d - days[0]).days <= 30:
        return "new"
    if len(days) == 1:
        return "at_risk" if r > 45 else "active"
    u = statistics.median([(b - a).days for a, b in itertools.pairwise(days)])
    return "at_risk" if r > 2 * u else "active"


def stage(days: list[date], d: date) -> str | None:
    """The lifecycle stage at the end of day d from the purchase days (None: no purchase by then)."""
    days = [x for x in days if x <= d]
    if not days:
        return None
    base = _base(days, d)
    if base in ("lapsed", "new"):
        return base
    for k in range(1, len(days)):
        if (d - days[k]).days <= 30 and _base(days[:k], days[k] - timedelta(days=1)) in ("at_risk", "lapsed"):
            return "reactivated"
    return base

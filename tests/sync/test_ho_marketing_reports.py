"""Marketing reports at head office cover every store: figures checked by hand on a tiny chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cardread import parse_card
from headoffice.marketing_reports import run
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.members import member_for_card
from sync.engine import sync_once
from tests.sync.tillkit import enrol, loyalty, register

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sale_on(ctx, card_no: int, cents: int, day: str) -> None:
    member = member_for_card(ctx, parse_card(loyalty(card_no)))
    basket = Basket(member_id=member.member_id, card_number=loyalty(card_no))
    basket.add(Line.keyed(cents))
    commit_sale(ctx, basket, created_at=f"{day}T12:00:00.000000+00:00")


def test_new_customers_and_liability_across_two_stores(make_till, ho_store, headoffice, tmp_path):
    s1, s2 = make_till("S1", "T1"), make_till("S2", "T1")
    for till in (s1, s2):
        register(till, ho_store, headoffice.url)
    enrol(s1, 1), enrol(s1, 2)
    sale_on(s1, 1, 2000, "2026-01-10")  # member 1: first purchase ever, in Q1
    sale_on(s1, 1, 1000, "2026-02-15")
    sale_on(s1, 2, 3000, "2025-11-05")  # member 2: first purchase before Q1...
    sync_once(s1)
    sync_once(s2)  # store 2 learns members 1 and 2
    sale_on(s2, 2, 500, "2026-03-01")  # ...and back in Q1 at the other store
    enrol(s2, 3)
    sale_on(s2, 3, 1200, "2026-03-20")  # member 3: new, at store 2
    sync_once(s2)

    q1 = {"start": "2026-01-01", "end": "2026-03-31"}
    # Active in Q1: members 1, 2, 3. New in Q1: 1 and 3 (member 2 first bought in November). 2 of 3.
    chain = run(ho_store, "new-customers", **q1)["summary"]
    assert (chain["new"], chain["active"]) == (2, 3) and round(chain["new_pct"]) == 67
    # Store 2 alone cannot tell member 2 is a returning customer: it sees 2 new of 2.
    from pos_client.services.marketing.reports import run_report

    alone = run_report(s2, "new-customers", **q1)["summary"]
    assert (alone["new"], alone["active"]) == (2, 2)
    # Liability on 31 March: 20+10 (member 1) + 30+5 (member 2) + 12 (member 3) = 77 points, 3 holders.
    liability = run(ho_store, "points-liability", end="2026-03-31")["summary"]
    assert (liability["members"], liability["points"]) == (3, 77)

    env = {**os.environ, "PYTHONPATH": ROOT}
    db = f"sqlite:///{ho_store.path}"
    out = subprocess.run([sys.executable, "-m", "headoffice", "report", "new-customers", "--from", "2026-01-01",
                          "--to", "2026-03-31", "--db", db, "--json"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["summary"]["new"] == 2
    tiers = subprocess.run([sys.executable, "-m", "headoffice", "report", "tier-migration", "--from", "2026-01-01",
                            "--to", "2026-03-31", "--db", db, "--json"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
    assert tiers.returncode == 0, tiers.stderr  # tier changes sync (issue 12): tests/console/test_tier_dashboard.py
    assert sum(json.loads(tiers.stdout)["summary"]["at_end"].values()) >= 3

"""Offers against a control group on a real till: who is held out (the keyed hash, recomputed here), what a
held-out member gets (nothing), and `pos-client report offer-lift` against a computation written in this test
from what the test itself did at the till."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import random
import statistics
from datetime import date, timedelta

import pytest

from pos_client.cli.main import main
from pos_client.domain.lift import t_quantile
from pos_client.services.marketing import offers
from pos_client.services.marketing.receipt import cashier_prompt, receipt_blocks
from tests.marketing.helpers import new_member, sell

NO_TIERS = [{"name": "Member", "min_spend_cents": 0, "multiplier_pct": 100}]
KEY = "test-chain-key"
WELCOME = {"id": "welcome", "priority": 100, "conditions": {"max_frequency": 1}, "holdout_pct": 40,
           "action": {"type": "coupon", "kind": "amount_off", "value": 500, "valid_days": 30, "message": "Welcome!"},
           "cap": {"max": 1}}
ASK = {"id": "ask-email", "priority": 5, "conditions": {"min_frequency": 1}, "holdout_pct": 50,
       "action": {"type": "prompt", "message": "Ask for their e-mail"}, "cap": {"max": 1, "days": 7}}


def held_out(offer_id: str, member_id: str, pct: float, key: str = KEY) -> bool:
    """The assignment as the docs state it, written again here: HMAC-SHA256, 8 bytes, mod 10000, < pct x 100."""
    digest = hmac.new(key.encode(), f"{offer_id}\x1f{member_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % 10000 < pct * 100


def _targets(ctx, member_id):
    return [tuple(r) for r in ctx.conn.execute(
        "SELECT offer_id, grp, holdout_bp, window_days, coupon_code IS NOT NULL FROM offer_targets WHERE member_id = ?"
        " ORDER BY at", (member_id,))]


def _members(ctx, offer_id, pct, want_control, want_treated):
    """Enrol members until there are enough in each group (the hash decides, so the test asks for both)."""
    control, treated = [], []
    while len(control) < want_control or len(treated) < want_treated:
        member_id, _ = new_member(ctx)
        (control if held_out(offer_id, member_id, pct) else treated).append(member_id)
    return control[:want_control], treated[:want_treated]


def test_a_held_out_member_is_recorded_and_gets_nothing(make_ctx):
    ctx = make_ctx({"tiers": NO_TIERS, "offers": [WELCOME], "holdout_key": KEY})
    (c,), (t,) = _members(ctx, "welcome", 40, 1, 1)
    for member in (c, t):
        assert offers.choose(ctx, member, "2026-01-05") is None  # no purchase yet: not targeted
    sale_c = sell(ctx, c, 2000, "2026-01-05")
    assert offers.choose(ctx, c, "2026-01-05").offer.id == "welcome"  # targeted ...
    assert offers.best_offer(ctx, c, "2026-01-05") is None  # ... but held out
    assert receipt_blocks(ctx, sale_c.sale_id) == []  # no coupon, no message
    assert receipt_blocks(ctx, sale_c.sale_id) == []  # a reprint: still nothing, recorded once
    assert _targets(ctx, c) == [("welcome", "control", 4000, 30, 0)]
    assert ctx.conn.execute("SELECT COUNT(*) FROM offer_log WHERE member_id = ?", (c,)).fetchone()[0] == 0
    assert ctx.conn.execute("SELECT COUNT(*) FROM coupons WHERE member_id = ?", (c,)).fetchone()[0] == 0
    sale_c2 = sell(ctx, c, 2000, "2026-01-20")
    assert offers.choose(ctx, c, "2026-01-20") is None  # the cap counts the held-out visit too
    assert receipt_blocks(ctx, sale_c2.sale_id) == [] and len(_targets(ctx, c)) == 1

    sale_t = sell(ctx, t, 2000, "2026-01-05")
    blocks = receipt_blocks(ctx, sale_t.sale_id)
    assert any(b["type"] == "qr" for b in blocks)
    code = ctx.conn.execute("SELECT coupon_code FROM offer_log WHERE member_id = ?", (t,)).fetchone()[0]
    assert _targets(ctx, t) == [("welcome", "treated", 4000, 30, 1)]
    assert ctx.conn.execute("SELECT coupon_code FROM offer_targets WHERE member_id = ?", (t,)).fetchone()[0] == code
    with pytest.raises(Exception, match="append-only"):
        ctx.conn.execute("DELETE FROM offer_targets")


def test_a_held_out_member_gets_no_prompt_and_no_other_offer_instead(make_ctx):
    """The visit belongs to the control group: a lower offer that would apply is not shown in its place."""
    low = {"id": "low", "priority": 1, "conditions": {"min_frequency": 1}, "holdout_pct": 0,
           "action": {"type": "message", "message": "Something else"}}
    ctx = make_ctx({"tiers": NO_TIERS, "offers": [ASK, low], "holdout_key": KEY})
    (c,), (t,) = _members(ctx, "ask-email", 50, 1, 1)
    for member in (c, t):
        sell(ctx, member, 1000, "2026-02-01")
    assert cashier_prompt(ctx, c, "2026-02-02") is None and offers.best_offer(ctx, c, "2026-02-02") is None
    assert cashier_prompt(ctx, t, "2026-02-02") == "Ask for their e-mail"
    low_only = make_ctx({"tiers": NO_TIERS, "offers": [low]}, name="low")
    m, _ = new_member(low_only)
    sell(low_only, m, 1000, "2026-02-01")
    assert offers.best_offer(low_only, m, "2026-02-02").message == "Something else"  # holdout 0: everyone gets it


def test_holdout_share_defaults_and_sticks_to_the_first_record(make_ctx):
    ctx = make_ctx({"tiers": NO_TIERS})
    assert {o.id: o.holdout_pct for o in offers.catalog(ctx)} == {"welcome": 10, "we-miss-you": 10, "points-close": 10}
    assert {o.id: o.window_days for o in offers.catalog(ctx)} == {"welcome": 30, "we-miss-you": 30, "points-close": 30}
    ask = {k: v for k, v in ASK.items() if k != "holdout_pct"} | {"window_days": 14}
    ctx0 = make_ctx({"holdout_pct": 0, "offers": [WELCOME, ask]}, name="zero")
    ctx0_offers = {o.id: o for o in offers.catalog(ctx0)}
    assert ctx0_offers["welcome"].holdout_pct == 40  # the offer's own share wins over [program] holdout_pct
    assert (ctx0_offers["ask-email"].holdout_pct, ctx0_offers["ask-email"].window_days) == (0, 14)
    with pytest.raises(ValueError, match="holdout_pct must be between 0 and 100"):
        offers.catalog(make_ctx({"offers": [{**WELCOME, "holdout_pct": 150}]}, name="bad"))


def _report(home, capsys, *args):
    capsys.readouterr()
    assert main(["report", "offer-lift", *args, "--home", str(home)]) == 0
    return capsys.readouterr().out


def _newcombe(b1, n1, b0, n0, z=1.959963984540054):
    """Newcombe's method 10, written out again from his paper (Stat Med 1998;17:873-890)."""
    def wilson(b, n):
        p = b / n
        a, c, root = 2 * n * p + z * z, 2 * (n + z * z), z * math.sqrt(z * z + 4 * n * p * (1 - p))
        return (a - root) / c, (a + root) / c
    (l1, u1), (l0, u0) = wilson(b1, n1), wilson(b0, n0)
    d = b1 / n1 - b0 / n0
    return d - math.hypot(b1 / n1 - l1, u0 - b0 / n0), d + math.hypot(u1 - b1 / n1, b0 / n0 - l0)


def test_offer_lift_report_equals_an_independent_computation(make_ctx, capsys):
    """120 members make a first purchase over ten days (the welcome offer, 40 % held out); treated members come
    back more often and some use the coupon. Visits on the targeting day, on day 30 and on day 31 after it test
    the window's edges. The test keeps its own list of visits and computes every figure from it."""
    ctx = make_ctx({"tiers": NO_TIERS, "offers": [WELCOME], "holdout_key": KEY})
    rng = random.Random(11)
    visits: dict[str, list[tuple[date, int, bool]]] = {}
    first: dict[str, date] = {}
    members = []
    for i in range(120):
        member_id, _ = new_member(ctx)
        members.append(member_id)
        day = date(2026, 1, 5) + timedelta(days=i % 10)
        first[member_id] = day
        sale = sell(ctx, member_id, 1500, day.isoformat())
        receipt_blocks(ctx, sale.sale_id)  # the receipt prints the offer (or, held out, nothing)
        visits[member_id] = []
    edges = {members[0]: 0, members[1]: 30, members[2]: 31, members[3]: 30, members[4]: 31}
    for member_id in members:
        control = held_out("welcome", member_id, 40)
        offsets = [edges[member_id]] if member_id in edges else (
            [rng.randint(1, 45)] if rng.random() < (0.35 if control else 0.55) else [])
        for k in offsets:
            day = first[member_id] + timedelta(days=k)
            amount = rng.randint(8, 60) * 100
            code = None
            if not control and k <= 30 and rng.random() < 0.6:
                code = ctx.conn.execute("SELECT coupon_code FROM offer_log WHERE member_id = ?",
                                        (member_id,)).fetchone()[0]
            sale = sell(ctx, member_id, amount, day.isoformat(), coupon=code)
            assert sale.total_cents == amount - (500 if code else 0)
            visits[member_id].append((day, amount - (500 if code else 0), code is not None))
    # a member first targeted after the period is not in the report
    late, _ = new_member(ctx)
    receipt_blocks(ctx, sell(ctx, late, 1500, "2026-02-20").sale_id)

    expected = {"treated": [], "control": []}
    for member_id in members:
        t0 = first[member_id]
        in_window = [(amount, used) for day, amount, used in visits[member_id] if t0 < day <= t0 + timedelta(days=30)]
        group = "control" if held_out("welcome", member_id, 40) else "treated"
        expected[group].append((bool(in_window), sum(a for a, _ in in_window), any(u for _, u in in_window)))
    home = ctx.home
    out = json.loads(_report(home, capsys, "--offer", "welcome", "--from", "2026-01-01", "--to", "2026-01-31",
                             "--json"))
    rows = {r[0]: r for r in out["rows"]}
    for group, outcomes in expected.items():
        n, b = len(outcomes), sum(o[0] for o in outcomes)
        revenue, redeemed = sum(o[1] for o in outcomes), sum(o[2] for o in outcomes)
        assert rows[group][:6] == [group, n, b, round(100 * b / n, 1), revenue, (2 * revenue + n) // (2 * n)]  # half up
        if group == "treated":
            assert rows[group][6:] == [redeemed, round(100 * redeemed / n, 1)] and redeemed > 0
        else:
            assert rows[group][6:] == [None, None] and redeemed == 0
    (b1, n1), (b0, n0) = ((sum(o[0] for o in expected[g]), len(expected[g])) for g in ("treated", "control"))
    lift = out["summary"]["lift"]
    assert lift["bought_diff"] == pytest.approx(b1 / n1 - b0 / n0)
    assert lift["bought_diff_ci"] == pytest.approx(_newcombe(b1, n1, b0, n0), abs=1e-9)
    rr, se = (b1 / n1) / (b0 / n0), math.sqrt(1 / b1 - 1 / n1 + 1 / b0 - 1 / n0)
    z = 1.959963984540054
    assert lift["bought_ratio"] == pytest.approx(rr)
    assert lift["bought_ratio_ci"] == pytest.approx([rr * math.exp(-z * se), rr * math.exp(z * se)], abs=1e-9)
    r1, r0 = [o[1] for o in expected["treated"]], [o[1] for o in expected["control"]]
    a, c = statistics.variance(r1) / len(r1), statistics.variance(r0) / len(r0)
    df = (a + c) ** 2 / (a * a / (len(r1) - 1) + c * c / (len(r0) - 1))
    diff = statistics.mean(r1) - statistics.mean(r0)
    half = t_quantile(0.975, df) * math.sqrt(a + c)
    assert lift["revenue_per_member_diff_cents"] == pytest.approx(diff)
    assert lift["welch_df"] == pytest.approx(df)
    assert lift["revenue_per_member_diff_ci_cents"] == pytest.approx([diff - half, diff + half], abs=1e-6)
    summary = out["summary"]
    assert summary["window_days"] == [30] and summary["not_randomised"] == 0
    big_enough = min(n1, n0) >= 30 and min(b1, n1 - b1, b0, n0 - b0) >= 5
    assert summary["conclusive"] is big_enough and (summary["too_small"] == []) is big_enough

    text = _report(home, capsys, "--offer", "welcome", "--from", "2026-01-01", "--to", "2026-01-31")
    assert text.startswith("Offer lift  2026-01-01 to 2026-01-31")
    assert "Revenue per member" in text and "Rule: too small to conclude unless each group has at least 30" in text
    assert f"Offer welcome: {n1} treated, {n0} held out (window 30 days after the visit)" in text
    csv_lines = _report(home, capsys, "--offer", "welcome", "--from", "2026-01-01", "--to", "2026-01-31",
                        "--csv").splitlines()
    assert csv_lines[0] == ("group,members,bought,bought_pct,revenue_cents,revenue_per_member_cents,redeemed,"
                            "redemption_pct")

    # a period with few members says so plainly
    text = _report(home, capsys, "--offer", "welcome", "--from", "2026-01-05", "--to", "2026-01-05")
    assert "Too small to conclude: the treated group has" in text
    capsys.readouterr()
    assert main(["report", "offer-lift", "--home", str(home)]) == 2  # which offer?
    assert "offer-lift needs --offer ID: one of welcome" in capsys.readouterr().err


def test_offers_printed_before_the_migration_count_for_caps_but_not_as_randomised(make_ctx):
    """A till upgraded to m0410: its `offer_log` rows become 'treated' targetings with no holdout (0 basis
    points), so the cap still holds, and the report leaves them out (counted as not randomised)."""
    ctx = make_ctx({"tiers": NO_TIERS, "offers": [{**WELCOME, "holdout_pct": 0}]})
    a, _ = new_member(ctx)
    sale = sell(ctx, a, 2000, "2026-01-05")
    assert any(b["type"] == "qr" for b in receipt_blocks(ctx, sale.sale_id))
    home = ctx.home
    ctx.conn.execute("DROP TABLE offer_targets")  # back to the schema before m0410 ...
    ctx.conn.execute("DELETE FROM schema_migrations WHERE name = 'm0410_offer_holdout'")
    ctx.conn.commit()
    ctx.close()
    ctx = make_ctx(name=home.name)  # ... and open it again: m0410 runs and copies offer_log
    assert _targets(ctx, a) == [("welcome", "treated", 0, 30, 1)]
    store = ctx.conn.execute("SELECT store_id, till_id, day FROM offer_targets").fetchone()
    assert tuple(store) == (ctx.store_id, ctx.till_id, "2026-01-05")
    assert offers.choose(ctx, a, "2026-01-06") is None  # capped (max 1) by the copied row
    summary = offers_report(ctx)
    assert summary["not_randomised"] == 1 and summary["groups"]["treated"]["members"] == 0


def offers_report(ctx):
    from pos_client.services.marketing.reports import run_report

    return run_report(ctx, "offer-lift", start="2026-01-01", end="2026-01-31", offer="welcome")["summary"]


# offer-lift at head office, across stores, through real sync: tests/sync/test_ho_offer_lift.py

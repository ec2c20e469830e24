"""offer-lift at head office, across stores, through real sync (issue 10): two tills in two stores target members
with the welcome offer (half held out), members come back at either store and use their coupon anywhere, and
head office's report equals a computation written here over both tills' own targetings, sales and coupon uses.
A member targeted at one store who came back at the other bought, which neither store sees alone."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import random
from datetime import date, timedelta

from cardread import parse_card
from headoffice.cli import main as headoffice_main
from headoffice.marketing_reports import run, snapshot
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import offers
from pos_client.services.marketing.coupons import apply_coupon
from pos_client.services.marketing.offer_lift import targeted
from pos_client.services.marketing.reports import run_report
from pos_client.services.members import member_for_card
from sync.engine import sync_once
from tests.sync.tillkit import enrol, loyalty, register

KEY = "chain-key-test"
NO_TIERS = [{"name": "Member", "min_spend_cents": 0, "multiplier_pct": 100}]
WELCOME = {"id": "welcome", "priority": 100, "conditions": {"max_frequency": 1}, "holdout_pct": 50,
           "action": {"type": "coupon", "kind": "amount_off", "value": 500, "valid_days": 30, "message": "Welcome!"},
           "cap": {"max": 1}}
PROGRAM = {"tiers": NO_TIERS, "offers": [WELCOME], "holdout_key": KEY}
START, END = date(2026, 1, 1), date(2026, 1, 31)
PER_STORE = 40


def held_out(offer_id: str, member_id: str, pct: float) -> bool:
    """The assignment as docs/offer-lift.md states it: HMAC-SHA256, first 8 bytes, mod 10000, < pct x 100."""
    digest = hmac.new(KEY.encode(), f"{offer_id}\x1f{member_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % 10000 < pct * 100


def visit(ctx, card_no: int, cents: int, day: date, coupon: str | None = None):
    member = member_for_card(ctx, parse_card(loyalty(card_no)))
    basket = Basket(member_id=member.member_id, card_number=loyalty(card_no))
    basket.add(Line.keyed(cents))
    if coupon:
        apply_coupon(ctx, basket, coupon, as_of=day)
    return member.member_id, commit_sale(ctx, basket, created_at=f"{day.isoformat()}T12:00:00.000000+00:00")


def sync_all(*tills) -> None:
    for till in (*tills, *tills):  # twice round: every till pulls what the others pushed
        sync_once(till)


def own(ctx, sql: str) -> list[tuple]:
    return [tuple(r) for r in ctx.conn.execute(sql + " WHERE store_id = ? AND till_id = ?",
                                               (ctx.store_id, ctx.till_id))]


def expected(tills, start: date, end: date) -> dict[str, tuple[str, bool, int, bool]]:
    """docs/offer-lift.md over the tills' own rows: member -> (group, bought, revenue, redeemed)."""
    targets = [t for ctx in tills for t in own(ctx, "SELECT offer_id, member_id, sale_id, grp, holdout_bp, window_days,"
                                                    " coupon_code, day, at FROM offer_targets")]
    sales = [s for ctx in tills for s in own(ctx, "SELECT sale_id, member_id, total_cents, created_at FROM sales")]
    sale_day = {s[0]: date.fromisoformat(s[3][:10]) for s in sales}
    uses = [u for ctx in tills for u in own(ctx, "SELECT code, sale_id FROM coupon_uses")]
    first: dict[str, tuple] = {}
    for t in sorted(targets, key=lambda t: (t[7], t[8], t[2])):
        if t[0] == "welcome" and t[4] > 0 and start <= date.fromisoformat(t[7]) <= end:
            first.setdefault(t[1], t)
    out = {}
    for member_id, (_, _, _, grp, _, window, code, day, _) in first.items():
        lo, hi = date.fromisoformat(day) + timedelta(days=1), date.fromisoformat(day) + timedelta(days=window)
        mine = [s for s in sales if s[1] == member_id and lo <= sale_day[s[0]] <= hi]
        redeemed = code is not None and any(c == code and lo <= sale_day[sid] <= hi for c, sid in uses)
        out[member_id] = (grp, bool(mine), sum(s[2] for s in mine), redeemed)
    return out


def rows_of(outcomes: dict[str, tuple[str, bool, int, bool]]) -> list[list]:
    rows = []
    for grp in ("treated", "control"):
        got = [o for o in outcomes.values() if o[0] == grp]
        n, b, rev, red = len(got), sum(o[1] for o in got), sum(o[2] for o in got), sum(o[3] for o in got)
        rows.append([grp, n, b, round(100 * b / n, 1), rev, math.floor(rev / n + 0.5),
                     red if grp == "treated" else None, round(100 * red / n, 1) if grp == "treated" else None])
    return rows


def newcombe(b1: int, n1: int, b0: int, n0: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Newcombe's method 10 (Stat Med 1998), from Wilson's intervals written as in his paper."""
    def wilson(b, n):
        p = b / n
        a, c, root = 2 * n * p + z * z, 2 * (n + z * z), z * math.sqrt(z * z + 4 * n * p * (1 - p))
        return (a - root) / c, (a + root) / c
    (l1, u1), (l0, u0) = wilson(b1, n1), wilson(b0, n0)
    p1, p0 = b1 / n1, b0 / n0
    return p1 - p0 - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), p1 - p0 + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def test_offer_lift_across_two_stores_equals_the_computation_over_both_tills(make_till, ho_store, headoffice,
                                                                                tmp_path, capsys):
    s1, s2 = make_till("S1", "T1", **PROGRAM), make_till("S2", "T1", **PROGRAM)
    for till in (s1, s2):
        register(till, ho_store, headoffice.url)
    home = {n: (s1, s2) if n <= PER_STORE else (s2, s1) for n in range(1, 2 * PER_STORE + 2)}
    for n, (here, _) in home.items():
        enrol(here, n)
    sync_all(s1, s2)  # every member and both tills' coupon keys are known at both stores

    rng = random.Random(20260101)
    first: dict[int, tuple[str, date, str | None]] = {}  # card -> (member, t0, coupon token)
    for n, (here, _) in home.items():
        t0 = date(2026, 2, 10) if n == 2 * PER_STORE + 1 else START + timedelta(days=1 + n % 20)  # the last: Feb
        member_id, sale = visit(here, n, rng.randrange(500, 5000), t0)
        shown = offers.present(here, member_id, sale.sale_id, t0)
        assert (shown is None) == held_out("welcome", member_id, 50)  # the same group at either store
        first[n] = (member_id, t0, shown["coupon"].token if shown else None)
    sync_all(s1, s2)
    assert all(ctx.conn.execute("SELECT COUNT(*) FROM offer_targets").fetchone()[0] == len(home) for ctx in (s1, s2))
    assert s1.conn.execute("SELECT COUNT(*) FROM sync_outbox WHERE type = 'offer_target'").fetchone()[0] == 0

    # hand-made cases: card 1 (home S1) comes back only at S2 on t0+30, the window's last day; card 2 on t0+31
    # (just out); card 3 on t0 itself (the visit's day is not in the window); the first treated member of S2
    # uses their coupon at S1 on t0+5
    visit(s2, 1, 1234, first[1][1] + timedelta(days=30))
    visit(s1, 2, 2000, first[2][1] + timedelta(days=31))
    visit(s1, 3, 900, first[3][1])
    cross = next(n for n in range(PER_STORE + 1, 2 * PER_STORE + 1) if first[n][2])
    visit(s1, cross, 2500, first[cross][1] + timedelta(days=5), coupon=first[cross][2])
    for n in range(4, 2 * PER_STORE + 2):  # the rest: treated come back more often, at either store
        if n == cross:
            continue
        member_id, t0, token = first[n]
        for _ in range(rng.choice((1, 1, 2))):
            if rng.random() < (0.6 if token else 0.3):
                k = rng.randrange(1, 40)
                use = token if token and k <= 25 and rng.random() < 0.5 else None
                visit(rng.choice((s1, s2)), n, rng.randrange(300, 8000), t0 + timedelta(days=k), coupon=use)
                token = None if use else token
    sync_all(s1, s2)

    want = expected((s1, s2), START, END)
    m1 = first[1][0]
    assert want[m1][1:3] == (True, 1234) and not want[first[2][0]][1] and not want[first[3][0]][1]
    assert first[2 * PER_STORE + 1][0] not in want and len(want) == 2 * PER_STORE
    assert want[first[cross][0]] == ("treated", True, 2000, True)  # redeemed at the other store (2,500 - 5.00)
    treated = [o for o in want.values() if o[0] == "treated"]
    assert 10 < len(treated) < 2 * PER_STORE - 10

    report = run(ho_store, "offer-lift", start=START.isoformat(), end=END.isoformat(), offer="welcome")
    assert report["rows"] == rows_of(want)
    groups = report["summary"]["groups"]
    n1, b1 = groups["treated"]["members"], groups["treated"]["bought"]
    n0, b0 = groups["control"]["members"], groups["control"]["bought"]
    lift = report["summary"]["lift"]
    assert math.isclose(lift["bought_diff"], b1 / n1 - b0 / n0, abs_tol=1e-12)
    assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(lift["bought_diff_ci"], newcombe(b1, n1, b0, n0),
                                                                  strict=True))
    assert report["summary"]["not_randomised"] == 0

    # member by member, head office's snapshot gives what the tills' rows say
    ctx = snapshot(ho_store, tmp_path / "snap.db")
    try:
        ho = {t.member_id: (t.group, t.outcome.bought, t.outcome.revenue_cents, t.outcome.redeemed)
              for t in targeted(ctx, "welcome", START, END)}
    finally:
        ctx.close()
    assert ho == want

    # neither store sees the comeback of card 1 alone: S1 holds its targeting but not S2's sale
    at_s1 = {t.member_id: t.outcome.bought for t in targeted(s1, "welcome", START, END)}
    assert at_s1[m1] is False
    # a till measures only its own store's targetings (it holds S2's, synced for the caps, but not S2's sales)
    own_s1 = {first[n][0] for n, (here, _) in home.items() if here is s1 and first[n][0] in want}
    assert set(at_s1) == own_s1
    assert run_report(s1, "offer-lift", start=START, end=END, offer="welcome")["rows"] != report["rows"]

    capsys.readouterr()
    db = f"sqlite:///{ho_store.path}"
    args = ["report", "offer-lift", "--offer", "welcome", "--from", "2026-01-01", "--to", "2026-01-31", "--db", db]
    assert headoffice_main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == rows_of(want)
    assert headoffice_main(args) == 0  # the aligned table a person reads
    table = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()
             if line.startswith(("treated ", "control "))}
    assert table == {"treated": [str(n1), str(b1)], "control": [str(n0), str(b0)]}
    assert headoffice_main([*args, "--csv"]) == 0
    lines = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert lines[1][:3] == ["treated", str(n1), str(b1)] and lines[2][:3] == ["control", str(n0), str(b0)]
    assert headoffice_main(["report", "offer-lift", "--db", db]) == 2
    assert "offer-lift needs --offer ID: one of welcome" in capsys.readouterr().err


def test_a_cap_counts_targetings_at_every_store_once_they_sync(make_till, ho_store, headoffice):
    """A prompt capped at once per member, shown at S1: after a sync S2 holds that targeting and does not
    prompt again; before it, S2 could not know."""
    ask = {"id": "ask-email", "priority": 5, "conditions": {"min_frequency": 1}, "holdout_pct": 0,
           "action": {"type": "prompt", "message": "Ask for their e-mail"}, "cap": {"max": 1}}
    program = {"tiers": NO_TIERS, "offers": [ask], "holdout_key": KEY}
    s1, s2 = make_till("S1", "T1", **program), make_till("S2", "T1", **program)
    for till in (s1, s2):
        register(till, ho_store, headoffice.url)
    enrol(s1, 1)
    sync_all(s1, s2)
    day = date(2026, 3, 2)
    member_id, sale = visit(s1, 1, 1000, day)
    visit(s2, 1, 1000, day)
    assert offers.present(s1, member_id, sale.sale_id, day)["offer_id"] == "ask-email"
    assert offers.choose(s2, member_id, day + timedelta(days=1)).offer.id == "ask-email"  # S2 does not know yet
    sync_all(s1, s2)
    assert offers.choose(s2, member_id, day + timedelta(days=1)) is None  # capped chain-wide
    row = s2.conn.execute("SELECT store_id, grp, holdout_bp FROM offer_targets").fetchone()
    assert tuple(row) == ("S1", "treated", 0)
    assert s2.conn.execute("SELECT COUNT(*) FROM sync_outbox WHERE type = 'offer_target'").fetchone()[0] == 0

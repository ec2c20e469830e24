"""second-purchase, reactivation, retention (and the lifecycle view) on a tiny log worked out by hand, then on
a generated log of a thousand members on a real till against computations written here from docs/marketing.md
(from the generated log itself, never read back through the code under test)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from pos_client.cli.main import main
from pos_client.services.marketing import lifecycle, stage_review
from pos_client.services.marketing.report_text import render_text
from pos_client.services.marketing.reports import render_csv, run_report
from pos_client.till import open_till
from tests.marketing.gen_log import distinct_days, generate, ref_stage
from tests.marketing.helpers import new_member, sell

Q1 = {"start": "2026-01-01", "end": "2026-03-31"}

TINY = {  # member -> [(day, cents)]
    "A": [("2025-06-01", 1000), ("2025-06-20", 1000), ("2026-02-10", 2453159)],
    "B": [("2025-10-01", 3000)],
    "C": [("2026-01-05", 1200), ("2026-02-20", 800), ("2026-03-02", 900)],
    "D": [("2026-01-20", 4000), ("2026-03-25", 1500)],
    "E": [("2026-03-10", 2000)],
    "F": [("2026-02-01", 700), ("2026-02-01", 300), ("2026-02-15", 1000)],
    "G": [("2025-11-15", 1000), ("2025-11-25", 1000), ("2026-03-01", 2000), ("2026-03-15", 500)],
    "H": [("2025-12-20", 1500), ("2026-01-10", 1000)],
}


@pytest.fixture
def tiny(tmp_path):
    ctx = open_till(tmp_path / "tiny")
    ids = {}
    for key, sales in TINY.items():
        ids[key], _ = new_member(ctx)
        for d, cents in sales:
            sell(ctx, ids[key], cents, d)
    yield ctx, ids
    ctx.close()


def test_second_purchase_by_hand(tiny):
    ctx, _ = tiny
    r = run_report(ctx, "second-purchase", **Q1, days=60)
    # first purchase in Q1: C (Jan 5, again Feb 20: 46 days), D (Jan 20, again Mar 25: 64 > 60),
    # F (Feb 1, two sales that day, again Feb 15), E (Mar 10, nothing yet: Mar 10 + 60 > Mar 31, still open)
    assert r["rows"] == [["2026-01", 2, 1, 50.0, 0], ["2026-02", 1, 1, 100.0, 0], ["2026-03", 1, 0, 0.0, 1]]
    assert r["total"] == ["total", 4, 2, 50.0, 1]
    assert r["summary"] == {"days": 60, "first_buyers": 4, "bought_again": 2, "bought_again_pct": 50.0,
                            "still_open": 1}
    # as of Feb 19 nobody in the January cohort has bought again yet; both are still inside their 60 days
    # (F, first on Feb 1, bought again on Feb 15)
    early = run_report(ctx, "second-purchase", start="2026-01-01", end="2026-02-19")
    assert early["rows"] == [["2026-01", 2, 0, 0.0, 2], ["2026-02", 1, 1, 100.0, 0]]
    # within 70 days D's second purchase counts too
    assert run_report(ctx, "second-purchase", **Q1, days=70)["rows"][0] == ["2026-01", 2, 2, 100.0, 0]


def test_reactivation_by_hand(tiny):
    ctx, _ = tiny
    r = run_report(ctx, "reactivation", **Q1)
    # at the end of 2025-12-31: A lapsed (194 days), B at risk (one purchase, 91 > 45 days),
    # G at risk (gap 10, 36 > 2 x 10 days), H new; C to F had not bought yet.
    # In Q1: A came back (24,531.59), G came back (20.00 + 5.00), B did not.
    assert r["rows"] == [["at_risk", 2, 1, 50.0, 2500], ["lapsed", 1, 1, 100.0, 2453159]]
    assert r["total"] == ["total", 3, 2, 66.7, 2455659]
    assert r["summary"] == {"members": 3, "came_back": 2, "came_back_pct": 66.7, "spent_cents": 2455659}


def test_retention_by_hand(tiny):
    ctx, _ = tiny
    r = run_report(ctx, "retention", **Q1)
    # January cohort C, D: both in January; C in February; C (Mar 2) and D (Mar 25) in March.
    # February cohort F: February only; March not over... March is observed (it is the last month): 0.
    # March cohort E. Months after March 31 are not observed (None).
    assert r["columns"] == ["cohort", "members", "m0", "m1", "m2"]
    assert r["rows"] == [["2026-01", 2, 2, 1, 2], ["2026-02", 1, 1, 0, None], ["2026-03", 1, 1, None, None]]
    assert r["summary"]["pct_rows"] == [["2026-01", 2, 100.0, 50.0, 100.0], ["2026-02", 1, 100.0, 0.0, None],
                                        ["2026-03", 1, 100.0, None, None]]
    # all cohorts: m1 over the cohorts observed a month on (Jan, Feb): 1 of 3; m2 over January only: 2 of 2
    assert r["total"] == ["total", 4, 4, 1, 2]
    assert r["summary"]["total_pct"] == ["total", 4, 100.0, 33.3, 100.0]


def test_lifecycle_view_with_percentages_by_hand(tiny):
    ctx, _ = tiny
    r = run_report(ctx, "lifecycle", **Q1)
    # at 2026-03-31 (k x u against the days since the last purchase):
    # A active (gaps 19, 235: u = 127; 49 days), B lapsed (181 days), C active (gaps 46, 10: u = 28; 29 <= 56),
    # D reactivated (back Mar 25; at risk the day before: one purchase 63 days earlier), E new (21 days),
    # F at risk (gap 14; 44 > 28), G reactivated (back Mar 1, 30 days ago; at risk the day before: 96 > 2 x 10),
    # H at risk (gap 21; 80 > 42)
    assert r["rows"] == [["new", 1, 12.5], ["active", 2, 25.0], ["at_risk", 2, 25.0], ["lapsed", 1, 12.5],
                         ["reactivated", 2, 25.0]]
    assert r["total"] == ["total", 8, 100.0]


def test_text_output_is_aligned_with_money_percentages_and_totals(tiny):
    ctx, _ = tiny
    text = render_text(run_report(ctx, "reactivation", **Q1))
    lines = text.splitlines()
    assert lines[0] == "Reactivation  2026-01-01 to 2026-03-31"
    table = lines[3:]
    assert table == [
        "Stage at start  Members  Came back  Came back %      Spent",
        "at risk               2          1         50.0      25.00",
        "lapsed                1          1        100.0  24,531.59",
        "--------------  -------  ---------  -----------  ---------",
        "total                 3          2         66.7  24,556.59",
    ]
    value = run_report(ctx, "points-liability", end="2026-03-31")["summary"]["value_cents"]
    assert value > 24531  # A's 24,531.59 sale alone earns 24,531 points (1 cent each)
    euros, cents = divmod(value, 100)
    assert f"{euros:,}.{cents:02d}" in render_text(run_report(ctx, "points-liability", end="2026-03-31"))
    comma = render_text(run_report(ctx, "points-liability", end="2026-03-31"), decimal_separator=",")
    assert f"{euros:,}".replace(",", " ") + f",{cents:02d}" in comma
    retention = render_text(run_report(ctx, "retention", **Q1))
    assert retention.split("% of cohort\n")[1].splitlines() == [
        "Cohort   Members     +0    +1     +2",
        "2026-01        2  100.0  50.0  100.0",
        "2026-02        1  100.0   0.0",
        "2026-03        1  100.0",
        "-------  -------  -----  ----  -----",
        "total          4  100.0  33.3  100.0",
    ]


def test_cli_report_text_json_and_csv(tiny, capsys):
    ctx, _ = tiny
    home = str(ctx.home)
    capsys.readouterr()
    assert main(["report", "second-purchase", "--from", "2026-01-01", "--to", "2026-03-31", "--home", home]) == 0
    text = capsys.readouterr().out
    assert "Second purchase  2026-01-01 to 2026-03-31" in text and "Bought again %" in text
    assert main(["report", "retention", "--from", "2026-01-01", "--to", "2026-03-31", "--home", home, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"][0] == ["2026-01", 2, 2, 1, 2] and out["total"] == ["total", 4, 4, 1, 2]
    assert main(["report", "reactivation", "--from", "2026-01-01", "--to", "2026-03-31", "--home", home,
                 "--csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "stage_at_start,members,came_back,came_back_pct,spent_cents", "at_risk,2,1,50.0,2500",
        "lapsed,1,1,100.0,2453159"]


# --- a generated log of a thousand members on a real till -------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The log of `gen_log.generate` committed sale by sale on a real till (checkout only: reports read sales)."""
    log = generate(1000, seed=3)
    ctx = open_till(tmp_path_factory.mktemp("gen") / "till", marketing=False)
    ctx.conn.execute("PRAGMA synchronous=OFF")  # a throwaway test database: no fsync per sale
    ids = {}
    for key, sales in log.items():
        ids[key], _ = new_member(ctx)
        for d, cents in sorted(sales):
            sell(ctx, ids[key], cents, d.isoformat())
    days = {ids[k]: distinct_days(s) for k, s in log.items()}
    spent = {ids[k]: s for k, s in log.items()}
    yield ctx, days, spent
    ctx.close()


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def test_generated_stage_table(generated):
    ctx, days, _ = generated
    for as_of in (date(2025, 2, 14), date(2025, 9, 30), date(2026, 1, 1), date(2026, 6, 30), date(2026, 12, 31)):
        expected = {m: ref_stage(ds, as_of) for m, ds in days.items()}
        assert stage_review.stages_at(ctx, as_of) == {m: s for m, s in expected.items() if s is not None}
        for m in list(days)[:40]:
            assert lifecycle.stage_at(ctx, m, as_of) == expected[m]
        report = run_report(ctx, "lifecycle", start=as_of - timedelta(days=89), end=as_of)
        counts = Counter(s for s in expected.values() if s is not None)
        assert report["summary"]["stages"] == {s: counts.get(s, 0) for s in lifecycle.STAGES}
        before = {m: ref_stage(ds, as_of - timedelta(days=90)) or "none" for m, ds in days.items()}
        moves = Counter((before[m], s) for m, s in expected.items() if s is not None and before[m] != s)
        assert report["summary"]["moves"] == [{"from": a, "to": b, "members": n} for (a, b), n in sorted(moves.items())]


@pytest.mark.parametrize(("start", "end", "window"), [
    ("2025-03-01", "2025-12-31", 60), ("2025-01-01", "2026-06-30", 30), ("2026-02-01", "2026-04-15", 60)])
def test_generated_second_purchase(generated, start, end, window):
    ctx, days, _ = generated
    s, e = date.fromisoformat(start), date.fromisoformat(end)
    cohorts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for ds in days.values():
        known = [d for d in ds if d <= e]
        if not known or not s <= known[0] <= e:
            continue
        f = known[0]
        row = cohorts[_month(f)]
        row[0] += 1
        again = any(f < d <= f + timedelta(days=window) for d in known)
        row[1] += again
        row[2] += (not again) and f + timedelta(days=window) > e
    r = run_report(ctx, "second-purchase", start=start, end=end, days=window)
    assert [[c, n, a, o] for c, n, a, _, o in r["rows"]] == [[c, *v] for c, v in sorted(cohorts.items())]
    for _, n, a, p, _ in r["rows"]:
        assert p == round(100 * a / n, 1)
    assert sum(v[0] for v in cohorts.values()) > 100


@pytest.mark.parametrize(("start", "end"), [("2026-01-01", "2026-03-31"), ("2025-11-01", "2025-11-30")])
def test_generated_reactivation(generated, start, end):
    ctx, days, sales = generated
    s, e = date.fromisoformat(start), date.fromisoformat(end)
    expected = {"at_risk": [0, 0, 0], "lapsed": [0, 0, 0]}
    for m, ds in days.items():
        stage = ref_stage(ds, s - timedelta(days=1))
        if stage in expected:
            expected[stage][0] += 1
            in_period = [c for d, c in sales[m] if s <= d <= e]
            if in_period:
                expected[stage][1] += 1
                expected[stage][2] += sum(in_period)
    r = run_report(ctx, "reactivation", start=start, end=end)
    assert [[st, n, b, c] for st, n, b, _, c in r["rows"]] == [[st, *v] for st, v in expected.items()]
    assert expected["at_risk"][0] > 20 and expected["lapsed"][0] > 20 and expected["at_risk"][1] > 0


def test_generated_retention(generated):
    ctx, days, _ = generated
    s, e = date(2025, 1, 1), date(2026, 6, 15)
    size: Counter[str] = Counter()
    seen: Counter[tuple[str, int]] = Counter()
    for ds in days.values():
        known = [d for d in ds if d <= e]
        if not known or not s <= known[0] <= e:
            continue
        f = known[0]
        size[_month(f)] += 1
        for k in {_months_between(f, d) for d in known}:
            seen[(_month(f), k)] += 1
    r = run_report(ctx, "retention", start=s, end=e)
    assert len(r["columns"]) == 2 + 18  # Jan 2025 .. Jun 2026
    for row, pct_row in zip(r["rows"], r["summary"]["pct_rows"], strict=True):
        cohort, n = row[0], row[1]
        assert n == size[cohort]
        left = _months_between(date.fromisoformat(cohort + "-01"), e)
        assert row[2:] == [seen[(cohort, k)] if k <= left else None for k in range(18)]
        assert pct_row[2:] == [round(100 * seen[(cohort, k)] / n, 1) if k <= left else None for k in range(18)]
    assert [row[0] for row in r["rows"]] == sorted(size)
    assert render_csv(r).splitlines()[0] == ",".join(r["columns"])

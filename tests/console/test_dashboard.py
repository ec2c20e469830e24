"""The console's dashboard: its figures equal a computation written here from docs/marketing.md over the same
two-store chain (made through real tills and sync), each CSV equals its table, each SVG chart parses and has one
mark per data point, and a manager sees only their own store."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from headoffice import upkeep
from headoffice.app import create_app
from headoffice.cli import main as headoffice_main
from headoffice.console import charts
from headoffice.console.dashboard import tables
from headoffice.console.figures import PeriodError, cache_path, figures, parse_period, snapshot_state, warm_snapshot
from headoffice.marketing_reports import run
from tests.console.chainkit import build, stage

STAGES = ("new", "active", "at_risk", "lapsed", "reactivated")


@pytest.fixture
def console_app(ho_store):
    """The app as `headoffice serve` builds it: its console reads the snapshot beside the SQLite head office."""
    return create_app(ho_store, snapshot=upkeep.snapshot_path(f"sqlite:///{ho_store.path}"))


@pytest.fixture
def chain(tmp_path, ho_store):
    """The chain, its snapshot refreshed and its preset figures computed, as the scheduled refresh leaves them."""
    made = build(tmp_path, ho_store)
    warm_snapshot(made.snapshot)
    return made


def expected(chain, store, start, end):
    """The dashboard's headline figures, from the chain's own event log (docs/marketing.md)."""
    members = chain.members(store)
    days = {m: chain.days(m, end) for m in members}
    active = [m for m in members if any(start <= d <= end for d in days[m])]
    new = [m for m in active if days[m][0] >= start]
    stages = Counter(stage(days[m], end) for m in members if days[m])
    second = {"first": 0, "again": 0, "open": 0}
    for m in members:
        if days[m] and start <= days[m][0] <= end:
            second["first"] += 1
            again = len(days[m]) > 1 and (days[m][1] - days[m][0]).days <= 60
            second["again"] += again
            second["open"] += not again and days[m][0] + timedelta(days=60) > end
    drifting = {m: stage(days[m], start - timedelta(days=1)) for m in members}
    react = {}
    for s in ("at_risk", "lapsed"):
        group = [m for m in members if drifting[m] == s]
        back = [m for m in group if any(start <= d <= end for d in days[m])]
        spent = sum(c for m in back for d, c, _ in chain.sales[m] if start <= d <= end)
        react[s] = [len(group), len(back), spent]
    spent_points = Counter()
    for m, _reward, points, _value in chain.redeemed:
        spent_points[m] += points
    balances = [chain.earned.get(m, 0) - spent_points[m] for m in members]
    redeemed = Counter()
    for m, reward, points, value in chain.redeemed:
        if m in members:
            redeemed[(reward, "n")] += 1
            redeemed[(reward, "points")] += points
            redeemed[(reward, "value")] += value
    return {"members": len(members), "active": len(active), "new": len(new),
            "stages": {s: stages.get(s, 0) for s in STAGES}, "second": second, "react": react,
            "liability": sum(b for b in balances if b > 0), "holders": sum(1 for b in balances if b > 0),
            "redeemed": redeemed}


@pytest.mark.parametrize("store", [None, "S1", "S2"])
def test_figures_equal_an_independent_computation(chain, ho_store, store):
    snap = snapshot_state(chain.snapshot, datetime.now(UTC))
    assert snap is not None and snap.usable and snap.last_day == chain.today
    period = parse_period({"period": "90d"}, snap.last_day)
    assert (period.start, period.end) == (chain.today - timedelta(days=89), chain.today)
    data = figures(snap, store, period)
    want = expected(chain, store, period.start, period.end)
    assert want["active"] and want["liability"] and want["second"]["again"]  # the fixture exercises the figures
    if store is None:
        assert want["react"]["at_risk"][0] + want["react"]["lapsed"][0] and want["redeemed"]
    r = data["reports"]
    assert data["members"] == want["members"]
    assert (r["new-customers"]["summary"]["active"], r["new-customers"]["summary"]["new"]) == (want["active"],
                                                                                              want["new"])
    assert r["lifecycle"]["summary"]["stages"] == want["stages"]
    sp = r["second-purchase"]["summary"]
    assert (sp["first_buyers"], sp["bought_again"], sp["still_open"]) == tuple(want["second"].values())
    assert [[*row[1:3], row[4]] for row in r["reactivation"]["rows"]] == [want["react"]["at_risk"],
                                                                         want["react"]["lapsed"]]
    assert (r["points-liability"]["summary"]["points"], r["points-liability"]["summary"]["members"]) == (
        want["liability"], want["holders"])
    got = {(row[0], k): row[i] for row in r["rewards-redeemed"]["rows"] for i, k in ((1, "n"), (2, "points"),
                                                                                  (3, "value"))}
    assert got == dict(want["redeemed"])
    # the same code as `headoffice report` (chain-wide): equal to the report run on a fresh copy
    if store is None:
        fresh = run(ho_store, "second-purchase", start=period.start, end=period.end)
        assert fresh["rows"] == r["second-purchase"]["rows"]


def test_offer_lift_counts_each_group(chain):
    snap = snapshot_state(chain.snapshot, datetime.now(UTC))
    period = parse_period({"period": "365d"}, snap.last_day)
    lift = figures(snap, None, period)["offer_lift"]
    firsts = {}
    for member, grp, _store, _day, _window in sorted(chain.targets, key=lambda t: t[3]):
        firsts.setdefault(member, grp)
    assert firsts, "the fixture targets members with the welcome offer"
    groups = lift[0]["summary"]["groups"]
    assert (groups["treated"]["members"], groups["control"]["members"]) == (
        sum(g == "treated" for g in firsts.values()), sum(g == "control" for g in firsts.values()))


def test_periods_are_checked():
    last = datetime(2026, 3, 31).date()
    assert parse_period({"from": "2026-01-01", "to": "2026-03-31"}, last).days == 90
    for bad in ({"period": "week"}, {"from": "2026-02-30"}, {"from": "2026-03-02", "to": "2026-03-01"},
                {"to": "2026-04-01"}, {"period": "0d"}):
        with pytest.raises(PeriodError):
            parse_period(bad, last)


class _Tables(HTMLParser):
    """Each `<table data-figure=...>`'s body cells (their data-value), and every inline SVG's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.heads: dict[str, list[str]] = {}
        self._current: str | None = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "data-figure" in a:
            self._current = a["data-figure"]
            self.tables[self._current], self.heads[self._current] = [], []
        elif self._current and tag == "tbody":
            self._in_body = True
        elif self._current and self._in_body and tag == "tr":
            self.tables[self._current].append([])
        elif self._current and self._in_body and tag == "td":
            self.tables[self._current][-1].append(a.get("data-value", ""))

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._current = None


def test_page_tables_csv_and_charts(chain, owner_client):
    page = owner_client.get("/", params={"period": "365d"})
    assert page.status_code == 200, page.text
    assert "snapshot-state" in page.text and "Tier mix and migration" in page.text
    parsed = _Tables()
    parsed.feed(page.text)
    assert {"members", "lifecycle", "second-purchase", "reactivation", "retention"} <= set(parsed.tables)
    for key, rows in parsed.tables.items():
        got = owner_client.get(f"/dashboard/{key}.csv", params={"period": "365d"})
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(got.text)))[1:] == rows, key
    svgs = re.findall(r"<svg .*?</svg>", page.text, re.S)
    assert len(svgs) >= 4
    for svg in svgs:
        root = ET.fromstring(svg)
        marks = [e for e in root.iter() if "mark" in (e.get("class") or "").split()]
        assert marks and all(m.find("{http://www.w3.org/2000/svg}title") is not None for m in marks)
        assert "style=" not in svg
    lifecycle = next(s for s in svgs if 'id="chart-lifecycle"' in s)
    assert len([e for e in ET.fromstring(lifecycle).iter() if "mark" in (e.get("class") or "")]) == len(
        parsed.tables["lifecycle"])
    assert owner_client.get("/dashboard/nothing.csv").status_code == 404
    assert owner_client.get("/", params={"period": "soon"}).status_code == 400


def test_manager_sees_only_their_store(chain, manager_client):
    client = manager_client("S1")
    own = client.get("/", params={"period": "90d"})
    assert own.status_code == 200 and "store S1" in own.text
    snap = snapshot_state(chain.snapshot, datetime.now(UTC))
    want = figures(snap, "S1", parse_period({"period": "90d"}, snap.last_day))
    assert tables(want)[0].rows == [[int(v) if v.lstrip("-").isdigit() else float(v) for v in row]
                                    for row in _parsed(own.text)["members"]]
    for other in ({"store": "S2"}, {"store": "all"}):
        denied = client.get("/", params=other)
        assert denied.status_code == 403 and "data-figure" not in denied.text
        assert client.get("/dashboard/members.csv", params=other).status_code == 403


def _parsed(text):
    p = _Tables()
    p.feed(text)
    return p.tables


def test_no_snapshot_shows_nothing_fake(owner_client, ho_store):
    path = upkeep.snapshot_path(f"sqlite:///{ho_store.path}")
    assert not path.exists()
    page = owner_client.get("/")
    assert page.status_code == 200 and "No marketing snapshot yet" in page.text and "data-figure" not in page.text
    assert owner_client.get("/dashboard/members.csv").status_code == 404
    assert not cache_path(path).exists()


def test_charts_escape_labels_and_mark_every_point():
    svg = charts.stacked_bar_chart("c1", "A <b> & C", ["<x>", "y"], [("s&1", [1, 2]), ("s2", [3, None])])
    root = ET.fromstring(str(svg))
    assert root.find("{http://www.w3.org/2000/svg}title").text == "A <b> & C"
    assert len([e for e in root.iter() if "mark" in (e.get("class") or "")]) == 4
    line = ET.fromstring(str(charts.line_chart("c2", "t", ["a", "b", "c"], [("s", [1.5, None, 3])])))
    assert len([e for e in line.iter() if "mark" in (e.get("class") or "")]) == 2
    bars = ET.fromstring(str(charts.bar_chart("c3", "t", ["a", "b"], [0, 7])))
    assert [e.find("{http://www.w3.org/2000/svg}title").text for e in bars.iter() if e.get("class", "").startswith(
        "mark")] == ["a: 0", "b: 7"]


def test_headoffice_report_store_option_gives_the_dashboard_figures(chain, ho_store, capsys):
    snap = snapshot_state(chain.snapshot, datetime.now(UTC))
    period = parse_period({"period": "90d"}, snap.last_day)
    shown = figures(snap, "S2", period)["reports"]
    capsys.readouterr()
    for name in ("new-customers", "second-purchase", "rewards-redeemed"):
        assert headoffice_main(["report", name, "--store", "S2", "--from", period.start.isoformat(), "--to",
                                period.end.isoformat(), "--db", f"sqlite:///{ho_store.path}", "--json"]) == 0
        out = capsys.readouterr()
        assert "from the marketing snapshot" in out.err
        assert json.loads(out.out)["rows"] == shown[name]["rows"]


def test_the_scheduled_refresh_computes_the_preset_figures_ahead(chain, ho_store):
    tomorrow_night = datetime.combine(chain.today + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=23)
    scheduler = upkeep.UpkeepScheduler(f"sqlite:///{ho_store.path}", chain.snapshot, clock_fn=lambda: tomorrow_night,
                                       after=warm_snapshot)
    assert scheduler.run_once(ho_store) is not None
    snap = snapshot_state(chain.snapshot, tomorrow_night)
    with sqlite3.connect(cache_path(chain.snapshot)) as conn:
        rows = conn.execute("SELECT DISTINCT built_at, scope, start FROM figures WHERE scope != 'stores'").fetchall()
    assert {(b, s) for b, s, _ in rows} == {(snap.built_at, s) for s in ("*", "store:S1", "store:S2")}
    assert len(rows) == 9  # three preset periods each


def test_the_dashboard_in_a_browser(chain, ho_store, chromium, tmp_path):
    """The page as the owner sees it in Debian's chromium: every chart drawn, its table beside it, no CSP
    refusal in the browser's log; the screenshot is the one in the README (CONSOLE_SCREENSHOTS=DIR)."""
    import os
    import shutil

    from selenium.webdriver.common.by import By

    from headoffice.console import accounts
    from headoffice.server import ServerThread
    from tests.console.conftest import PASSWORD, browser_log_in

    accounts.add_user(ho_store, "olivia", "owner", None, PASSWORD)
    server = ServerThread(ho_store, snapshot=chain.snapshot).start()
    try:
        browser = chromium(1280, 900)
        browser_log_in(browser, server.url, "olivia")
        browser.get(server.url + "/?period=365d")
        want = expected(chain, None, chain.today - timedelta(days=364), chain.today)
        main = browser.find_element(By.TAG_NAME, "main")
        assert len(main.find_elements(By.CSS_SELECTOR, "svg")) >= 4
        first_row = [td.text for td in main.find_elements(By.CSS_SELECTOR, "table")[0]
                     .find_elements(By.CSS_SELECTOR, "tbody tr:first-child td")]
        assert first_row[:2] == [str(want["members"]), str(want["active"])], (first_row, want)
        assert not [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, min(height, 2400))
        shot = tmp_path / "dashboard.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
        if os.environ.get("CONSOLE_SCREENSHOTS"):
            shutil.copy(shot, os.path.join(os.environ["CONSOLE_SCREENSHOTS"], "console-dashboard.png"))
    finally:
        server.stop()

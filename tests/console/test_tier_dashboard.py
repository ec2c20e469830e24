"""Tier changes reach head office (issue 12, "the Gold -> Silver question"), end to end.

Two real tills on the real head-office server on loopback: at store S1 a sale upgrades a member and a
quarter-end upkeep downgrades them (Gold -> Silver); at store S2 an import of history makes the same moves.
After sync, head office holds every till's tier rows once (a second push adds nothing), `headoffice report
tier-migration` answers chain-wide and per store, and the dashboard's tier mix and migration equal a count
made here from the tills' own `member_tiers` rows; a store manager sees their store's moves only.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from headoffice import upkeep
from headoffice.app import create_app
from headoffice.cli import main as headoffice_main
from headoffice.server import ServerThread
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.importer import import_sales
from pos_client.services.marketing import upkeep as till_upkeep
from pos_client.store.config import write_config
from pos_client.till import open_till
from sync.engine import sync_once
from tests.console.test_dashboard import _Tables
from tests.sync.tillkit import enrol, loyalty, register

START, END = date(2026, 1, 1), date(2026, 3, 31)  # the first quarter of 2026: its last day is a review day


def _sell(ctx, member_id: str, n: int, day: str, cents: int) -> None:
    basket = Basket(member_id=member_id, card_number=loyalty(n))
    basket.add(Line.keyed(cents))
    commit_sale(ctx, basket, created_at=f"{day}T12:00:00.000000+00:00")


@dataclass
class TierChain:
    snapshot: object
    rows: dict[str, list[tuple[str, str, str, str]]]  # store -> (member, since, created_at, tier) of its till
    home: dict[str, str]  # member -> home store, for the members known by the quarter's end


def _build(tmp_path, ho_store) -> TierChain:
    """S1: sales (upgrades) and the 31 March upkeep (downgrade); S2: the same story imported as history."""
    server = ServerThread(ho_store).start()
    tills = {}
    try:
        for store in ("S1", "S2"):
            home = tmp_path / f"till-{store}"
            home.mkdir()
            write_config(home, {"store_id": store, "till_id": "T1", "program": {}})  # Member, Silver, Gold
            tills[store] = open_till(home)
            register(tills[store], ho_store, server.url)
        a, b = tills["S1"], tills["S2"]
        falls, stays = enrol(a, 1), enrol(a, 2)
        enrol(a, 3)  # never buys: Member throughout
        _sell(a, falls.member_id, 1, "2025-02-10", 160000)  # upgrade to Gold on the sale
        _sell(a, falls.member_id, 1, "2025-06-01", 60000)  # 12 months to 31 March 2026: Silver's spend only
        _sell(a, stays.member_id, 2, "2025-05-01", 160000)  # Gold, and still Gold's spend on 31 March
        assert till_upkeep.run_day(a, END).tier_changes == 1  # the quarter-end downgrade
        history = tmp_path / "history.csv"
        with open(history, "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["sale_id", "card", "date", "amount"])
            out.writerows([["H1", loyalty(101), "2025-01-15", "1600.00"], ["H2", loyalty(101), "2025-05-20", "600.00"],
                           ["H3", loyalty(102), "2025-12-01", "600.00"],
                           ["H4", loyalty(103), "2026-04-15", "10.00"]])  # the replay's days run to the last sale
        import_sales(b, history, enroll_unknown=True)
        for _ in range(2):
            for ctx in tills.values():
                sync_once(ctx)
        rows = {s: [(r[0], r[1], r[2], r[3]) for r in t.conn.execute(
            "SELECT member_id, since, created_at, tier FROM member_tiers ORDER BY rowid")] for s, t in tills.items()}
        home = {r[0]: r[1] for t in tills.values() for r in t.conn.execute("SELECT member_id, store_id FROM members")}
        end = END.isoformat()
        known = {r[0] for t in tills.values() for r in t.conn.execute(  # docs/marketing.md: enrolled or bought by then
            "SELECT member_id FROM members WHERE substr(created_at, 1, 10) <= ? UNION"
            " SELECT member_id FROM sales WHERE member_id IS NOT NULL AND substr(created_at, 1, 10) <= ?", (end, end))}
        # sent twice: head office keeps each change once
        again = {s: t.conn.execute("SELECT COUNT(*) FROM member_tiers").fetchone()[0] for s, t in tills.items()}
        for t in tills.values():
            t.conn.execute("INSERT INTO sync_outbox (type, key) SELECT 'tier_change', CAST(rowid AS TEXT)"
                           " FROM member_tiers")
            sync_once(t)
        assert sum(again.values()) == len([r for rs in rows.values() for r in rs])
    finally:
        for ctx in tills.values():
            ctx.close()
        server.stop()
    path = upkeep.snapshot_path(f"sqlite:///{ho_store.path}")
    upkeep.refresh(ho_store, path, datetime.now(UTC).date())
    return TierChain(path, rows, {m: s for m, s in home.items() if m in known})


@pytest.fixture
def chain(tmp_path, ho_store):
    return _build(tmp_path, ho_store)


@pytest.fixture
def console_app(ho_store):
    return create_app(ho_store, snapshot=upkeep.snapshot_path(f"sqlite:///{ho_store.path}"))


def independent(chain: TierChain, store: str | None) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    """(from, to) moves over the quarter and the tier mix at its end, from the tills' own rows: a member's tier
    on a day is their last change dated on or before it (Member before any)."""
    changes: dict[str, list[tuple[str, str, str]]] = {}
    for rows in chain.rows.values():
        for member, since, created, tier in rows:
            changes.setdefault(member, []).append((since, created, tier))

    def tier_on(member: str, day: date) -> str:
        held = [c for c in sorted(changes.get(member, [])) if c[0] <= day.isoformat()]
        return held[-1][2] if held else "Member"

    members = [m for m, s in chain.home.items() if store is None or s == store]
    moves = Counter((tier_on(m, date(2025, 12, 31)), tier_on(m, END)) for m in members)
    return Counter({k: n for k, n in moves.items() if k[0] != k[1]}), Counter(tier_on(m, END) for m in members)


def test_tier_changes_reach_head_office_once(chain, ho_store):
    held = ho_store._execute("SELECT store_id, member_id, since, created_at, tier, reason FROM tier_changes")
    till_rows = sorted((s, *r) for s, rows in chain.rows.items() for r in rows)
    assert sorted((r[0], r[1], r[2], r[3], r[4]) for r in held) == till_rows
    reasons = Counter((r[0], r[5]) for r in held)
    assert reasons[("S1", "upgrade")] >= 2 and reasons[("S1", "downgrade")] == 1  # sales, then the quarter end
    assert reasons[("S2", "upgrade")] >= 2 and reasons[("S2", "downgrade")] >= 1  # imported history
    assert ho_store.counts()["tier_changes"] == len(till_rows)


@pytest.mark.parametrize("store", [None, "S1", "S2"])
def test_headoffice_report_tier_migration(chain, ho_store, capsys, store):
    moves, _mix = independent(chain, store)
    assert moves[("Gold", "Silver")] >= 1  # the question the figure answers has an answer here
    args = ["report", "tier-migration", "--from", START.isoformat(), "--to", END.isoformat(), "--json",
            "--db", f"sqlite:///{ho_store.path}"]
    assert headoffice_main([*args, *(["--store", store] if store else [])]) == 0
    matrix = json.loads(capsys.readouterr().out)["summary"]["matrix"]
    got = Counter({(a, b): n for a, row in matrix.items() for b, n in row.items() if a != b and n})
    assert got == moves


def _shown(client, query: dict[str, str]) -> tuple[str, _Tables]:
    """The dashboard page once its figures are computed (a page asks for them and refreshes, as a browser does)."""
    deadline = time.monotonic() + 60
    while True:
        page = client.get("/", params=query)
        assert page.status_code == 200, page.text
        if 'id="figures-computing"' not in page.text or time.monotonic() > deadline:
            parsed = _Tables()
            parsed.feed(page.text)
            return page.text, parsed
        time.sleep(0.2)


def test_dashboard_gold_to_silver_equals_the_tills(chain, owner_client):
    query = {"from": START.isoformat(), "to": END.isoformat()}
    text, parsed = _shown(owner_client, query)
    moves, mix = independent(chain, None)
    shown = {(r[0], r[1]): int(r[2]) for r in parsed.tables["tier-migration"]}
    assert shown == dict(moves) and shown[("Gold", "Silver")] == moves[("Gold", "Silver")] == 2
    assert {r[0]: int(r[2]) for r in parsed.tables["tier-mix"]} == {t: mix[t] for t in ("Member", "Silver", "Gold")}
    for key in ("tier-mix", "tier-migration"):
        got = owner_client.get(f"/dashboard/{key}.csv", params=query)
        assert got.status_code == 200 and list(csv.reader(io.StringIO(got.text)))[1:] == parsed.tables[key]
    assert 'id="chart-tier-mix"' in text and 'id="chart-tier-migration"' in text


def test_a_manager_sees_their_store_migration_only(chain, manager_client):
    client = manager_client("S1")
    query = {"from": START.isoformat(), "to": END.isoformat()}
    _text, parsed = _shown(client, query)
    own, _ = independent(chain, "S1")
    chain_wide, _ = independent(chain, None)
    assert own != chain_wide  # S2's imported Gold -> Silver is not S1's
    assert {(r[0], r[1]): int(r[2]) for r in parsed.tables["tier-migration"]} == dict(own)
    for other in ({**query, "store": "S2"}, {**query, "store": "all"}):
        assert client.get("/dashboard/tier-migration.csv", params=other).status_code == 403


def test_tier_figures_in_a_browser(chain, ho_store, chromium, tmp_path):
    """Debian's chromium shows the tier mix and migration charts with their tables (no CSP refusal); the
    screenshot of the two figures is kept in tmp (tier-figures.png)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from headoffice.console import accounts
    from headoffice.console.figures import figures, parse_period, snapshot_state
    from tests.console.conftest import PASSWORD, browser_log_in

    query = {"from": START.isoformat(), "to": END.isoformat()}
    snap = snapshot_state(chain.snapshot, datetime.now(UTC))
    assert snap is not None and snap.last_day is not None
    figures(snap, None, parse_period(query, snap.last_day))  # computed ahead, as upkeep's warm-up does
    accounts.add_user(ho_store, "olivia", "owner", None, PASSWORD)
    server = ServerThread(ho_store, snapshot=chain.snapshot).start()
    try:
        browser = chromium(1280, 900)
        browser_log_in(browser, server.url, "olivia")
        browser.get(f"{server.url}/?from={START.isoformat()}&to={END.isoformat()}")
        WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.ID, "figure-tier-migration"))
        moves, _ = independent(chain, None)
        migration = browser.find_element(By.ID, "figure-tier-migration")
        cells = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                 for tr in migration.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert {(c[0], c[1]): int(c[2]) for c in cells} == dict(moves)
        assert migration.find_elements(By.CSS_SELECTOR, "svg .mark")
        assert not [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
        mix = browser.find_element(By.ID, "figure-tier-mix")
        browser.execute_script("arguments[0].scrollIntoView()", mix)
        browser.set_window_size(1280, 1400)
        shot = tmp_path / "tier-figures.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        server.stop()

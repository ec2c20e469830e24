"""Head office's day's upkeep (issue 10): on a schedule it rebuilds the till-shaped marketing snapshot and
records the day's lifecycle stages on it; it never writes expiry or tiers into its own ledger (the tills
do, and sync brings them). After the scheduled run the reports answer from the snapshot and equal a fresh
computation; the stages recorded are the ones worked out by hand from docs/marketing.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from datetime import time as clock_time

from cardread import parse_card
from headoffice import upkeep
from headoffice.cli import main as headoffice_main
from headoffice.marketing_reports import HO_REPORTS, run
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.members import member_for_card
from sync.engine import sync_once
from tests.ports import start_headoffice
from tests.sync.tillkit import enrol, loyalty, register

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AT = clock_time(22, 0)
OPTIONS = {"start": "2026-01-01", "end": "2026-03-31", "rule": "first-purchase-no-second", "days": 60,
           "channel": "email", "offer": "welcome"}  # what `headoffice report` passes
# card -> stage at the end of 2026-03-31, by docs/marketing.md:
HAND = {
    1: "new",          # first purchase 2026-03-20: 11 days
    2: "reactivated",  # 2025-06-01 then 2026-03-25: lapsed (296 days) the day before, back 6 days ago
    3: "at_risk",      # 2026-01-05, 2026-01-19: usual gap 14, 71 days since > 28
    4: "lapsed",       # 2025-08-01: 242 days > 180
    5: "active",       # 2026-02-01, 03-01, 03-29: gap 28, 2 days since; new on 03-01, so 03-29 is no comeback
}


def sale_on(ctx, card_no: int, cents: int, day: str) -> None:
    member = member_for_card(ctx, parse_card(loyalty(card_no)))
    basket = Basket(member_id=member.member_id, card_number=loyalty(card_no))
    basket.add(Line.keyed(cents))
    commit_sale(ctx, basket, created_at=f"{day}T12:00:00.000000+00:00")


def chain(make_till, ho_store, headoffice):
    s1, s2 = make_till("S1", "T1"), make_till("S2", "T1")
    for till in (s1, s2):
        register(till, ho_store, headoffice.url)
    for n in HAND:
        enrol(s1, n)
    for card, cents, day in [(1, 2000, "2026-03-20"), (2, 3000, "2025-06-01"), (3, 1000, "2026-01-05"),
                             (3, 1500, "2026-01-19"), (4, 2500, "2025-08-01")]:
        sale_on(s1, card, cents, day)
    sync_once(s1)
    sync_once(s2)  # store 2 learns the members
    for card, cents, day in [(2, 4000, "2026-03-25"), (5, 1200, "2026-02-01"), (5, 1300, "2026-03-01"),
                             (5, 1400, "2026-03-29")]:
        sale_on(s2, card, cents, day)
    sync_once(s2)
    return s1, s2


def card_of(ho_store) -> dict[str, int]:
    return {c["member_id"]: int(c["card_number"][7:12]) for c in ho_store.export_rows("cards")}


def ho_ledger(ho_store) -> list[tuple]:
    return sorted((e["entry_id"], e["kind"], e["points"]) for e in ho_store.export_rows("ledger"))


def wait(event, timeout: float = 60.0) -> None:
    assert event.wait(timeout), "the scheduled refresh did not run"
    event.clear()


def test_scheduled_refresh_records_the_days_stages_and_reports_answer_from_it(make_till, ho_store, headoffice,
                                                                               tmp_path):
    s1, _ = chain(make_till, ho_store, headoffice)
    db = f"sqlite:///{ho_store.path}"
    path = upkeep.snapshot_path(db)
    assert path == tmp_path / "headoffice.marketing.db"
    now = [datetime(2026, 3, 31, 21, 59, tzinfo=UTC)]  # before the upkeep time: due through the 30th
    assert upkeep.due_through(now[0], AT) == date(2026, 3, 30)
    now[0] = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)
    ledger_before = ho_ledger(ho_store)

    scheduler = upkeep.UpkeepScheduler(db, path, at=AT, tick=0.05, clock_fn=lambda: now[0]).start()
    try:
        wait(scheduler.ran)  # at start: no snapshot yet, so due
        assert scheduler.last is not None and scheduler.last.days == ["2026-03-31"]
        info = upkeep.status(path, AT, now[0])
        assert (info["last_day"], info["stale"]) == ("2026-03-31", False)
        assert ho_ledger(ho_store) == ledger_before  # head office wrote nothing into its ledger

        ctx = upkeep.open_snapshot(path)
        try:
            cards = card_of(ho_store)
            stages = {cards[r["member_id"]]: r["stage"] for r in ctx.conn.execute(
                "SELECT member_id, stage FROM member_stages WHERE since = '2026-03-31'")}
        finally:
            ctx.close()
        assert stages == HAND

        for name in HO_REPORTS:  # every report answers from the snapshot and equals a fresh computation
            answer, source = upkeep.report(ho_store, name, path, at=AT, now=now[0], **OPTIONS)
            assert source.startswith("from the marketing snapshot"), (name, source)
            assert answer == run(ho_store, name, **OPTIONS), name
        lifecycle = upkeep.report(ho_store, "lifecycle", path, at=AT, now=now[0], **OPTIONS)[0]
        assert lifecycle["summary"]["stages"] == {"new": 1, "active": 1, "at_risk": 1, "lapsed": 1,
                                                  "reactivated": 1}

        # the next day: member 4 comes back at store 1; at 22:00 the scheduler records 1 April only
        sale_on(s1, 4, 900, "2026-04-01")
        sync_once(s1)
        stale, source = upkeep.report(ho_store, "new-customers", path, at=AT, now=now[0],
                                      **{**OPTIONS, "start": "2026-04-01", "end": "2026-04-01"})
        assert stale["summary"]["active"] == 0  # the snapshot is as of its build: the sale is not in it yet
        now[0] = datetime(2026, 4, 1, 22, 0, tzinfo=UTC)
        wait(scheduler.ran)
        assert scheduler.last.days == ["2026-04-01"] and scheduler.last.stage_changes == 1
    finally:
        scheduler.stop()
    april = {**OPTIONS, "start": "2026-04-01", "end": "2026-04-01"}
    fresh = upkeep.report(ho_store, "new-customers", path, at=AT, now=now[0], **april)[0]
    assert fresh["summary"]["active"] == 1 and fresh == run(ho_store, "new-customers", **april)
    ctx = upkeep.open_snapshot(path)
    try:
        moves = [(card_of(ho_store)[r["member_id"]], r["prev_stage"], r["stage"], r["since"]) for r in ctx.conn.execute(
            "SELECT member_id, prev_stage, stage, since FROM member_stages WHERE since > '2026-03-31'")]
        assert ctx.conn.execute("SELECT COUNT(*) FROM member_stages").fetchone()[0] == len(HAND) + 1  # carried over
    finally:
        ctx.close()
    assert moves == [(4, "lapsed", "reactivated", "2026-04-01")]
    lifecycle = upkeep.report(ho_store, "lifecycle", path, at=AT, now=now[0], **april)[0]
    assert lifecycle["summary"]["recorded_changes"] == 1  # the stage history lives on in the snapshot
    # every entry in head office's ledger came from a till: the two refreshes added none of their own
    assert {(e["store_id"], e["till_id"]) for e in ho_store.export_rows("ledger")} == {("S1", "T1"), ("S2", "T1")}
    assert len(ho_ledger(ho_store)) == len(ledger_before) + 1  # member 4's sale of 1 April, synced from store 1


def test_upkeep_by_hand_status_and_text_reports(make_till, ho_store, headoffice, tmp_path, capsys):
    chain(make_till, ho_store, headoffice)
    db = f"sqlite:///{ho_store.path}"
    snap = str(tmp_path / "snap" / "marketing.db")
    assert headoffice_main(["upkeep", "--status", "--db", db, "--snapshot", snap]) == 0
    assert "no marketing snapshot yet" in capsys.readouterr().out
    assert headoffice_main(["report", "new-customers", "--from", "2026-01-01", "--to", "2026-03-31", "--db", db,
                            "--snapshot", snap]) == 0
    out = capsys.readouterr()
    assert "from a fresh copy" in out.err and "headoffice upkeep" in out.err  # no snapshot: copied per request

    killed = tmp_path / "snap" / "marketing.db.999.1.building"  # what a refresh killed half-way leaves
    killed.parent.mkdir()
    killed.write_bytes(b"half a snapshot")
    assert headoffice_main(["upkeep", "--db", db, "--snapshot", snap]) == 0
    assert not killed.exists()
    out = capsys.readouterr()
    assert "snapshot rebuilt" in out.err and "up to date" in out.out
    assert headoffice_main(["upkeep", "--status", "--json", "--db", db, "--snapshot", snap]) == 0
    info = json.loads(capsys.readouterr().out)
    today = upkeep.due_through(upkeep.utc_now(), upkeep.DEFAULT_AT).isoformat()
    assert info["last_day"] == today and not info["stale"] and info["runs"][0]["source"] == "headoffice"

    # the text table by default, as at the till: active in Q1 = 1, 2, 3, 5; new = 1, 3, 5 (2 first bought in 2025)
    assert headoffice_main(["report", "new-customers", "--from", "2026-01-01", "--to", "2026-03-31", "--db", db,
                            "--snapshot", snap]) == 0
    out = capsys.readouterr()
    assert "from the marketing snapshot" in out.err
    assert out.out.splitlines() == [
        "New customers  2026-01-01 to 2026-03-31",
        "members who bought in the period; new = first purchase ever in it",
        "",
        "New  Active  New %",
        "  3       4   75.0",
    ]
    assert headoffice_main(["report", "lifecycle", "--from", "2026-01-01", "--to", "2026-03-31", "--db", db,
                            "--snapshot", snap, "--csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["stage,members,pct", "new,1,20.0", "active,1,20.0",
                                                    "at_risk,1,20.0", "lapsed,1,20.0", "reactivated,1,20.0"]
    assert headoffice_main(["report", "lifecycle", "--to", "2026-03-31", "--db", db, "--snapshot", snap,
                            "--json", "--fresh"]) == 0
    out = capsys.readouterr()
    assert "--fresh" in out.err and json.loads(out.out)["summary"]["members"] == 5
    assert headoffice_main(["report", "lifecycle", "--db", db, "--json", "--csv"]) == 2  # one format


def test_serve_runs_the_upkeep_at_start_when_due(make_till, ho_store, headoffice, tmp_path):
    chain(make_till, ho_store, headoffice)
    snap = tmp_path / "served.marketing.db"
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc, _ = start_headoffice([sys.executable, "-m", "headoffice", "serve", "--db", f"sqlite:///{ho_store.path}",
                                "--snapshot", str(snap), "--upkeep-at", "00:00"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not upkeep.status(snap, clock_time(0, 0), upkeep.utc_now())["last_day"]:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "serve did not build the snapshot"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(30)
    info = upkeep.status(snap, clock_time(0, 0), upkeep.utc_now())
    assert info["last_day"] == upkeep.utc_now().date().isoformat() and not info["stale"]
    assert not list(tmp_path.glob("*.building*"))  # nothing left half-built

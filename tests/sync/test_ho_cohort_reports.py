"""second-purchase, reactivation and retention at head office cover every store (issue 10): a member who comes back
at another store came back, which neither store can see alone. Figures worked out by hand."""

from __future__ import annotations

import json

from cardread import parse_card
from headoffice.cli import main as headoffice_main
from headoffice.marketing_reports import run
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing.reports import run_report
from pos_client.services.members import member_for_card
from sync.engine import sync_once
from tests.sync.tillkit import enrol, loyalty, register

Q1 = {"start": "2026-01-01", "end": "2026-03-31"}


def sale_on(ctx, card_no: int, cents: int, day: str) -> None:
    member = member_for_card(ctx, parse_card(loyalty(card_no)))
    basket = Basket(member_id=member.member_id, card_number=loyalty(card_no))
    basket.add(Line.keyed(cents))
    commit_sale(ctx, basket, created_at=f"{day}T12:00:00.000000+00:00")


def test_cohort_reports_across_two_stores(make_till, ho_store, headoffice, capsys):
    s1, s2 = make_till("S1", "T1"), make_till("S2", "T1")
    for till in (s1, s2):
        register(till, ho_store, headoffice.url)
    enrol(s1, 1), enrol(s1, 2)
    sale_on(s1, 1, 2000, "2026-01-05")  # member 1: first purchase at store 1...
    sale_on(s1, 2, 3000, "2025-06-01")  # member 2: one purchase in June: lapsed by 31 December (213 days)
    sync_once(s1)
    sync_once(s2)
    sale_on(s2, 1, 1500, "2026-02-01")  # ...second at store 2, 27 days later
    sale_on(s2, 2, 4000, "2026-02-15")  # member 2 comes back at store 2
    sync_once(s2)

    second = run(ho_store, "second-purchase", **Q1, days=60)
    assert second["rows"] == [["2026-01", 1, 1, 100.0, 0]]
    assert run_report(s1, "second-purchase", **Q1)["rows"] == [["2026-01", 1, 0, 0.0, 0]]  # store 1 alone

    back = run(ho_store, "reactivation", **Q1)
    assert back["rows"] == [["at_risk", 0, 0, 0.0, 0], ["lapsed", 1, 1, 100.0, 4000]]
    assert run_report(s1, "reactivation", **Q1)["rows"][1] == ["lapsed", 1, 0, 0.0, 0]

    retention = run(ho_store, "retention", **Q1)
    assert retention["rows"] == [["2026-01", 1, 1, 1, 0]]  # January, February, not March

    capsys.readouterr()
    db = f"sqlite:///{ho_store.path}"
    assert headoffice_main(["report", "retention", "--from", "2026-01-01", "--to", "2026-03-31", "--db", db,
                            "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["pct_rows"] == [["2026-01", 1, 100.0, 100.0, 0.0]]
    assert headoffice_main(["report", "reactivation", "--from", "2026-01-01", "--to", "2026-03-31", "--db", db,
                            "--csv"]) == 0
    assert capsys.readouterr().out.splitlines()[2] == "lapsed,1,1,100.0,4000"

"""The load test of issue 15 at 20 tills (`make test`): real till homes in 5 stores selling and
syncing against `headoffice serve --workers 2` on a private PostgreSQL, each pulling its own view; no errors,
head office's ledger holds exactly what the tills' own ledgers add up to, and every sale reached exactly the
tills of other stores that follow its member."""

from __future__ import annotations

import pytest

from bench.figures.loadtest import verdict_of
from bench.loadtest import markdown, plan_tills, run_load
from bench.stats import NOT_JUDGED
from headoffice import pgcluster
from tests.parts import missing_part


def followers(plan: list[dict], card: str, sold_at: str) -> set[str]:
    """The tills of stores other than `sold_at` that follow this card's member: its own till (it sells to its
    members), the tills it visits, and its home store's expiry till (T1 pulls `view=store`)."""
    home = next(t["store_id"] for t in plan if card in t["cards"])
    return {f"{t['store_id']}/{t['till_id']}" for t in plan if t["store_id"] != sold_at and (
        card in t["cards"] or card in t["visitors"] or (t["till_id"] == "T1" and t["store_id"] == home))}


def test_plan_is_four_tills_a_store_with_visitors_from_elsewhere():
    plan = plan_tills(200, 50, seed=15)
    assert sorted({t["till_id"] for t in plan}) == ["T1", "T2", "T3", "T4"]
    assert len({c for t in plan for c in t["cards"]}) == 600
    stores = {c: t["store_id"] for t in plan for c in t["cards"]}
    assert all(len(t["visitors"]) == 4 and all(stores[c] != t["store_id"] for c in t["visitors"]) for t in plan)


@pytest.mark.timeout(240)
def test_twenty_tills_no_errors_and_equal_totals(tmp_path):
    if reason := pgcluster.available():
        missing_part(reason)
    run = run_load(tmp_path, workers=2, tills=20, stores=5, seconds=8, sale_every=2, sync_every=2, procs=2,
                   pool=4, durable=False, travel=0.3, quiet_s=0.5)
    assert run["errors"] == 0, run["error_kinds"]
    assert run["quiet_wait"].startswith("waited") and run["quiet_wait_s"] <= 6  # the bounded wait before the window
    assert run["sales"] > 20 and run["till_entries"] >= run["sales"] == len(run["sold"])
    assert (run["ho_entries"], run["ho_points"]) == (run["till_entries"], run["till_points"])
    assert run["totals_equal"]
    assert {"push", "pull", "follow", "sale"} <= set(run["kinds"])  # followed after selling, as a till does
    assert run["lag_n"] > 0 and run["lag_p50_s"] is not None  # other stores' tills saw the sales
    assert "| 2 |" in markdown([run])
    assert set(run["cpu_pct"]) == {"headoffice", "postgresql", "generators", "rest"}
    assert run["cpu_pct"]["postgresql"] > 0 and run["cpu_pct"]["headoffice"] > 0
    assert run["pg_backends"]["samples"] >= 5  # head office's sessions sampled through the window
    # each lag beside its floor (the schedule's share), judged by the bench method (not at this scale)
    assert all(0 <= floor <= lag for _, lag, floor, _, _ in run["lag_samples"])
    # the tills sync on after the window and pull their view: each sale reached exactly the tills of other stores
    # following its member, counted by sale id (two sales may share a timestamp)
    seen: dict[str, set[str]] = {}
    for _, _, _, sale_id, till in run["lag_samples"]:
        seen.setdefault(sale_id, set()).add(till)
    expected = {sale_id: followers(run["plan"], card, store) for sale_id, card, store in run["sold"]}
    assert {s: t for s, t in expected.items() if t} == seen
    assert any(len(t) > 1 for t in seen.values())
    v = verdict_of(run, at_this_scale=False)
    assert v.status == NOT_JUDGED and v.measure.n == run["lag_n"] == v.baseline.n

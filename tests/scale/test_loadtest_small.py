"""The load test of issue 15 at 20 tills (`make test`): real till homes in 5 stores selling and
syncing against `headoffice serve --workers 2` on a private PostgreSQL; no errors, and head office's ledger
holds exactly what the tills' own ledgers add up to."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.figures.loadtest import verdict_of
from bench.loadtest import markdown, run_load
from bench.stats import NOT_JUDGED
from headoffice import pgcluster
from tests.parts import missing_part


@pytest.mark.timeout(180)
def test_twenty_tills_no_errors_and_equal_totals(tmp_path):
    if reason := pgcluster.available():
        missing_part(reason)
    run = run_load(tmp_path, workers=2, tills=20, stores=5, seconds=8, sale_every=2, sync_every=2, procs=2,
                   pool=4, durable=False)
    assert run["errors"] == 0, run["error_kinds"]
    assert run["sales"] > 20 and run["till_entries"] >= run["sales"]
    assert (run["ho_entries"], run["ho_points"]) == (run["till_entries"], run["till_points"])
    assert run["totals_equal"]
    assert {"push", "pull", "sale"} <= set(run["kinds"])
    assert run["lag_n"] > 0 and run["lag_p50_s"] is not None  # other stores' tills saw the sales
    assert "| 2 |" in markdown([run])
    # each lag beside its floor (the schedule's share), judged by the bench method (not at this scale)
    assert all(0 <= floor <= lag for _, lag, floor in run["lag_samples"])
    # the tills sync on after the window: every sale reached each of the 16 tills of the other 4 stores
    assert set(Counter(made for made, _, _ in run["lag_samples"]).values()) == {16}
    v = verdict_of(run, at_this_scale=False)
    assert v.status == NOT_JUDGED and v.measure.n == run["lag_n"] == v.baseline.n

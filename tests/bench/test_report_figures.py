"""The reports' figures on the bench method: several series per round, each judged; end to end at a tiny size."""

from __future__ import annotations

import pytest

from bench.env import BenchEnv
from bench.figures import liability, reports
from bench.figures._series import judge_all, pair
from bench.generate import SIZES, cached_home
from bench.method import Rounds
from bench.stats import MISS, NOISY, NOT_JUDGED, PASS


def test_pair_alternates_the_order_and_fills_the_halves_like_interleave():
    order: list[str] = []
    rounds = Rounds()
    for i in range(4):
        pair(rounds, i, 4, lambda: order.append("A") or [1.0, 1.0], lambda: order.append("B") or 2.0)
    assert order == ["A", "B", "B", "A", "A", "B", "B", "A"]
    assert rounds.measured == ([1.0] * 4, [1.0] * 4) and rounds.baseline == ([2.0, 2.0], [2.0, 2.0])


def series(measured: list[float], baseline: list[float]) -> tuple[Rounds, str, str]:
    half = len(measured) // 2, len(baseline) // 2
    r = Rounds((measured[:half[0]], measured[half[0]:]), (baseline[:half[1]], baseline[half[1]:]))
    return r, "ours", "pandas"


def test_one_missed_series_is_the_figures_miss_and_a_moving_baseline_is_noisy():
    def ok(m, b):
        return m.p99 < 5

    fast = series([1.0, 1.1, 1.0, 1.2], [300.0, 310.0])
    slow = series([6.0, 6.5, 6.1, 7.0], [300.0, 305.0])
    moved = series([1.0, 1.0, 1.0, 1.0], [100.0, 300.0])
    assert judge_all({"a": fast}, ok, unit="s", at_this_scale=True)[0] == PASS
    status, verdicts, judged = judge_all({"a": fast, "b": slow, "c": moved}, ok, unit="s", at_this_scale=True)
    assert status == MISS and verdicts["c"].status == NOISY and judged["would_be"] == MISS
    assert judge_all({"a": fast, "c": moved}, ok, unit="s", at_this_scale=True)[0] == NOISY
    quick = judge_all({"a": fast, "b": slow}, ok, unit="s", at_this_scale=False)
    assert quick[0] == NOT_JUDGED and quick[2]["would_be"] == MISS


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    pytest.importorskip("pandas")
    data = tmp_path_factory.mktemp("bench-data")
    home, stats, _ = cached_home(SIZES["tiny"], 7, data)
    return BenchEnv(home=home, size=SIZES["tiny"], gen=stats, quick=True, seed=1,
                    scratch=tmp_path_factory.mktemp("scratch"))


def test_the_liability_figure_agrees_with_pandas_and_is_not_judged_at_a_small_scale(env):
    fig = liability.run(env)
    assert fig.status == NOT_JUDGED, fig.reason  # an ERROR would mean ours and pandas differ
    assert fig.judged["would_be"] == PASS
    assert fig.measure and fig.baseline and (fig.measure.n, fig.baseline.n) == (6, 2)
    assert set(fig.judged["halves"]) == {str(day) for day in liability.DAYS}


def test_the_reports_figure_judges_every_report_at_both_sites(env):
    fig = reports.run(env)
    assert fig.status == NOT_JUDGED, fig.reason
    assert len(fig.judged["halves"]) == 2 * len(reports.NAMES)
    assert fig.measure and fig.baseline and fig.measure.n == fig.baseline.n == 3

"""The neighbours harness end to end at the tiny size: every receipt printed, every sync round done, never timing."""

from __future__ import annotations

from bench import neighbours
from bench.env import BenchEnv
from bench.generate import SIZES, cached_home


def test_the_harness_prints_syncs_and_counts_pages_per_sale(tmp_path):
    size = SIZES["tiny"]
    home, gen, _ = cached_home(size, 7, tmp_path / "data")
    env = BenchEnv(home=home, size=size, gen=gen, quick=True, seed=7, scratch=tmp_path / "scratch")
    env.scratch.mkdir()
    series, info = neighbours.measure(env, rounds=1, block=neighbours.SKIP + 2, gap=0.12)
    assert set(series) == set(neighbours.MODES)
    for s in series.values():  # two blocks per mode, two timed sales in each
        assert len(s.ms) == len(s.pages) == len(s.neighbour_ms) == 4
        assert all(ms > 0 for ms in s.ms) and all(p >= 0 for p in s.pages)
    assert info["receipts printed"] == 2 * (neighbours.SKIP + 2)
    assert info["sync failures"] == 0 and info["sync rounds"] >= 2 * (neighbours.SKIP + 2)
    assert "balances" in str(info["a round after a sale: pushed batches / pulled pages / pulled"])
    text = neighbours.report(series, info, env, None)
    assert "| print | 4 |" in text and "| sync | 4 |" in text

"""The bench method's judge on synthetic samples: verdicts follow the numbers, noise is never a PASS."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from datetime import UTC, datetime

from bench import machine
from bench.background import Watch
from bench.env import BenchEnv
from bench.figures.loadtest import judged_loads
from bench.generate import SIZES, GenStats, cached_home
from bench.method import (
    JUDGED_LOAD,
    Rounds,
    cpu_probe,
    interleave,
    judge,
    loads_judged,
    overload_rule,
    wait_until_quiet,
)
from bench.scratch import setup_note, writable_home
from bench.stats import MISS, NOISY, NOT_JUDGED, PASS, Figure, Measure, claimable
from pos_client.services.marketing import upkeep
from pos_client.store import chain_mark
from pos_client.store.backup import backups_in, latest_backup
from pos_client.store.config import load_config
from pos_client.store.db import connect
from pos_client.till import open_till
from pos_client.till.scheduler import closing_time, due_through


def steady(n: int, centre: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [centre * rng.uniform(0.95, 1.05) for _ in range(n)]


def rounds_of(a: list[float], b: list[float]) -> Rounds:
    return Rounds((a[: len(a) // 2], a[len(a) // 2:]), (b[: len(b) // 2], b[len(b) // 2:]))


def ratio_at_most(k: float):
    return lambda m, b: m.tail_value <= k * b.tail_value


def test_steady_samples_pass_or_miss_as_the_numbers_say():
    base = steady(200, 1.0, 1)
    fast, slow = steady(200, 1.5, 2), steady(200, 3.0, 3)
    passed = judge(rounds_of(fast, base), ratio_at_most(2.0), measured="a", baseline="b", unit="ms")
    missed = judge(rounds_of(slow, base), ratio_at_most(2.0), measured="a", baseline="b", unit="ms")
    assert passed.status == PASS and missed.status == MISS
    assert passed.judged["claim"] == "p99" and passed.judged["halves"] == [PASS, PASS]
    assert passed.measure.claim == 99 and passed.measure.n == 200


def test_baseline_halves_that_disagree_make_the_figure_noisy_never_pass():
    base = steady(100, 1.0, 4) + steady(100, 1.6, 5)  # the machine got busy halfway
    fast = steady(200, 1.2, 6)
    v = judge(rounds_of(fast, base), ratio_at_most(2.0), measured="a", baseline="b", unit="ms")
    assert v.status == NOISY
    assert v.judged["would_be"] == PASS  # the numbers alone would have passed it
    assert "halves disagree" in v.judged["why"]


def test_a_target_met_on_one_half_only_is_noisy():
    base = steady(200, 1.0, 7)
    edge = steady(100, 1.5, 8) + steady(100, 2.5, 9)
    v = judge(rounds_of(edge, base), ratio_at_most(2.0), measured="a", baseline="b", unit="ms")
    assert v.status == NOISY and v.judged["halves"] == [PASS, MISS]


def test_a_computed_baseline_is_not_noise_checked_but_the_halves_are():
    wire = [16.7] * 50
    ok = judge(rounds_of(steady(100, 18.0, 10), wire + wire), lambda m, b: m.tail_value - b.tail_value <= 20,
               measured="a", baseline="b", unit="ms", baseline_fixed=True)
    assert ok.status == PASS


def test_too_few_samples_claim_a_lower_percentile():
    assert claimable(100) == 99 and claimable(99) == 90 and claimable(10) == 90 and claimable(9) == 50
    a = steady(30, 1.0, 11)
    v = judge(rounds_of(a, steady(30, 1.0, 12)), ratio_at_most(2.0), measured="a", baseline="b", unit="ms")
    assert v.judged["claim"] == "p90" and v.measure.claim == 90
    assert v.measure.tail == sorted(a)[26]  # nearest rank: ceil(0.9 * 30) = 27th
    assert Measure.of("x", "ms", [1.0] * 5).claim == 50


def test_quick_mode_reports_but_does_not_judge_full_scale_targets():
    v = judge(rounds_of(steady(200, 5.0, 13), steady(200, 1.0, 14)), ratio_at_most(2.0),
              measured="a", baseline="b", unit="ms", at_this_scale=False)
    assert v.status == NOT_JUDGED and v.judged["would_be"] == MISS and v.measure.median > 4


def test_interleave_alternates_the_order_and_splits_the_halves():
    order: list[str] = []

    def a(i: int) -> float:
        order.append(f"A{i}")
        return float(i)

    def b(i: int) -> float:
        order.append(f"B{i}")
        return float(-i)

    r = interleave(a, b, 4)
    assert order == ["A0", "B0", "B1", "A1", "A2", "B2", "B3", "A3"]
    assert r.measured == ([0.0, 1.0], [2.0, 3.0]) and r.baseline == ([0.0, -1.0], [-2.0, -3.0])


def test_the_machine_is_recorded():
    load = machine.load_average()
    assert load is not None and len(load) == 3 and all(x >= 0 for x in load)
    before = machine.snapshot()
    sum(i * i for i in range(300_000))
    procs = machine.competing(before)
    assert all({"name", "pid", "cpu_pct"} <= set(p) for p in procs)
    assert all(p["pid"] != os.getpid() for p in procs)
    assert cpu_probe() > 0


def test_an_oversubscribed_machine_keeps_only_the_verdicts_load_cannot_have_made():
    base = steady(200, 1.0, 15)

    def figure(centre: float, seed: int) -> Figure:
        v = judge(rounds_of(steady(200, centre, seed), base), ratio_at_most(2.0), measured="a", baseline="b",
                  unit="ms")
        return Figure("k", "t", "x", v.status, measure=v.measure, baseline=v.baseline, judged=v.judged)

    busy, quiet = [(6.0, 5.0, 4.0), (5.5, 5.0, 4.0)], [(1.0, 1.0, 1.0), (1.5, 1.0, 1.0)]
    solid, close, missed = figure(0.5, 16), figure(1.5, 17), figure(3.0, 18)
    for fig in (solid, close, missed):
        overload_rule(fig, busy, 2)
    assert solid.status == PASS  # passes even 2x worse
    assert close.status == NOISY and "2.00x worse" in close.judged["why"]
    assert missed.status == NOISY and "the machine's" in missed.judged["why"]
    calm = figure(1.5, 17)
    overload_rule(calm, quiet, 2)
    assert calm.status == PASS
    # a little over the cores: the pass must hold with the measure load/cores worse, not 2x
    slightly = figure(1.5, 17)
    assert 1.2 < slightly.judged["holds_until"] < 2.0
    overload_rule(slightly, [(2.3, 2.0, 2.0), (2.1, 2.0, 2.0)], 2)
    assert slightly.status == PASS and slightly.judged["overloaded"] == 2.3
    over = figure(1.5, 17)
    overload_rule(over, [(2.0 * over.judged["holds_until"] + 0.1, 2.0, 2.0), None], 2)
    assert over.status == NOISY
    unjudged = Figure("k", "t", "x", MISS)  # a figure not on the method yet is left as it is
    overload_rule(unjudged, busy, 2)
    assert unjudged.status == MISS


def test_the_writable_copy_leaves_the_cached_home_alone(tmp_path):
    home = tmp_path / "cache"
    home.mkdir()
    connect(home / "till.db").close()  # a real (empty) till database: the copy is backed up by the till's code
    conn = sqlite3.connect(home / "till.db")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    chain_mark.record(home / "till.db", chain_mark.Mark(0, None), "test")
    (home / "chain.db").write_bytes(b"another figure's database")
    gen = GenStats("tiny", 1)
    env = BenchEnv(home=home, size=SIZES["tiny"], gen=gen, quick=True, seed=1, scratch=tmp_path / "scratch")
    copy = writable_home(env)
    assert writable_home(env) == copy and not (copy / "chain.db").exists()
    w = sqlite3.connect(copy / "till.db")
    w.execute("INSERT INTO t VALUES (2)")
    w.commit()
    w.close()
    assert sqlite3.connect(home / "till.db").execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1
    # a kept till: backed up at setup by the till's own backup (so the app starts none), the mark carried
    assert [p for p, _ in backups_in(copy / "backups")] and not (home / "backups").exists()
    assert latest_backup(copy, load_config(copy)) is not None
    assert chain_mark.mark_file(copy / "till.db").exists()
    assert "setup backup (untimed)" in setup_note(env)
    assert "setup upkeep (untimed): 0 day(s)" in setup_note(env)  # nothing sold yet: no first pass, no day


def test_the_writable_copy_has_run_its_days_upkeep_so_an_app_start_finds_none_due(tmp_path):
    """A tiny generated dataset ends weeks before today: the copy's setup runs the till's own catch-up."""
    home, gen, _ = cached_home(SIZES["tiny"], 20261123, tmp_path / "data")
    env = BenchEnv(home=home, size=SIZES["tiny"], gen=gen, quick=True, seed=1, scratch=tmp_path / "scratch")
    started = datetime.now(UTC)
    copy = writable_home(env)
    ctx = open_till(copy)
    try:
        closing = closing_time(ctx)
        # the day due when the setup ran: one day, or two when closing time (21:00 UTC) passed during the setup
        due = {due_through(started, closing), due_through(datetime.now(UTC), closing)}
        ran = upkeep.last_run(ctx)
        assert ran in due and upkeep.pending_days(ctx, ran) == []
    finally:
        ctx.close()
    assert f"through {ran.isoformat()}" in setup_note(env)
    ran = sqlite3.connect(home / "till.db").execute("SELECT COUNT(*) FROM upkeep_runs").fetchone()[0]
    assert ran == 0  # the cached dataset itself untouched


def _looked_again(watch: Watch, within: float = 30.0) -> None:
    """Until the watch's thread has made a whole look after this call (two more polls: one may have been under
    way): a fixed sleep(0.6) left it one look, made before the file existed, when its thread ran late."""
    seen, deadline = watch.polls, time.monotonic() + within
    while watch.polls < seen + 2:
        assert time.monotonic() < deadline, "the watch did not look again"
        time.sleep(0.01)


def test_the_watch_sees_a_check_and_a_backup_and_says_none_when_idle(tmp_path):
    """From outside the till: the checking flock in /proc/locks, a backup's temporary file."""
    db = tmp_path / "till.db"
    db.write_bytes(b"")
    with Watch(db) as idle:
        time.sleep(0.6)
    assert idle.none and idle.words().startswith("background work during the timed starts: none")
    (tmp_path / "backups").mkdir()
    with Watch(db) as busy, chain_mark.checking(db):
        (tmp_path / "backups" / ".till-20261201T000000000000Z.db.tmp").write_bytes(b"x")
        _looked_again(busy)
    assert busy.checking > 0 and busy.backing_up > 0
    assert "opening check" in busy.words() and "backup being written" in busy.words()


def test_the_watch_sees_days_of_upkeep_run_during_it(tmp_path):
    """A catch-up at a timed start once made the swipe miss unseen: the watch now counts the days it ran."""
    home, _, _ = cached_home(SIZES["tiny"], 20261123, tmp_path / "data")
    db = home / "till.db"
    ctx = open_till(home)
    try:
        through = due_through(datetime.now(UTC), closing_time(ctx))
        due = len(upkeep.pending_days(ctx, through))
        with Watch(db) as watch:
            upkeep.catch_up(ctx, through, source="test")
        with Watch(db) as after:
            time.sleep(0.3)
    finally:
        ctx.close()
    assert due > 1 and watch.upkeep_days == due and watch.upkeep_through == through.isoformat()
    assert f"{due} day(s) of upkeep run, through {through.isoformat()}" in watch.words() and not watch.none
    assert after.upkeep_days == 0 and after.none


def test_a_figure_judged_on_part_of_its_run_is_judged_by_that_part_s_load():
    """The load test judges its schedule runs: their load, not the saturation runs' after them, decides."""
    v = judge(rounds_of(steady(200, 3.0, 19), steady(200, 1.0, 20)), ratio_at_most(2.0), measured="a",
              baseline="b", unit="s")
    whole_end = [(1.4, 1.0, 1.0), (16.0, 8.0, 3.0)]  # the figure's start, and its end after saturation
    calm = Figure("k", "t", "x", v.status, measure=v.measure, baseline=v.baseline,
                  judged={**v.judged, JUDGED_LOAD: [(1.4, 1.0, 1.0), (1.9, 1.2, 1.0)]})
    assert loads_judged(calm, whole_end) == [(1.4, 1.0, 1.0), (1.9, 1.2, 1.0)]
    overload_rule(calm, loads_judged(calm, whole_end), 2)
    assert calm.status == MISS and "overloaded" not in calm.judged
    # the rule itself is kept: the judged runs over the cores make the miss NOISY
    busy = Figure("k", "t", "x", v.status, measure=v.measure, baseline=v.baseline,
                  judged={**v.judged, JUDGED_LOAD: [(1.4, 1.0, 1.0), (6.3, 3.0, 1.5)]})
    overload_rule(busy, loads_judged(busy, whole_end), 2)
    assert busy.status == NOISY and busy.judged["overloaded"] == 6.3
    # a figure that records nothing is judged by its start and end, as before
    plain = Figure("k", "t", "x", v.status, measure=v.measure, baseline=v.baseline, judged=dict(v.judged))
    assert loads_judged(plain, whole_end) == whole_end


def test_the_load_test_reads_each_schedule_run_s_load():
    runs = [{"loadavg_start": "1.40 1.10 0.90", "loadavg_window_end": "5.10 2.00 1.00",
             "loadavg_end": "6.30 2.50 1.20"},
            {"loadavg_start": "2.00 2.00 1.50", "loadavg_end": "3.00 2.10 1.60"}]
    assert judged_loads(runs) == [(1.4, 1.1, 0.9), (5.1, 2.0, 1.0), (6.3, 2.5, 1.2), (2.0, 2.0, 1.5),
                                  (3.0, 2.1, 1.6)]


def test_wait_until_quiet_returns_at_once_on_a_quiet_machine_and_gives_up_at_its_bound():
    quiet = wait_until_quiet(limit_s=5, cores=10_000)  # no machine has this load
    assert quiet.quiet and quiet.waited_s < 1 and quiet.load is not None
    t0 = time.monotonic()
    busy = wait_until_quiet(limit_s=0.3, cores=0, poll_s=0.1)  # a load below 0 never comes
    assert not busy.quiet and busy.waited_s >= 0.3 and time.monotonic() - t0 < 2
    assert "never below the cores" in busy.words() and f"{busy.load[0]:.2f}" in busy.words()

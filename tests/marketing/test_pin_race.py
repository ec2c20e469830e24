"""Issue 11, finding 3: 40 concurrent wrong manager PINs were all evaluated, with no lock and a failure count
of 2. Each try is now counted in the transaction that checks the lock, before its PIN is evaluated."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

from pos_client.domain.errors import RefusedInput
from pos_client.services.marketing import manager
from pos_client.till import open_till

PIN = "4321"
TRIES = 40


def _try_wrong_pin(home: str, barrier, results) -> None:
    ctx = open_till(Path(home))
    try:
        barrier.wait(30)
        try:
            manager.check_pin(ctx, "0000")
            results.put("accepted")
        except RefusedInput as exc:
            results.put(str(exc))
    finally:
        ctx.close()


def test_forty_concurrent_wrong_pins_evaluate_at_most_five_and_lock(tmp_path):
    home = tmp_path / "home"
    ctx = open_till(home)
    manager.add_manager(ctx, "Alice", PIN)
    ctx.close()
    spawn = mp.get_context("spawn")  # separate processes, as separate screens or commands would be
    barrier, results = spawn.Barrier(TRIES), spawn.Queue()
    procs = [spawn.Process(target=_try_wrong_pin, args=(str(home), barrier, results)) for _ in range(TRIES)]
    for p in procs:
        p.start()
    answers = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    evaluated = [a for a in answers if a.startswith("wrong manager PIN")]
    assert "accepted" not in answers
    assert 1 <= len(evaluated) <= manager.MAX_TRIES, answers
    assert len(answers) - len(evaluated) == sum("locked" in a for a in answers if a not in evaluated)
    with sqlite3.connect(home / "till.db") as db:
        failures, until = db.execute("SELECT failures, locked_until FROM pin_lock").fetchone()
    assert until is not None, (failures, answers)
    # the right PIN is refused too while the lock runs
    ctx = open_till(home)
    try:
        try:
            manager.check_pin(ctx, PIN)
            raise AssertionError("the right PIN went through a running lock")
        except RefusedInput as exc:
            assert "locked" in str(exc)
    finally:
        ctx.close()

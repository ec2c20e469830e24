"""The app's cyclic collector policy (pos_client.app.collector): off the customer's path, the heap bounded."""

from __future__ import annotations

import gc
import re
import subprocess
import sys
import weakref

from pos_client.app import collector
from pos_client.app.collector import IdleCollector
from pos_client.app.widgets import MessageLine
from tests.test_app_support import make_app, make_till, type_slowly


class Node:
    """A cycle's member: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _held() -> IdleCollector:
    collector.hold()
    idle = IdleCollector()
    idle.release()
    return idle


def test_an_app_that_never_held_the_collector_gets_no_passes():
    idle = IdleCollector()
    idle.release()
    assert gc.isenabled() and not idle.managed and idle.customer_done() is None


def test_a_pass_collects_the_customers_cycles_and_freezes_the_rest():
    idle = _held()
    try:
        dead, kept = Node(), Node()
        gone = weakref.ref(dead)
        del dead
        done = idle.customer_done()
        assert done is not None and not done.deep
        assert gone() is None  # the cycle that died with the customer is freed in the pause
        assert not any(o is kept for o in gc.get_objects())  # frozen: the next passes do not scan it
        assert idle.count == 1 and idle.passes == [done]
    finally:
        gc.unfreeze()
        gc.enable()


def test_a_frozen_cycle_that_dies_later_goes_at_the_next_whole_pass():
    idle = _held()
    try:
        old = Node()
        idle.customer_done()  # frozen alive
        gone = weakref.ref(old)
        del old
        idle.customer_done()
        assert gone() is not None  # frozen: the pass of new objects does not see it
        grown = [[i] for i in range(idle.blocks_after_deep // 2)]  # 2+ blocks each: the heap more than doubles
        done = idle.customer_done()
        assert done is not None and done.deep and gone() is None and idle.deep_count == 1
        del grown
    finally:
        gc.unfreeze()
        gc.enable()


async def test_paying_and_clearing_run_a_pass_once_the_screen_painted(tmp_path):
    ctx, _member = make_till(tmp_path)
    app = make_app(ctx)
    collector.hold()  # as `pos-client` starts (pos_client.app.boot)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.idle_gc.managed and app.idle_gc.count == 0
            await pilot.press("f3")
            await type_slowly(pilot, app, "1.00")
            await pilot.press("enter", "f5")
            await pilot.pause()
            assert "Paid 1.00" in app.screen.query_one(MessageLine).text
            assert app.idle_gc.count == 1
            await pilot.press("f8")
            await pilot.pause()
            assert app.idle_gc.count == 2
    finally:
        gc.unfreeze()
        gc.enable()
        ctx.close()


def test_a_long_session_keeps_the_heap_bounded():
    """150 customers (cleared, swiped through the pty reader, paid): the whole passes bring the heap back.

    In a process of its own, as a till's app runs: the growth rule reads the interpreter's allocated blocks, and
    in the test run's process the other tests' objects (1.5M blocks) make 150 customers' growth look small."""
    out = subprocess.run([sys.executable, "-m", "pos_client.app.swipe_probe", "--long", "150"], capture_output=True,
                         text=True, timeout=600, check=True).stdout
    passes = re.search(r"passes between customers: (\d+) \((\d+) whole\)", out)
    assert passes is not None, out
    assert int(passes[1]) == 300 and int(passes[2]) >= 1
    totals = [int(a) + int(b) for a, b in re.findall(r"objects +(\d+) \+ frozen +(\d+)", out)]
    assert len(totals) == 10 and max(totals) <= 1.6 * min(totals), out

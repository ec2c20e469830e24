"""Card data to member and balance: what the till does on every swipe, scan or tap.

Measured: `parse_card` on the scanned text, then `member_for_card` (card row, member row with
its balance, tier) on the real database. Baseline: a raw `sqlite3` indexed SELECT of one row
(the card by its primary key) on its own connection. The two are interleaved over different
random cards so neither gets a warmer cache than the other (`bench.method.interleave`: A/B, then
B/A). The target is stated for the full dataset: in --quick the figure is NOT_JUDGED.

Two passes, as a till lives them. First the database's pages are dropped from the OS page
cache (a till just booted) and a cold pass runs: each lookup descends six B-trees (cards,
members, balances: a TEXT primary key is an index then the rowid table), each a random disk read
when cold. Then `pos_client.store.warmup.warm_lookup_pages` runs, as the app does at start in the
background, and the measured pass follows. The cold pass is reported beside the figure.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from bench.background import Watch, finish_opening_check
from bench.env import BenchEnv
from bench.method import interleave, judge
from bench.stats import Figure, Measure
from cardread import parse_card
from pos_client.services.members import member_for_card
from pos_client.store.warmup import warm_lookup_pages
from pos_client.till import open_till

KEY = "lookup"
TITLE = "card data -> member and balance (lookup)"
TARGET = "p99 <= 2 ms at full scale"
TARGET_MS = 2.0


def run(env: BenchEnv) -> Figure:
    n = env.samples(20_000, 3_000)
    cold_n = env.samples(1_000, 300)
    cards = env.sample_cards(2 * n, KEY)
    cold_cards = env.sample_cards(2 * cold_n, f"{KEY}-cold")
    ctx = open_till(env.home)
    raw = sqlite3.connect(str(env.db))
    prefixes = ctx.rules.loyalty_prefixes
    clock = time.perf_counter_ns

    def ours(sample: list[str]) -> Callable[[int], float]:
        def one(i: int) -> float:
            t0 = clock()
            member = member_for_card(ctx, parse_card(sample[2 * i + 1], loyalty_prefixes=prefixes))
            _ = member.balance
            return (clock() - t0) / 1e6
        return one

    def base(sample: list[str]) -> Callable[[int], float]:
        def one(i: int) -> float:
            t0 = clock()
            raw.execute("SELECT member_id FROM cards WHERE card_number = ?", (sample[2 * i],)).fetchone()
            return (clock() - t0) / 1e6
        return one

    try:
        checked = finish_opening_check()  # untimed, before the page cache is dropped: the check reads it all
        evicted = env.evict_file_cache()
        with Watch(env.db) as watch:
            cold = interleave(ours(cold_cards), base(cold_cards), cold_n)
            t0 = time.perf_counter()
            warm = warm_lookup_pages(env.db)
            warm_s = time.perf_counter() - t0
            rounds = interleave(ours(cards), base(cards), n)
    finally:
        raw.close()
        ctx.close()
    v = judge(rounds, lambda m, b: m.tail_value <= TARGET_MS, at_this_scale=not env.quick, unit="ms",
              measured="parse_card + member_for_card, after warm_lookup_pages",
              baseline="raw sqlite3 SELECT of one card row by primary key")
    return Figure(KEY, TITLE, TARGET, v.status, measure=v.measure, baseline=v.baseline, judged=v.judged,
                  extra={("cold pass (page cache dropped)" if evicted else "first pass (cache as found)"):
                         Measure.of("lookup", "ms", cold.all_measured).__dict__,
                         "cold pass baseline": Measure.of("baseline", "ms", cold.all_baseline).__dict__,
                         "warm_lookup_pages": f"{warm_s:.1f} s ("
                         + ", ".join(f"{t} {s:.1f} s" for t, s in warm.items()) + ")"},
                  notes=[f"{n:,} lookups of distinct random active cards (barcode and NFC) on "
                         f"{env.gen.cards:,} cards / {env.gen.members:,} members",
                         checked,
                         watch.words()])

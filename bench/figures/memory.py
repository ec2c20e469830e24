"""Resident memory of the till process with the full database open, a lookup and a sale done.

Each sample is a fresh interpreter (`python -m bench.figures.memory HOME CARD`) that opens the
till the way the CLI does, looks a card up, commits a 3-line sale, then reports its peak
resident set (VmHWM from /proc/self/status, ru_maxrss as a cross-check). The baseline is the
same interpreter that only imports sqlite3 and opens the database raw: what Python itself costs.
The two alternate (`bench.method.interleave`) on the run's writable copy of the database
(`bench.scratch`: the sales never land in the cached one); the target is about the full
database, so --quick is NOT_JUDGED.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
import sys

from bench.background import Watch
from bench.env import BenchEnv
from bench.method import interleave, judge
from bench.scratch import setup_note, writable_home
from bench.stats import Figure

KEY = "memory"
TITLE = "resident memory, full database open, lookup + sale done"
TARGET = "<= 150 MB peak RSS"
TARGET_MB = 150.0


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(home: str, card: str, mode: str) -> None:
    if mode == "raw":
        conn = sqlite3.connect(f"{home}/till.db")
        conn.execute("SELECT member_id FROM cards WHERE card_number = ?", (card,)).fetchone()
    else:
        # why (all four): imported in the measured child only, so the "raw" baseline never loads the till
        from cardread import parse_card  # why: as above
        from pos_client.services.checkout import Basket, Line, commit_sale  # why: as above
        from pos_client.services.members import member_for_card  # why: as above
        from pos_client.till import open_till  # why: as above

        ctx = open_till(home)
        member = member_for_card(ctx, parse_card(card, loyalty_prefixes=ctx.rules.loyalty_prefixes))
        rows = ctx.conn.execute("SELECT name, category, price_cents, sku, ean FROM products LIMIT 3").fetchall()
        basket = Basket(member_id=member.member_id, card_number=card)
        for name, cat, price, sku, ean in rows:
            basket.add(Line(name, cat, 1, price, sku, ean))
        commit_sale(ctx, basket)
    print(json.dumps({"vmhwm_mb": _status_mb("VmHWM"), "vmrss_mb": _status_mb("VmRSS"),
                      "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _sample(env: BenchEnv, card: str, mode: str) -> dict[str, float]:
    out = subprocess.run([env.python, "-m", "bench.figures.memory", str(writable_home(env)), card, mode],
                         env=env.subprocess_env(), capture_output=True, text=True, check=True, cwd=env.scratch)
    sample: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return sample


def run(env: BenchEnv) -> Figure:
    n = env.samples(10, 4)
    cards = env.sample_cards(2 * n, KEY)
    ours: list[dict[str, float]] = []

    def till(i: int) -> float:
        ours.append(_sample(env, cards[i], "till"))
        return ours[-1]["vmhwm_mb"]

    with Watch(writable_home(env) / "till.db") as watch:
        rounds = interleave(till, lambda i: _sample(env, cards[n + i], "raw")["vmhwm_mb"], n)
    v = judge(rounds, lambda m, b: m.tail_value <= TARGET_MB, unit="MB", at_this_scale=not env.quick,
              measured="peak RSS (VmHWM) after open_till + lookup + commit_sale",
              baseline="peak RSS of python + raw sqlite3 open + one SELECT")
    return Figure(KEY, TITLE, TARGET, v.status, measure=v.measure, baseline=v.baseline, judged=v.judged,
                  extra={"vmrss_mb_last": ours[-1]["vmrss_mb"], "ru_maxrss_mb_last": ours[-1]["ru_maxrss_mb"]},
                  notes=[f"database file {env.db.stat().st_size / 2**20:,.0f} MB; SQLite page cache at its default",
                         "VmHWM is the verdict: Linux carries ru_maxrss across exec from the parent (the bench"
                         " process), so ru_maxrss can overstate a child's own peak", setup_note(env), watch.words()])


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3])

"""One load-generator process of the 200-till load test: a share of the tills, each a real till home.

    python -m bench.loadtill SPEC.json OUT.json     (started by bench.loadtest; not meant to be run by hand)

Each till is what a shop runs: its own SQLite home (`open_till`), registered to head office with a
one-time code (`sync.register`), members enrolled at its counter, sales through `commit_sale`, pushes
through `sync.push.push_pending` and pulls through `sync.engine.pull_all`, all over real HTTP. A till is a
thread on the schedule a till's `sync.worker.SyncWorker` keeps: a sync round (push, then pull: `sync_once`)
every `sync_every` s (`[headoffice] interval`) counted from the end of the last round, and a round right
after each sale (`TillDevices.sale_committed` kicks the worker); customers come every `sale_every` s
(x0.5..1.5). A till in service has synced before: each takes its first round (its members up, its first
pull, a snapshot) while the tills are set up, so the window measures the chain's steady state, not 200
first pulls at once. Each lag sample (a sale of another store, from its commit to applied here) is kept with
its floor: the schedule's share, from the sale to the start of this till's next round, at most the interval
(a round still running at the sale is head office's time, not the schedule's).

The process prints `ready` once its tills are registered, then reads one line `START DURATION` (epoch
seconds) so every process starts together; at the end each till pushes what is left, and the process
writes its samples and its tills' own ledger totals to OUT.json.
"""

from __future__ import annotations

import bisect
import json
import random
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from cardread import parse_card
from cardread.barcode import with_check_digit
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.members import enroll
from pos_client.store.config import write_config
from pos_client.till import open_till
from sync.client import HeadOfficeClient
from sync.engine import client_for, pull_all
from sync.push import push_pending
from sync.register import register_till

MEMBERS_PER_TILL = 3


@dataclass
class Recorder:
    """What this process saw: request latencies by kind inside the window, errors always, sync lags."""

    start: float = 0.0
    end: float = 0.0
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    lags: list[float] = field(default_factory=list)
    floors: list[float] = field(default_factory=list)
    made: list[float] = field(default_factory=list)  # each lag sample's sale time (its half of the window)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, kind: str, started: float, seconds: float) -> None:
        if self.start <= started and started + seconds <= self.end:
            with self.lock:
                self.samples.setdefault(kind, []).append(seconds)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what[:200]] = self.errors.get(what[:200], 0) + 1

    def lag(self, made: list[float], seconds: list[float], floors: list[float]) -> None:
        with self.lock:
            self.made.extend(made)
            self.lags.extend(seconds)
            self.floors.extend(floors)


class TimedTransport(httpx.HTTPTransport):
    """The real HTTP transport, timing each request to its last byte; a 4xx/5xx is an error."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self._recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        started = time.time()
        response = super().handle_request(request)
        response.read()
        self._recorder.request(kind, started, time.time() - started)
        if response.status_code >= 400:
            self._recorder.error(f"{kind} {response.status_code}: {response.content[:120]!r}")
        return response


class LoadTill:
    """One till: its home, its context, its HTTP client with keep-alive, its schedule."""

    def __init__(self, home: Path, store_id: str, till_id: str, recorder: Recorder) -> None:
        home.mkdir(parents=True, exist_ok=True)
        write_config(home, {"store_id": store_id, "till_id": till_id})
        self.store_id, self.till_id = store_id, till_id
        self.ctx = open_till(home)
        self.recorder = recorder
        self.cards: list[str] = []
        self.client: HeadOfficeClient | None = None
        self.seen_rowid = 0
        self.rounds: list[float] = []  # when each sync round started (the lag's floor)
        self.sync_every = 0.0

    def register(self, url: str, code: str, number: int) -> None:
        register_till(self.ctx, url, code)
        self.client = client_for(self.ctx.conn, self.ctx.config, TimedTransport(self.recorder), timeout=60)
        for i in range(MEMBERS_PER_TILL):
            card = with_check_digit(f"29{number:05d}{i:05d}")  # the program's default loyalty prefix
            enroll(self.ctx, card=parse_card(card), name=f"Load {number}-{i}", consent=["email"])
            self.cards.append(card)

    def sell(self, rng: random.Random) -> None:
        card = rng.choice(self.cards)
        member = self.ctx.conn.execute("SELECT member_id FROM cards WHERE card_number = ?", (card,)).fetchone()[0]
        basket = Basket(member_id=member, card_number=card)
        basket.add(Line.keyed(rng.randrange(100, 10_000)))
        started = time.time()
        commit_sale(self.ctx, basket)
        self.recorder.request("sale", started, time.time() - started)

    def push(self) -> None:
        assert self.client is not None
        report = push_pending(self.ctx, self.client)
        for reject in report.rejected:
            self.recorder.error(f"push rejected: {reject}")

    def pull(self, after: float) -> None:
        """Pull, then the lag of every other store's entry that arrived: now minus its sale's time, with its
        floor (the start of this till's first round after the sale, minus the sale's time)."""
        assert self.client is not None
        pull_all(self.ctx, self.client, view="all")  # every other till's entry, as before the view: the lag below
        now = time.time()
        rows = self.ctx.conn.execute("SELECT rowid, created_at FROM ledger WHERE rowid > ? AND store_id != ?",
                                     (self.seen_rowid, self.store_id)).fetchall()
        if rows:
            self.seen_rowid = max(int(r[0]) for r in rows)
            made = [t for t in (datetime.fromisoformat(str(r[1])).timestamp() for r in rows) if t >= after]
            self.recorder.lag(made, [now - t for t in made], [self._floor(t, now) for t in made])

    def _floor(self, sale: float, now: float) -> float:
        first = bisect.bisect_right(self.rounds, sale)
        return min((self.rounds[first] if first < len(self.rounds) else now) - sale, self.sync_every)

    def sync_round(self) -> None:
        """`sync_once`'s order: push, then pull."""
        self.rounds.append(time.time())
        self.push()
        self.pull(self.recorder.start)

    def run(self, rng: random.Random, sale_every: float, sync_every: float, settle: float = 0.0) -> int:
        """Sell and sync on this till's schedule until the window ends, then only sync for `settle` s (every
        sale of the window reaches every till, its lag counted); the sales made."""
        rec = self.recorder
        self.sync_every = sync_every
        next_sale = rec.start + rng.uniform(0, sale_every)
        next_sync = rec.start + rng.uniform(0, sync_every)
        sales = 0
        while True:
            if next_sale >= rec.end:
                next_sale = float("inf")  # the window is over: no more customers, the rounds go on settling
            due = min(next_sale, next_sync)
            if due >= rec.end + settle:
                return sales
            time.sleep(max(0.0, due - time.time()))
            try:
                if next_sale <= next_sync:
                    next_sale += sale_every * rng.uniform(0.5, 1.5)
                    self.sell(rng)
                    sales += 1
                self.sync_round()  # after a sale (the worker is kicked) or on the interval
            except Exception as exc:  # counted, and the till carries on as a real one would
                rec.error(f"{type(exc).__name__}: {exc}")
            next_sync = time.time() + sync_every  # the worker waits its interval from the end of a round

    def drain(self) -> None:
        """Push whatever is left (the till's last sync of the day)."""
        try:
            self.push()
        except Exception as exc:
            self.recorder.error(f"final push {type(exc).__name__}: {exc}")

    def totals(self) -> tuple[int, int]:
        """This till's own ledger: entries and points (what head office must hold for it)."""
        row = self.ctx.conn.execute("SELECT COUNT(*), COALESCE(SUM(points), 0) FROM ledger WHERE store_id = ?"
                                    " AND till_id = ?", (self.store_id, self.till_id)).fetchone()
        return int(row[0]), int(row[1])

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.ctx.close()


def run_share(spec: dict[str, Any]) -> dict[str, Any]:
    """Set up this process's tills, wait for the common start, run them, drain, and add up."""
    recorder = Recorder()
    tills: list[LoadTill] = []
    for t in spec["tills"]:
        till = LoadTill(Path(t["home"]), t["store_id"], t["till_id"], recorder)
        till.register(spec["url"], t["code"], int(t["number"]))
        till.push()  # its first round, before the window: its members up, its first pull (a snapshot)
        till.pull(time.time())
        tills.append(till)
    print("ready", flush=True)
    start, duration = (float(x) for x in sys.stdin.readline().split())
    recorder.start, recorder.end = start, start + duration
    sales = [0] * len(tills)

    def one(i: int) -> None:
        rng = random.Random(f"{spec['seed']}-{tills[i].store_id}-{tills[i].till_id}")
        sales[i] = tills[i].run(rng, float(spec["sale_every"]), float(spec["sync_every"]), float(spec["settle"]))

    threads = [threading.Thread(target=one, args=(i,), name=f"till-{i}") for i in range(len(tills))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for till in tills:
        till.drain()
    entries = points = 0
    for till in tills:
        n, p = till.totals()
        entries, points = entries + n, points + p
        till.close()
    return {"samples": recorder.samples, "errors": recorder.errors, "lags": recorder.lags,
            "floors": recorder.floors, "made": recorder.made, "sales": sum(sales),
            "entries": entries, "points": points, "tills": len(tills)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    try:
        result = run_share(spec)
    except Exception:
        traceback.print_exc()
        return 1
    Path(args[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

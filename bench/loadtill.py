"""One load-generator process of the 200-till load test: a share of the tills, each a real till home.

    python -m bench.loadtill SPEC.json OUT.json     (started by bench.loadtest; not meant to be run by hand)

Each till is what a shop runs: its own SQLite home (`open_till`), registered to head office with a
one-time code (`sync.register`), members enrolled at its counter, sales through `commit_sale`, pushes
through `sync.push.push_pending` and pulls through `sync.engine.pull_all`, all over real HTTP. A till is a
thread on the schedule a till's `sync.worker.SyncWorker` keeps: a sync round (push, then pull: `sync_once`)
every `sync_every` s (`[headoffice] interval`) counted from the end of the last round (0: back to back, the
saturation run), and a round right after each sale (`TillDevices.sale_committed` kicks the worker);
customers come every `sale_every` s (x0.5..1.5), a share `travel` of them visitors from other stores.

The pull is a till's own (ARCHITECTURE.md, "the till's view"): `view=seen` (balances, and entries of the
members it follows), `view=store` at each store's expiry till (T1: also every entry of its store's members),
and the members it sold to followed through `POST /v1/pull/follow` before each pull (`sync.view`). A till in
service has synced and sold before: before the window each takes its first pull (a snapshot; the feed at T1)
once every till's members are at head office, and follows its own members and its regular visitors from
other stores (as after selling to them), so the window measures the chain's steady state, not 200 first
pulls at once. A lag sample is an entry of another store's sale applied here (so of a member this till
follows), from the sale's commit to applied, kept with its sale id, this till, and its floor: the schedule's
share, from the sale to the start of this till's next round, at most the interval (a round still running at
the sale is head office's time, not the schedule's).

The process prints `enrolled` once its tills are registered and their members pushed, waits for a line `go`
(every process has enrolled), prints `ready` after the first pulls, then reads one line `START DURATION`
(epoch seconds) so every process starts together; at the end each till pushes what is left, and the process
writes its samples, its sales (id, card, store) and its tills' own ledger totals to OUT.json.
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
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.members import enroll
from pos_client.store.config import write_config
from pos_client.till import open_till
from sync.apply import apply_history
from sync.client import HeadOfficeClient
from sync.engine import client_for, pull_all
from sync.push import push_pending
from sync.register import register_till
from sync.view import view_of


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
    sale_ids: list[str] = field(default_factory=list)  # each lag sample's sale
    receivers: list[str] = field(default_factory=list)  # each lag sample's till ("store/till")
    sales: list[tuple[str, str, str]] = field(default_factory=list)  # (sale id, card, store) of every sale
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, kind: str, started: float, seconds: float) -> None:
        if self.start <= started and started + seconds <= self.end:
            with self.lock:
                self.samples.setdefault(kind, []).append(seconds)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what[:200]] = self.errors.get(what[:200], 0) + 1

    def lag(self, receiver: str, rows: list[tuple[float, float, float, str]]) -> None:
        """(sale time, lag, floor, sale id) of entries applied at `receiver`."""
        with self.lock:
            for made, seconds, floor, sale_id in rows:
                self.made.append(made)
                self.lags.append(seconds)
                self.floors.append(floor)
                self.sale_ids.append(sale_id)
                self.receivers.append(receiver)

    def sold(self, sale_id: str, card: str, store_id: str) -> None:
        with self.lock:
            self.sales.append((sale_id, card, store_id))


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
        self.cards: list[str] = []  # its own members' (enrolled at its counter)
        self.visitors: list[str] = []  # members of other stores who shop here too
        self.client: HeadOfficeClient | None = None
        self.seen_rowid = 0
        self.rounds: list[float] = []  # when each sync round started (the lag's floor)
        self.sync_every = 0.0

    @property
    def key(self) -> str:
        return f"{self.store_id}/{self.till_id}"

    def register(self, url: str, code: str, cards: list[str]) -> None:
        """Register with its one-time code and enrol its members at the counter."""
        register_till(self.ctx, url, code)
        self.client = client_for(self.ctx.conn, self.ctx.config, TimedTransport(self.recorder), timeout=60)
        for i, card in enumerate(cards):
            enroll(self.ctx, card=parse_card(card), name=f"Load {self.key} {i}", consent=["email"])
            self.cards.append(card)

    def member_of(self, card: str) -> str:
        return str(self.ctx.conn.execute("SELECT member_id FROM cards WHERE card_number = ?", (card,)).fetchone()[0])

    def settle_in(self, visitors: list[str]) -> None:
        """Before the window: its first pull (every member of the chain is at head office by now), then follow
        its own members and its regular visitors, as it would after selling to them (their history, none yet,
        through `apply_history` as `sync.view.follow_seen` does)."""
        assert self.client is not None
        pull_all(self.ctx, self.client)
        self.visitors = list(visitors)
        answer = self.client.follow(sorted({self.member_of(c) for c in self.cards + self.visitors}))
        apply_history(self.ctx, answer.history, answer.through)
        self.pull(time.time())

    def sell(self, rng: random.Random, travel: float) -> None:
        card = rng.choice(self.visitors if self.visitors and rng.random() < travel else self.cards)
        basket = Basket(member_id=self.member_of(card), card_number=card)
        basket.add(Line.keyed(rng.randrange(100, 10_000)))
        started = time.time()
        sale = commit_sale(self.ctx, basket)
        self.recorder.request("sale", started, time.time() - started)
        self.recorder.sold(sale.sale_id, card, self.store_id)

    def push(self) -> None:
        assert self.client is not None
        report = push_pending(self.ctx, self.client)
        for reject in report.rejected:
            self.recorder.error(f"push rejected: {reject}")

    def pull(self, after: float) -> None:
        """Pull as this till does (its view: `sync.view.view_of`, the members it sold to followed first), then
        the lag of every other store's entry that arrived (only followed members' come): now minus its
        sale's time, with its floor (the start of this till's first round after the sale, minus the sale's
        time)."""
        assert self.client is not None
        pull_all(self.ctx, self.client, view=view_of(self.ctx))
        now = time.time()
        rows = self.ctx.conn.execute("SELECT rowid, created_at, sale_id FROM ledger WHERE rowid > ? AND store_id != ?",
                                     (self.seen_rowid, self.store_id)).fetchall()
        if rows:
            self.seen_rowid = max(int(r[0]) for r in rows)
            made = [(datetime.fromisoformat(str(r[1])).timestamp(), str(r[2])) for r in rows]
            self.recorder.lag(self.key, [(t, now - t, self._floor(t, now), sid) for t, sid in made if t >= after])

    def _floor(self, sale: float, now: float) -> float:
        first = bisect.bisect_right(self.rounds, sale)
        return min((self.rounds[first] if first < len(self.rounds) else now) - sale, self.sync_every)

    def sync_round(self) -> None:
        """`sync_once`'s order: push, then pull."""
        self.rounds.append(time.time())
        self.push()
        self.pull(self.recorder.start)

    def run(self, rng: random.Random, sale_every: float, sync_every: float, settle: float = 0.0,
            travel: float = 0.0) -> int:
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
                    self.sell(rng, travel)
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
    """Set up this process's tills (enrol, then settle in once every process has enrolled), wait for the common
    start, run them, drain, and add up."""
    recorder = Recorder()
    tills: list[LoadTill] = []
    for t in spec["tills"]:
        till = LoadTill(Path(t["home"]), t["store_id"], t["till_id"], recorder)
        till.register(spec["url"], t["code"], list(t["cards"]))
        till.push()  # its members up: every till's first pull below finds the whole chain's
        tills.append(till)
    print("enrolled", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise RuntimeError("no go from bench.loadtest")
    for till, t in zip(tills, spec["tills"], strict=True):
        till.settle_in(list(t["visitors"]))
    print("ready", flush=True)
    start, duration = (float(x) for x in sys.stdin.readline().split())
    recorder.start, recorder.end = start, start + duration
    sales = [0] * len(tills)

    def one(i: int) -> None:
        rng = random.Random(f"{spec['seed']}-{tills[i].store_id}-{tills[i].till_id}")
        sales[i] = tills[i].run(rng, float(spec["sale_every"]), float(spec["sync_every"]), float(spec["settle"]),
                                float(spec["travel"]))

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
            "floors": recorder.floors, "made": recorder.made, "sale_ids": recorder.sale_ids,
            "receivers": recorder.receivers, "sold": recorder.sales, "sales": sum(sales),
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

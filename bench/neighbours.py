"""Sale commits with the till's neighbours writing between sales: nothing, a receipt printed, a sync round.

Why (issue 15's follow-up): SQLite in WAL mode drops a connection's whole page cache when it starts a read and
sees that another connection committed since, so a write by the printer's or the sync worker's own connection
after a sale makes the next sale read its B-tree pages again. This harness measures that with the real parts:
`commit_sale` on the till's connection (as `bench/figures/sale_commit.py` does, every hook on, the app's WAL
checkpointer running), and before each timed sale what the app runs after the previous one:

- `none`: nothing;
- `print`: the previous sale's receipt printed through `TillDevices.print_sale` from another thread, to the
  TCP ESC/POS simulator of `hw_sim` (a real socket, the printer's status asked before and after);
- `sync`: a sync round of the app's `SyncWorker` (kicked by `TillDevices.sale_committed`, waited for) against
  the real head office (uvicorn, SQLite store) on loopback. The till is registered first and its history marked
  pushed (a till in service has pushed it long ago), so a round pushes the sales made since the last one.

Modes run in blocks (A B C then C B A, repeated) so each sees the same load; the first sales of each block are
not timed (the previous mode's last write). Pages read: bytes this thread read through read() during the commit
(`/proc/thread-self/io` rchar, Linux) / the page size: what SQLite fetched again from the OS.

`python -m bench.neighbours --size mid --data-dir /work/benchdata --out /tmp/x.md` (not a figure of
`python -m bench`: a measurement to decide and check the fix, reported in ARCHITECTURE.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bench import machine
from bench.env import BenchEnv
from bench.figures._series import opening_check_done
from bench.generate import DATA_DIR, DEFAULT_SEED, SIZES, cached_home
from bench.scratch import writable_home
from bench.stats import Measure
from bench.sync_measure import headoffice
from cardread import parse_card
from headoffice.store import open_store
from headoffice.store.base import Store
from hw_sim.printer import PrinterSim
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.members import member_for_card
from pos_client.services.receipt import render_receipt
from pos_client.store import sync_state
from pos_client.store.config import Config
from pos_client.store.context import TillContext
from pos_client.store.db import write_txn
from pos_client.store.ledger import new_id
from pos_client.till import context_opener, open_till
from pos_client.till.devices import TillDevices
from sync.engine import sync_once
from sync.register import register_till
from sync.worker import SyncWorker

MODES = ("none", "print", "sync")
BLOCK = 25  # sales per block of one mode
SKIP = 3  # untimed sales at the start of a block
GAP_S = 0.25  # between a neighbour's work and the next sale: the checkpointer's pause (0.1 s poll) fits in it


def _rchar() -> int:
    """Bytes this thread read through read() so far: SQLite's page fetches from the OS land here."""
    with open("/proc/thread-self/io", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar:"))


@dataclasses.dataclass
class Series:
    ms: list[float] = dataclasses.field(default_factory=list)
    pages: list[int] = dataclasses.field(default_factory=list)
    neighbour_ms: list[float] = dataclasses.field(default_factory=list)


def _configured(ctx: TillContext, printer_url: str, ho_url: str) -> TillContext:
    raw = dict(ctx.config.raw)
    raw["printer"] = {**dict(raw.get("printer") or {}), "url": printer_url, "status_timeout": 2, "timeout": 3}
    raw["headoffice"] = {**dict(raw.get("headoffice") or {}), "url": ho_url}
    return dataclasses.replace(ctx, config=Config(raw=raw))


def _mark_history_pushed(ctx: TillContext) -> None:
    """A till in service pushed its history long ago: start the push marks at what the till holds now."""
    conn = ctx.conn
    high = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM ledger WHERE store_id = ? AND till_id = ?",
                        (ctx.store_id, ctx.till_id)).fetchone()[0]
    sale = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM sales").fetchone()[0]
    with write_txn(conn):
        conn.execute("DELETE FROM sync_outbox")
        sync_state.put(conn, **{sync_state.PUSH_HIGH: high, sync_state.PUSH_SALE: sale})


def _baskets(env: BenchEnv, ctx: TillContext, n: int) -> list[tuple[Basket, str]]:
    rng = env.rng("neighbours")
    products = [tuple(r) for r in ctx.conn.execute(
        "SELECT name, category, price_cents, sku, ean FROM products ORDER BY sku LIMIT 200")]
    cards = env.sample_cards(n, "neighbours")
    out = []
    for card in cards:
        basket = Basket(member_id=member_for_card(ctx, parse_card(card)).member_id, card_number=card, tender="card")
        for _ in range(3):
            name, cat, price, sku, ean = products[rng.randrange(len(products))]
            basket.add(Line(name, cat, rng.randint(1, 3), price, sku, ean))
        out.append((basket, new_id()))
    return out


def _in_thread(work: Callable[[], object]) -> float:
    """Run `work` on another thread (as the app's worker does) and wait for it; its ms."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the caller
            failed.append(exc)

    t0 = time.perf_counter()
    thread = threading.Thread(target=run, name="neighbour")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return (time.perf_counter() - t0) * 1e3


def measure(env: BenchEnv, rounds: int, block: int = BLOCK, gap: float = GAP_S
            ) -> tuple[dict[str, Series], dict[str, object]]:
    """`rounds` x (A B C, C B A) blocks of `block` sales; per mode the timed commits and their pages read."""
    home = writable_home(env)
    ho_url = f"sqlite:///{env.scratch / 'ho.db'}"
    with ExitStack() as stack:
        sim = PrinterSim(port=0, png=False).start()
        stack.callback(sim.stop)
        ho = open_store(ho_url)
        stack.callback(ho.close)
        url = stack.enter_context(headoffice(ho, ho_url, process=True, upkeep=False))  # not this process's GIL
        ctx = open_till(home)
        stack.callback(ctx.close)
        return _measure(env, ctx, sim, ho, url, rounds, block, gap)


def _measure(env: BenchEnv, ctx: TillContext, sim: PrinterSim, ho: Store, url: str, rounds: int, block: int,
             gap: float) -> tuple[dict[str, Series], dict[str, object]]:
    info: dict[str, object] = {}
    info["opening check waited (s)"] = round(opening_check_done(), 1)
    register_till(ctx, url, ho.add_till(ctx.store_id, ctx.till_id))
    _mark_history_pushed(ctx)
    ctx = _configured(ctx, sim.url, url)
    devices = TillDevices(ctx, sync_interval=3600)
    _start(devices)
    worker = devices.sync_worker
    assert worker is not None, "the sync worker did not start"
    order = [m for _ in range(rounds) for m in (*MODES, *reversed(MODES))]
    baskets = _baskets(env, ctx, len(order) * block + 2)  # one before the blocks, one after (`_what_a_round_writes`)
    series = {m: Series() for m in MODES}
    last = _sale(ctx, baskets[0])
    k, printed = 1, []
    for mode in order:
        for j in range(block):
            neighbour_ms = _neighbour(mode, devices, worker, last)
            printed += [last] if mode == "print" else []
            time.sleep(gap)
            r0, t0 = _rchar(), time.perf_counter_ns()
            last = _sale(ctx, baskets[k])
            ms, read = (time.perf_counter_ns() - t0) / 1e6, _rchar() - r0
            k += 1
            if j >= SKIP:
                s = series[mode]
                s.ms.append(ms)
                s.pages.append(read // 4096)
                s.neighbour_ms.append(neighbour_ms)
    layout = []
    for sale_id in printed[-20:]:  # what a sale may wait for: the print holds the till's lock while it lays out
        t0 = time.perf_counter_ns()
        render_receipt(ctx, sale_id)
        layout.append((time.perf_counter_ns() - t0) / 1e6)
    info["receipt layout of a sold receipt, ms median / max (20)"] = (
        f"{sorted(layout)[len(layout) // 2]:.1f} / {max(layout):.1f}")
    info |= _what_a_round_writes(ctx, baskets[k], devices)
    info |= {"receipts printed": len(sim.receipts), "sync rounds": worker.rounds,
             "sync failures": worker.failures, "checkpoints": getattr(devices.checkpointer, "checkpoints", 0),
             "WAL restarts by the checkpointer": getattr(devices.checkpointer, "restarts", 0)}
    devices.stop()
    return series, info


def _what_a_round_writes(ctx: TillContext, item: tuple[Basket, str], devices: TillDevices) -> dict[str, object]:
    """What a round after a sale pulls, and whether a round with nothing new still commits (`data_version` of the
    till's connection moves only when another connection committed)."""
    assert devices.db_path is not None
    own = context_opener(ctx, devices.db_path)()
    try:
        _sale(ctx, item)
        after_sale = sync_once(own)
        seen = int(ctx.conn.execute("PRAGMA data_version").fetchone()[0])
        idle = sync_once(own)
        moved = int(ctx.conn.execute("PRAGMA data_version").fetchone()[0]) != seen
    finally:
        own.close()
    return {"a round after a sale: pushed batches / pulled pages / pulled": (
                f"{after_sale.push.batches} / {after_sale.pages} / {after_sale.pulled}"),
            "a round with nothing new: pulled / committed on its own connection": f"{idle.pulled} / {moved}"}


def _start(devices: TillDevices) -> None:
    class _App:  # the two entry points the wiring calls; nothing to show here
        def post_device_event(self, event: object) -> None:
            pass

        def set_status(self, part: str, text: str) -> None:
            pass

    app = _App()
    devices.start(app)
    devices.start_later(app)


def _sale(ctx: TillContext, item: tuple[Basket, str]) -> str:
    basket, sale_id = item
    return commit_sale(ctx, basket, sale_id=sale_id).sale_id


def _neighbour(mode: str, devices: TillDevices, worker: SyncWorker, last_sale: str) -> float:
    if mode == "print":
        report: list[object] = []
        ms = _in_thread(lambda: report.append(devices.print_sale(last_sale)))
        if getattr(report[0], "printed", 0) != 1:
            raise RuntimeError(f"the receipt did not print: {report[0]}")
        return ms
    if mode == "sync":
        rounds = worker.rounds
        t0 = time.perf_counter()
        devices.sale_committed()
        while worker.rounds == rounds:
            time.sleep(0.002)
            if time.perf_counter() - t0 > 60:
                raise RuntimeError("no sync round within 60 s")
        return (time.perf_counter() - t0) * 1e3
    return 0.0


def report(series: dict[str, Series], info: dict[str, object], env: BenchEnv,
           load: tuple[float, float, float] | None) -> str:
    lines = [f"# Sale commit with neighbours writing between sales ({env.size.name}: {env.size.members:,} members,"
             f" {env.size.ledger:,} ledger entries)", "",
             f"load average at start {load}, at end {machine.load_average()}", "",
             "| before each sale | sales | median ms | p90 ms | tail ms (claim) | pages read median / p90 / max |"
             " neighbour's work median ms |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for mode, s in series.items():
        m = Measure.of(mode, "ms", s.ms)
        pages = sorted(s.pages)
        p90 = pages[int(0.9 * (len(pages) - 1))]
        p90ms = sorted(s.ms)[int(0.9 * (len(s.ms) - 1))]
        nb = sorted(s.neighbour_ms)[len(s.neighbour_ms) // 2]
        lines.append(f"| {mode} | {len(s.ms)} | {m.median:.2f} | {p90ms:.2f} | {m.tail_value:.2f} ({m.claim}) |"
                     f" {pages[len(pages) // 2]} / {p90} / {pages[-1]} | {nb:.1f} |")
    lines += ["", *[f"- {k}: {v}" for k, v in info.items()], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.neighbours", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="mid")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--rounds", type=int, default=2, help="A B C C B A block rounds")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    load = machine.load_average()
    home, gen, _ = cached_home(size, args.seed, args.data_dir)
    with tempfile.TemporaryDirectory(prefix="scratch-neigh-", dir=args.data_dir) as scratch:
        env = BenchEnv(home=home, size=size, gen=gen, quick=size.name != "full", seed=args.seed,
                       scratch=Path(scratch))
        series, info = measure(env, args.rounds)
        text = report(series, info, env, load)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m bench [--quick] [--json]`: build (or reuse) the dataset, run every figure, write results.

Full scale writes bench/RESULTS.md (committed); --quick writes bench/RESULTS.quick.md (not
committed) so a regular check never overwrites the full figures. --json also prints the run as
JSON on stdout; progress goes to stderr. With --only, an existing results file is merged into (its
rows of the figures run are replaced, the others kept); a file of another scale, or one without a
data block, is refused with exit status 2 rather than overwritten.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench import machine, method, report
from bench.env import BenchEnv
from bench.figures import FIGURES
from bench.generate import DATA_DIR, DEFAULT_SEED, SIZES, cached_home
from bench.stats import Figure

HERE = Path(__file__).resolve().parent


def _say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _refuse(out: Path, why: str) -> int:
    _say(f"refusing to merge into {out}: {why}; pass another --out, or run without --only to rewrite it")
    return 2


def run_figures(env: BenchEnv, only: list[str] | None = None) -> list[Figure]:
    figures: list[Figure] = []
    for name in FIGURES:
        module = importlib.import_module(name)
        if only and module.KEY not in only:
            continue
        _say(f"{module.KEY} ...")
        t0 = time.perf_counter()
        try:
            fig = method.observed(partial(module.run, env))
        except Exception as exc:  # a broken figure is reported as such, the others still run
            traceback.print_exc()
            fig = Figure(module.KEY, module.TITLE, module.TARGET, "ERROR", reason=f"{type(exc).__name__}: {exc}")
            fig.context = {"load_end": machine.load_average()}
        _say(f"{module.KEY}: {fig.status} ({time.perf_counter() - t0:.1f} s)")
        figures.append(fig)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Till benchmarks at chain scale.")
    parser.add_argument("--quick", action="store_true", help="~1%% scale, under a minute")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--size", choices=sorted(SIZES), help="dataset size (overrides --quick's)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--only", action="append", help="run only this figure (repeatable)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where generated databases are cached")
    parser.add_argument("--out", type=Path, help="results file (default bench/RESULTS.md, or RESULTS.quick.md)")
    args = parser.parse_args(argv)
    size = SIZES[args.size or ("quick" if args.quick else "full")]
    quick = size.name != "full"
    out = args.out or HERE / ("RESULTS.md" if size.name == "full" else "RESULTS.quick.md")
    old = out.read_text() if args.only and out.exists() else None
    if old is not None:
        try:
            report.check_mergeable(old, size.name)
        except (report.MergeRefused, ValueError) as exc:
            return _refuse(out, str(exc))
    started = time.perf_counter()
    load = machine.load_average()
    _say(f"dataset {size.name} ({size.members:,} members, {size.ledger:,} ledger entries) ...")
    home, gen, cached = cached_home(size, args.seed, args.data_dir, progress=_say)
    _say(f"dataset {'from cache' if cached else f'built in {gen.seconds:.0f} s'}: {home}")
    with tempfile.TemporaryDirectory(prefix="scratch-", dir=args.data_dir) as scratch:
        env = BenchEnv(home=home, size=size, gen=gen, quick=quick, seed=args.seed, scratch=Path(scratch))
        figures = run_figures(env, args.only)
    command = "python -m bench" + (" --quick" if args.quick else "") + (f" --size {args.size}" if args.size else "")
    run = {
        "command": command,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": size.name,
        "seconds": time.perf_counter() - started,
        "machine": machine.describe(args.data_dir),
        "load": load,
        "dataset": asdict(gen),
        "dataset_cached": cached,
    }
    rows = figures
    if old is not None:
        try:
            run, rows = report.merge(old, run, figures)
        except report.MergeRefused as exc:
            return _refuse(out, str(exc))
        _say(f"merged {', '.join(f.key for f in figures)} into {out}")
    out.write_text(report.markdown(run, rows))
    _say(f"wrote {out}")
    if args.json:
        print(json.dumps(report.as_json(run, figures), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

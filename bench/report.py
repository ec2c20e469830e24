"""RESULTS.md and the JSON form of a run: the same content, for people and for scripts.

The markdown ends with the run's JSON in an HTML comment (`DATA_BEGIN` ... `DATA_END`), so a later
`python -m bench --only X --out F` can merge its rows into F instead of overwriting the others.
"""

from __future__ import annotations

import json
from typing import Any

from bench.stats import Figure, Measure

DATA_BEGIN = "<!-- bench-data"
DATA_END = "bench-data -->"


class MergeRefused(Exception):
    """The results file cannot take these rows (another scale, or no data block to merge into)."""


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit in ("rows/s", "entries/s") or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 0.1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()


def _cell(m: Measure | None, attr: str) -> str:
    if m is None:
        return "-"
    if attr == "tail":
        return f"{_num(m.tail_value, m.unit)} (p{m.claim}, n={m.n:,})"
    return _num(getattr(m, attr), m.unit)


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def _load(ctx: dict[str, Any]) -> str:
    start, end = ctx.get("load_start"), ctx.get("load_end")
    if not start or not end:
        return "-"
    return f"{start[0]:.2f} -> {end[0]:.2f}"


def as_json(run: dict[str, Any], figures: list[Figure]) -> dict[str, Any]:
    return {**run, "figures": [f.as_dict() for f in figures]}


def read_data(text: str) -> dict[str, Any]:
    """The data block of a results file written by `markdown`."""
    start = text.rfind(DATA_BEGIN)
    end = text.rfind(DATA_END)
    if start < 0 or end < start:
        raise MergeRefused("it has no bench data block (written by an older bench, or by hand)")
    data: dict[str, Any] = json.loads(text[start + len(DATA_BEGIN): end])
    return data


def check_mergeable(text: str, mode: str) -> dict[str, Any]:
    """The file's data, if rows of a `mode`-scale run may be merged into it; else MergeRefused."""
    old = read_data(text)
    if old.get("mode") != mode:
        raise MergeRefused(f"it holds a {old.get('mode')}-scale run and this is a {mode}-scale run")
    return old


def merge(old_text: str, run: dict[str, Any], figures: list[Figure]) -> tuple[dict[str, Any], list[Figure]]:
    """The results file's rows with `figures` replacing the rows of the same key (others kept, in order)."""
    old = check_mergeable(old_text, run["mode"])
    new = {f.key: f for f in figures}
    rows = [new.pop(d["key"]) if d["key"] in new else Figure.from_dict(d) for d in old["figures"]]
    rows += list(new.values())
    merged = {k: v for k, v in old.items() if k != "figures"}
    merged["merged"] = [*old.get("merged", []), {"date": run["date"], "command": run["command"],
                                                 "figures": [f.key for f in figures],
                                                 "load": run.get("load")}]
    return merged, rows


def markdown(run: dict[str, Any], figures: list[Figure]) -> str:
    m, g = run["machine"], run["dataset"]
    lines = [
        "# Benchmark results",
        "",
        f"Run `{run['command']}` on {run['date']} ({run['mode']} scale, total {run['seconds']:.0f} s).",
        "Written by `python -m bench`; every figure is measured interleaved with its baseline in the same run"
        " (bench/method.py).",
    ]
    if run.get("load"):
        lines.append(f"Load average (1/5/15 min) at the start: {' / '.join(f'{x:.2f}' for x in run['load'])}.")
    for extra in run.get("merged", []):
        lines.append(f"Rows {', '.join(extra['figures'])} from a later `{extra['command']} --only` on {extra['date']}"
                     " (merged into this file).")
    lines += [
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gb']} GB; {m['os']}",
        f"- Python {m['python']}, SQLite {m['sqlite']}; filesystem of the database: {m['filesystem']}",
        "",
        "## Dataset",
        "",
        f"- {g['members']:,} members, {g['cards']:,} cards, {g['ledger']:,} ledger entries, {g['sales']:,} sales "
        f"({g['sale_lines']:,} lines), {g['products']:,} products; seed {g['seed']}; "
        f"{g['bytes'] / 2**20:,.0f} MB on disk",
        f"- {'taken from the cache under bench/data/' if run['dataset_cached'] else 'generated in this run'}; "
        f"generation time when built: {g['seconds']:.0f} s (load {g['load_seconds']:.0f} s, "
        f"indexes {g['index_seconds']:.0f} s)",
        "",
        "## Figures",
        "",
        "| figure | median | tail | baseline median | baseline tail | ratio (median / tail) | target | verdict "
        "| measured (UTC) | load 1 min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        lines.append(
            f"| {f.title} | {_cell(f.measure, 'median')} | {_cell(f.measure, 'tail')} | "
            f"{_cell(f.baseline, 'median')} | {_cell(f.baseline, 'tail')} | "
            f"{_ratio(f.ratio_median)} / {_ratio(f.ratio_tail)} | {f.target} | **{f.status}** | "
            f"{f.context.get('date', '-')} | {_load(f.context)} |")
    lines += ["", "## Details", ""]
    for f in figures:
        lines += _details(f)
    lines += [
        "## How to read this",
        "",
        "- Latencies: median and the tail by nearest rank, at the percentile the sample count supports (p99 needs",
        "  100 samples, p90 10; the column says which). Throughputs (rows/s, entries/s): the median rate and, as",
        "  the tail, the slow side (the rate that share of runs beat).",
        "- Ratio = figure / baseline. Each figure and its baseline run interleaved (A/B, then B/A), split in two",
        "  halves: NOISY means the baseline's halves disagreed by more than the margin or the target was met on",
        "  one half only (the machine moved; neither PASS nor MISS is trustworthy). NOT_JUDGED: the target is",
        "  stated for the full dataset and this is a smaller run. On an oversubscribed machine (load above the",
        "  cores) a MISS is NOISY and a PASS stands only if it holds with the measure load/cores worse (at most",
        "  2x). SKIPPED and PENDING figures have no number of their own (the reason says why); a baseline shown",
        "  beside them was really measured.",
        "- Load: the 1-minute load average at the start and end of each figure; competing processes by %CPU of one",
        "  core over the figure; the CPU probe is a fixed pure-Python loop timed before and after the figure.",
        "- Earlier runs, and figures measured on their own with notes by hand, are kept in `bench/RESULTS-earlier.md`.",
        "",
        DATA_BEGIN,
        json.dumps(as_json(run, figures), indent=None, default=str).replace("--", "-\\u002d"),
        DATA_END,
        "",
    ]
    return "\n".join(lines)


def _details(f: Figure) -> list[str]:
    lines = [f"### {f.title} — {f.status}", ""]
    if f.reason:
        lines.append(f"- reason: {f.reason}")
    if f.judged.get("why"):
        lines.append(f"- verdict: {f.judged['why']} (on the numbers alone: {f.judged.get('would_be')})")
    if f.judged:
        lines.append(f"- method: claim {f.judged.get('claim')}, halves {f.judged.get('halves', '-')}, baseline "
                     f"halves' spread {f.judged.get('baseline_spread', '-')} (margin {f.judged.get('margin')})")
    if f.measure:
        lines.append(f"- measured: {f.measure.what} ({f.measure.n:,} samples)")
    if f.baseline:
        lines.append(f"- baseline: {f.baseline.what} ({f.baseline.n:,} samples)")
    for note in f.notes:
        lines.append(f"- {note}")
    for key, value in f.extra.items():
        lines.append(f"- {key}: {_extra(value)}")
    ctx = f.context
    if ctx.get("date"):
        procs = ", ".join(f"{p['name']} {p['cpu_pct']}%" for p in ctx.get("competing", [])) or "none seen"
        lines.append(f"- machine: {ctx.get('date')}, {ctx.get('seconds')} s, load {ctx.get('load_start')} -> "
                     f"{ctx.get('load_end')}; CPU probe {ctx.get('cpu_probe_ms')} ms; competing: {procs}")
    lines.append("")
    return lines


def _extra(value: Any) -> str:
    if isinstance(value, dict) and {"median", "p99", "unit"} <= set(value):
        return f"median {_num(value['median'], value['unit'])}, p99 {_num(value['p99'], value['unit'])}"
    return str(value)

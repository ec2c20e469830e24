"""RESULTS.md and the JSON form of a run: the same content, for people and for scripts."""

from __future__ import annotations

from typing import Any

from bench.stats import Figure, Measure


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
    return _num(getattr(m, attr), m.unit) if m else "-"


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def as_json(run: dict[str, Any], figures: list[Figure]) -> dict[str, Any]:
    return {**run, "figures": [f.as_dict() for f in figures]}


def markdown(run: dict[str, Any], figures: list[Figure]) -> str:
    m, g = run["machine"], run["dataset"]
    lines = [
        "# Benchmark results",
        "",
        f"Run `{run['command']}` on {run['date']} ({run['mode']} scale, total {run['seconds']:.0f} s).",
        "Written by `python -m bench`; every figure is measured against its baseline in the same run.",
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
        "| figure | median | p99 | baseline median | baseline p99 | ratio (median / p99) | target | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        lines.append(
            f"| {f.title} | {_cell(f.measure, 'median')} | {_cell(f.measure, 'p99')} | "
            f"{_cell(f.baseline, 'median')} | {_cell(f.baseline, 'p99')} | "
            f"{_ratio(f.ratio_median)} / {_ratio(f.ratio_p99)} | {f.target} | **{f.status}** |")
    lines += ["", "## Details", ""]
    for f in figures:
        lines.append(f"### {f.title} — {f.status}")
        lines.append("")
        if f.reason:
            lines.append(f"- reason: {f.reason}")
        if f.measure:
            lines.append(f"- measured: {f.measure.what} ({f.measure.n:,} samples)")
        if f.baseline:
            lines.append(f"- baseline: {f.baseline.what} ({f.baseline.n:,} samples)")
        for note in f.notes:
            lines.append(f"- {note}")
        for key, value in f.extra.items():
            lines.append(f"- {key}: {_extra(value)}")
        lines.append("")
    lines += [
        "## How to read this",
        "",
        "- Latencies: median and p99 by nearest rank over the samples. Throughputs (rows/s, entries/s): the",
        "  median rate and, as 'p99', the slow tail (the rate 99% of runs beat).",
        "- Ratio = figure / baseline. SKIPPED and PENDING figures have no number of their own: they could not",
        "  measure here (the reason says why); a baseline shown beside them was really measured.",
        "",
    ]
    return "\n".join(lines)


def _extra(value: Any) -> str:
    if isinstance(value, dict) and {"median", "p99", "unit"} <= set(value):
        return f"median {_num(value['median'], value['unit'])}, p99 {_num(value['p99'], value['unit'])}"
    return str(value)

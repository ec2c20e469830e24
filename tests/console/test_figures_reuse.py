"""Periods ending the same day share the sections that read that day only (members, points liability): the
figures are exactly what each period computed on its own gives, and the liability is computed once per scope."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime

from headoffice import upkeep
from headoffice.console import figures
from tests.console.chainkit import build


def test_periods_ending_the_same_day_give_the_figures_each_computes_alone(tmp_path, ho_store, monkeypatch):
    chain = build(tmp_path, ho_store)
    snap = figures.snapshot_state(chain.snapshot, datetime.now(UTC))
    assert snap is not None and snap.usable
    calls: list[tuple[str, str | None, str]] = []
    real = figures.run_report

    def counted(ctx, name, **options):  # the real report, counted
        calls.append((name, options.get("store_id"), str(options.get("end"))))
        return real(ctx, name, **options)

    monkeypatch.setattr(figures, "run_report", counted)
    for store in (None, "S1"):
        for key in figures.PRESETS:
            period = figures.parse_period({"period": key}, snap.last_day)
            figures.figures(snap, store, period)  # through the cache: the END_DAY sections once per scope
    liability = [c for c in calls if c[0] == "points-liability"]
    assert liability == [("points-liability", None, str(snap.last_day)), ("points-liability", "S1", str(snap.last_day))]

    monkeypatch.setattr(figures, "run_report", real)
    ctx = upkeep.open_snapshot(chain.snapshot)
    assert ctx is not None
    try:
        for store in (None, "S1"):
            for key in figures.PRESETS:
                period = figures.parse_period({"period": key}, snap.last_day)
                alone = json.dumps(figures.compute(ctx, store, period), allow_nan=False)  # every section, no reuse
                assert json.dumps(figures.cached(snap, store, period), allow_nan=False) == alone
                assert json.loads(alone)["reports"]["points-liability"]["summary"]["points"] > 0
    finally:
        ctx.close()
    with sqlite3.connect(figures.cache_path(chain.snapshot)) as conn:
        kept = conn.execute("SELECT scope, start, end FROM end_day").fetchall()
    assert sorted(kept) == [("*", date.min.isoformat(), str(snap.last_day)),
                            ("store:S1", date.min.isoformat(), str(snap.last_day))]

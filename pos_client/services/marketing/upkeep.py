"""The day's upkeep: expiry, the tier review and lifecycle stages, for every day in order, once each.

Nobody should have to type `expire`, `tiers evaluate` or `lifecycle update`: the app runs this when it
starts on a new day and at closing time (`pos_client.till.scheduler`), head office on a schedule
(`headoffice.upkeep`), `pos-client upkeep` by hand. For each day not yet done, from the day after the
last one recorded (or the till's first day with any member, sale or ledger entry) through `through`:

1. expiry due as of the end of the day (`expiry.run_expiry`, dated 23:59:59.999999 that day);
2. on the last day of a tier review period (`[program.tiers_review] period`, the calendar quarter by
   default) the tier review, where downgrades happen (`tiers.evaluate_tiers`);
3. every member's lifecycle stage as of the end of the day (`stage_review.record_stages`);
4. a row in `upkeep_runs` saying what it did.

Each step writes in short transactions of at most `expiry.CHUNK` members (expiry: `expiry.WRITE_CHUNK`;
reading outside them, then checking again under the write lock what moved since), with a pause between two
(`pacing`: longer than SQLite's busy handler sleeps), so a sale at the till never waits on the upkeep for more
than one short transaction, even with a million members. The day's `upkeep_runs` row
comes last: a crash half-way leaves the day not recorded, and running it again finishes it, because every step
is idempotent (what already expired is subtracted, a tier or stage already recorded is not recorded again).
Running a recorded day again does nothing (a day recorded by the importer's replay too). The row keeps where
the day's expiry pass began (`ledger_mark`, `expiry_rule`), so the next day's pass only looks at the members
whose points could have come due since (`expiry.candidates`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from pos_client.domain.dates import as_date, plus_days, today
from pos_client.services import db_check
from pos_client.services.marketing import expiry, stage_review, tiers
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn

# (days done, days to do, the day just done): the app's status bar shows it while catching up.
Progress = Callable[[int, int, date], None]


@dataclass(frozen=True)
class DayResult:
    """What one day's upkeep did."""

    day: str
    source: str
    expired_members: int
    expired_points: int
    tier_changes: int
    stage_changes: int

    def public(self) -> dict[str, Any]:
        return asdict(self)


def first_day(ctx: TillContext) -> date | None:
    """The till's first day with a member, a sale or a ledger entry: where upkeep starts on a new till.
    The day of the smallest time, not the smallest day (the same text: a prefix of the least string is the least
    prefix): SQLite then reads a created_at index's first entry where there is one, and compares no substr per row
    where there is none (a fresh till's import asks this of a million members)."""
    row = ctx.conn.execute(
        "SELECT substr(MIN(d), 1, 10) FROM (SELECT MIN(created_at) AS d FROM members"
        " UNION ALL SELECT MIN(created_at) FROM sales UNION ALL SELECT MIN(created_at) FROM ledger)").fetchone()
    return date.fromisoformat(row[0]) if row and row[0] else None


def last_run(ctx: TillContext) -> date | None:
    row = ctx.conn.execute("SELECT MAX(day) FROM upkeep_runs").fetchone()
    return date.fromisoformat(row[0]) if row and row[0] else None


def pending_days(ctx: TillContext, through: date | str | None = None) -> list[date]:
    """The days still to run, oldest first, up to and including `through` (today by default)."""
    end = as_date(through)
    done = last_run(ctx)
    start = plus_days(done, 1) if done else first_day(ctx)
    if start is None or start > end:
        return []
    return [plus_days(start, i) for i in range((end - start).days + 1)]


def _done(ctx: TillContext, when: date) -> bool:
    return ctx.conn.execute("SELECT 1 FROM upkeep_runs WHERE day = ?", (when.isoformat(),)).fetchone() is not None


def since(ctx: TillContext, when: date, rule: str) -> expiry.Since | None:
    """The last day before `when` whose expiry pass ran under `rule` and kept its mark (None: a full pass)."""
    row = ctx.conn.execute("SELECT day, ledger_mark, expiry_rule FROM upkeep_runs WHERE day < ?"
                           " ORDER BY day DESC LIMIT 1", (when.isoformat(),)).fetchone()
    if row is None or row[1] is None or row[2] != rule:
        return None
    return expiry.Since(date.fromisoformat(row[0]), int(row[1]), str(row[2]))


def run_day(ctx: TillContext, day: date | str, source: str = "manual") -> DayResult:
    """Run one day's upkeep and record it (a day already recorded is left alone); chunked, see the docstring."""
    when = as_date(day)
    started = now_iso()
    if _done(ctx, when):
        return DayResult(when.isoformat(), "already done", 0, 0, 0, 0)
    rule, mark = expiry.rule_key(ctx), expiry.ledger_mark(ctx)
    expired = expiry.run_expiry(ctx, when, since=since(ctx, when, rule))
    changes = tiers.evaluate_tiers(ctx, when) if tiers.is_review_day(when, tiers.review_period(ctx)) else []
    stages = stage_review.record_stages(ctx, when)
    result = DayResult(when.isoformat(), source, len(expired), sum(int(e["points"]) for e in expired),
                       len(changes), len(stages))
    with write_txn(ctx.conn):
        if _done(ctx, when):  # another run (the app's and `pos-client upkeep` at once) recorded it meanwhile
            return DayResult(when.isoformat(), "already done", 0, 0, 0, 0)
        record(ctx, result, started, ledger_mark=mark, expiry_rule=rule)
    return result


def record(ctx: TillContext, result: DayResult, started: str | None = None, *, ledger_mark: int | None = None,
           expiry_rule: str | None = None) -> None:
    """Write the `upkeep_runs` row for a day (inside the caller's transaction); without a mark the next
    day's expiry pass is a full one (the importer's replay, head office's snapshot)."""
    ts = now_iso()
    ctx.conn.execute(
        "INSERT INTO upkeep_runs (day, source, expired_members, expired_points, tier_changes, stage_changes,"
        " started_at, finished_at, ledger_mark, expiry_rule) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (result.day, result.source, result.expired_members, result.expired_points, result.tier_changes,
         result.stage_changes, started or ts, ts, ledger_mark, expiry_rule))


def catch_up(ctx: TillContext, through: date | str | None = None, *, source: str = "manual",
             progress: Progress | None = None, stop: threading.Event | None = None) -> list[DayResult]:
    """Run every day not yet done, in order, through `through` (today by default).

    First the database is checked (`db_check.before_upkeep`), so no upkeep is written onto a damaged ledger:
    a small one wholly; at chain scale the chain since the last verified mark (left by the check the till runs
    in the background when it opens, or by the previous upkeep; with none yet it waits for that check), because
    the whole check took ~17 minutes at 5 GB.
    `stop` (the app closing) ends it between two days, or while it waits for that check; the rest waits for
    the next run.
    """
    days = pending_days(ctx, through)
    if days and not db_check.before_upkeep(ctx, stop):  # damage stops writing (issue 11); see db_check
        return []
    out: list[DayResult] = []
    for i, day in enumerate(days):
        if stop is not None and stop.is_set():
            break
        out.append(run_day(ctx, day, source))
        if progress is not None:
            progress(i + 1, len(days), day)
    return out


def status(ctx: TillContext, recent: int = 10) -> dict[str, Any]:
    """What ran when: the last day done, the days still to run through today, the latest runs."""
    rows = [dict(r) for r in ctx.conn.execute(
        "SELECT day, source, expired_members, expired_points, tier_changes, stage_changes, started_at, finished_at"
        " FROM upkeep_runs ORDER BY day DESC LIMIT ?", (recent,))]
    done = last_run(ctx)
    return {"last_day": done.isoformat() if done else None,
            "last_finished_at": rows[0]["finished_at"] if rows else None,
            "pending_days": len(pending_days(ctx, today())),
            "review_period": tiers.review_period(ctx),
            "runs": rows}

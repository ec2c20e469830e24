"""`pos-client upkeep [--as-of DATE] [--status] [--rebuild-summary]`: the day's upkeep by hand, and what ran when.

The app runs it by itself (on a new day and at closing time); this is for scripts, a till that does
not run the app, and the owner who wants to see that it ran. A thin shell over
`pos_client.services.marketing.upkeep`.
"""

from __future__ import annotations

import argparse

from pos_client.cli.base import Outcome, add_command, day, table, till_of
from pos_client.domain.dates import as_date
from pos_client.services.marketing import upkeep
from pos_client.store import point_months
from pos_client.store.db import write_txn


def cmd_upkeep(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        if args.rebuild_summary:
            with write_txn(ctx.conn):
                point_months.rebuild(ctx.conn)
            rows = ctx.conn.execute("SELECT COUNT(*) FROM point_months").fetchone()[0]
            return Outcome({"point_months": rows}, f"points summary made again from the ledger: {rows:,} rows")
        if args.status:
            st = upkeep.status(ctx)
            rows = [[day(r["day"]), r["source"], r["expired_members"], r["expired_points"], r["tier_changes"],
                     r["stage_changes"], r["finished_at"][:16].replace("T", " ")] for r in st["runs"]]
            head = (f"last day done: {day(st['last_day']) if st['last_day'] else 'never'}"
                    f"; days to run through today: {st['pending_days']}; tier review: every {st['review_period']}")
            runs = table(["day", "source", "expired (members)", "points", "tier changes", "stage changes",
                          "finished (UTC)"], rows, right=(2, 3, 4, 5)) if rows else "no upkeep has run yet"
            return Outcome(st, f"{head}\n{runs}")
        through = as_date(args.as_of)
        results = upkeep.catch_up(ctx, through, source="manual")
        data = {"through": through.isoformat(), "days": [r.public() for r in results],
                "expired_points": sum(r.expired_points for r in results),
                "tier_changes": sum(r.tier_changes for r in results),
                "stage_changes": sum(r.stage_changes for r in results)}
        if not results:
            return Outcome(data, f"upkeep already done through {day(through.isoformat())}")
        text = (f"upkeep ran for {len(results)} day{'s' if len(results) != 1 else ''}"
                f" ({day(results[0].day)} to {day(results[-1].day)}): {data['expired_points']:,} points expired,"
                f" {data['tier_changes']} tier changes, {data['stage_changes']} stage changes")
        return Outcome(data, text)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "upkeep", cmd_upkeep,
                    "run the day's upkeep (expiry, tier review, lifecycle) for every day not yet done")
    p.add_argument("--as-of", dest="as_of", help="run through this day (YYYY-MM-DD; default today)")
    p.add_argument("--status", action="store_true", help="say what ran when, run nothing")
    p.add_argument("--rebuild-summary", dest="rebuild_summary", action="store_true",
                   help="make the points summary (point_months) again from the ledger, when doctor --full says so")

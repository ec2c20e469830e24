"""The day's upkeep computed in pandas, the upkeep figure's baseline: the same work on the same data.

For a day: the points due to expire for the till's home members (the FIFO rule of
`pos_client.services.marketing.expiry`, every member from scratch), the members whose lifecycle stage at the
end of the day differs from their last recorded one, and on a review day the tier each member's 12-month
spend earns against the tier held. Everything is read as it stood before the till ran that day (`Marks`:
rows up to the last rowids then), so the baseline can run before or after the upkeep in its round.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd

from bench.figures import _reports_pandas as pdr
from pos_client.domain.dates import add_months
from pos_client.domain.lifecycle import StageRules
from pos_client.services.program_settings import Tier

_LOT_KINDS = ("earn", "bonus", "reverse")


class Marks(NamedTuple):
    """The last rowids of the tables the upkeep appends to, before a day ran."""

    ledger: int
    stages: int
    tiers: int


def marks(conn: sqlite3.Connection) -> Marks:
    one = [conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {t}").fetchone()[0]
           for t in ("ledger", "member_stages", "member_tiers")]
    return Marks(*(int(x) for x in one))


@dataclass(frozen=True)
class Rules:
    store: str
    months: int
    stages: StageRules
    ladder: list[Tier]
    excluded: list[str]


@dataclass
class Day:
    """What the pandas day found: expiry per member, stage changes, tier changes (None: not a review day)."""

    due: pd.Series
    stage_changes: int
    tier_changes: int | None


@dataclass
class Data:
    """What a pandas run reads once (as it stood at the marks), for one day or every day of a catch-up."""

    ledger: pd.DataFrame  # the home members' rows
    sales: pd.DataFrame  # `_reports_pandas.load_sales` up to the last day
    stages: pd.Series  # member -> last recorded stage
    tiers: dict[str, pd.DataFrame] | None  # what the tier review reads (None: no review day)


def load(conn: sqlite3.Connection, last: date, rules: Rules, mark: Marks, review: bool) -> Data:
    led = pd.read_sql_query(
        "SELECT l.member_id, l.kind, l.points, l.sale_id, substr(l.created_at, 1, 10) AS d FROM members m"
        " JOIN ledger l ON l.member_id = m.member_id WHERE m.store_id = ? AND l.rowid <= ?", conn,
        params=(rules.store, mark.ledger))
    recorded = pd.read_sql_query(
        "SELECT member_id, stage FROM member_stages WHERE rowid IN (SELECT MAX(rowid) FROM member_stages"
        " WHERE rowid <= ? GROUP BY member_id)", conn, params=(mark.stages,)).set_index("member_id")["stage"]
    return Data(led, pdr.load_sales(conn, last), recorded, _tier_frames(conn, mark) if review else None)


def expiry_due(data: Data, day: date, rules: Rules) -> pd.Series:
    """member -> points due at the end of `day` (only members with some due), as the till's pass writes it."""
    led = data.ledger
    upto_day = day.isoformat()
    cutoff = add_months(day, -rules.months).isoformat()
    balance = led.groupby("member_id")["points"].sum()
    expired = -led.loc[led["kind"] == "expire"].groupby("member_id")["points"].sum()
    e = led.loc[led["d"] <= upto_day]
    upto = e.groupby("member_id")["points"].sum()
    lot = e["sale_id"].notna() & e["kind"].isin(_LOT_KINDS)
    lots = e.loc[lot].groupby(["member_id", "sale_id"]).agg(d=("d", "min"), p=("points", "sum")).reset_index()
    other = e.loc[~lot & (e["kind"] != "expire"), ["member_id", "d", "points"]].rename(columns={"points": "p"})
    buckets = pd.concat([lots[["member_id", "d", "p"]], other], ignore_index=True)
    old = buckets["p"].where((buckets["p"] > 0) & (buckets["d"] <= cutoff), 0).groupby(buckets["member_id"]).sum()
    spent = -buckets["p"].where(buckets["p"] < 0, 0).groupby(buckets["member_id"]).sum()
    held = balance.loc[balance > 0]
    cap = np.minimum(held, upto.reindex(held.index).fillna(0))
    free = old.reindex(held.index).fillna(0) - spent.reindex(held.index).fillna(0) - expired.reindex(
        held.index).fillna(0)
    due = np.minimum(free, cap).astype(np.int64)
    return due.loc[due > 0]


def _stage_changes(sales: pd.DataFrame, recorded: pd.Series, day: date, rules: StageRules) -> int:
    sales = sales.loc[sales["day"] <= day.toordinal()]
    st = pdr.stages(pdr.purchase_days(sales), day.toordinal(), rules)
    codes = sales.drop_duplicates("m").set_index("m")["member_id"]
    now = pd.Series(pdr.STAGE_NAMES[st.to_numpy()], index=codes.reindex(st.index).to_numpy())
    return int((recorded.reindex(now.index) != now).sum())


def stage_changes(conn: sqlite3.Connection, day: date, rules: StageRules, upto: int | None) -> int:
    """Members whose stage at the end of `day` differs from their last one recorded (up to rowid `upto`)."""
    recorded = pd.read_sql_query(
        "SELECT member_id, stage FROM member_stages WHERE rowid IN (SELECT MAX(rowid) FROM member_stages"
        " WHERE rowid <= ? GROUP BY member_id)", conn, params=(upto if upto is not None else 2**62,)
    ).set_index("member_id")["stage"]
    return _stage_changes(pdr.load_sales(conn, day), recorded, day, rules)


def _tier_frames(conn: sqlite3.Connection, mark: Marks) -> dict[str, pd.DataFrame]:
    return {
        "sales": pd.read_sql_query("SELECT sale_id, member_id, substr(created_at, 1, 10) AS d FROM sales"
                                   " WHERE member_id IS NOT NULL", conn),
        "lines": pd.read_sql_query("SELECT sale_id, line_no, amount_cents, category FROM sale_lines", conn),
        "back": pd.read_sql_query("SELECT rl.sale_id, rl.line_no, rl.amount_cents, substr(r.created_at, 1, 10) AS d"
                                  " FROM refund_lines rl JOIN refunds r ON r.refund_id = rl.refund_id", conn),
        "members": pd.read_sql_query("SELECT member_id, substr(created_at, 1, 10) AS d FROM members"
                                     " WHERE status = 'active'", conn),
        "tiers": pd.read_sql_query("SELECT member_id, tier, since FROM member_tiers WHERE rowid <= ? ORDER BY rowid",
                                   conn, params=(mark.tiers,)),
    }


def tier_changes(f: dict[str, pd.DataFrame], day: date, rules: Rules) -> int:
    """Members the review moves: active by `day`, not moved past it, whose 12-month spend earns another tier."""
    end, start = day.isoformat(), add_months(day, -12).isoformat()
    sales = f["sales"]
    lines = f["lines"].loc[~f["lines"]["category"].isin(rules.excluded)]
    sold = lines.merge(sales.loc[(sales["d"] > start) & (sales["d"] <= end)], on="sale_id")
    back = f["back"]
    back = back.loc[(back["d"] > start) & (back["d"] <= end)].merge(
        lines[["sale_id", "line_no"]], on=["sale_id", "line_no"]).merge(sales[["sale_id", "member_id"]], on="sale_id")
    spend = sold.groupby("member_id")["amount_cents"].sum().sub(
        back.groupby("member_id")["amount_cents"].sum(), fill_value=0).clip(lower=0)
    members = f["members"]
    bought = set(sales.loc[sales["d"] <= end, "member_id"])
    eligible = members.loc[(members["d"] <= end) | members["member_id"].isin(bought), "member_id"]
    tiers = f["tiers"]
    moved_on = set(tiers.loc[tiers["since"] > end, "member_id"])
    held = tiers.groupby("member_id")["tier"].last()
    eligible = eligible.loc[~eligible.isin(moved_on)]
    mins = np.array([t.min_spend_cents for t in rules.ladder])
    names = np.array([t.name for t in rules.ladder], dtype=object)
    s = spend.reindex(eligible).fillna(0).to_numpy()
    target = names[np.searchsorted(mins, s, side="right") - 1]
    now = held.reindex(eligible).fillna(rules.ladder[0].name).to_numpy()
    return int((target != now).sum())


def compute(data: Data, day: date, rules: Rules, review: bool) -> Day:
    """One day's upkeep in pandas from what `load` read."""
    tiers = tier_changes(data.tiers, day, rules) if review and data.tiers is not None else None
    return Day(expiry_due(data, day, rules), _stage_changes(data.sales, data.stages, day, rules.stages), tiers)


def day_of_upkeep(conn: sqlite3.Connection, day: date, rules: Rules, mark: Marks, review: bool) -> Day:
    return compute(load(conn, day, rules, mark, review), day, rules, review)

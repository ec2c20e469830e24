"""The marketing reports and the day's lifecycle upkeep written again in pandas: the benchmarks' baseline.

Written from docs/marketing.md, not from the till's code, the way an analyst with pandas would: read the
sales once into a frame, then vectorised group-bys (the reactivated rule's "as of the day before dk" uses
an expanding median of the gaps per member). Every figure checks that the till's report gives the same
numbers as this, so the speed comparison is between two computations of one answer.

pandas is a benchmark-only dependency (the test extra): this module is imported lazily by the figures.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pos_client.domain.lifecycle import StageRules

NONE = "none"
STAGE_NAMES = np.array(["new", "active", "at_risk", "lapsed", "reactivated"], dtype=object)
NEW, ACTIVE, AT_RISK, LAPSED, REACTIVATED = range(5)
_EPOCH = date(1970, 1, 1).toordinal()


def load_sales(conn: sqlite3.Connection, end: date) -> pd.DataFrame:
    """Member sales dated by `end`: member (categorical code), day (day number, `date.toordinal`), cents."""
    frame = pd.read_sql_query(
        "SELECT member_id, substr(created_at, 1, 10) AS day, total_cents FROM sales"
        " WHERE member_id IS NOT NULL AND substr(created_at, 1, 10) <= ?", conn, params=(end.isoformat(),))
    members = frame["member_id"].astype("category")
    days = pd.to_datetime(frame["day"], format="%Y-%m-%d").to_numpy().astype("datetime64[D]").astype(np.int64)
    return pd.DataFrame({"m": members.cat.codes.to_numpy(), "day": days + _EPOCH,
                         "cents": frame["total_cents"].to_numpy(np.int64)}).assign(
        member_id=members.to_numpy())


def purchase_days(sales: pd.DataFrame) -> pd.DataFrame:
    """Distinct (member, day), sorted by member then day."""
    return sales[["m", "day"]].drop_duplicates().sort_values(["m", "day"], kind="stable").reset_index(drop=True)


def stages(days: pd.DataFrame, end: int, rules: StageRules) -> pd.Series:
    """member code -> stage code at the end of day `end` (members with a purchase by then)."""
    d = days[days["day"] <= end].reset_index(drop=True)
    by = d.groupby("m")["day"]
    first, last, n = by.min(), by.max(), by.size()
    gap = d["day"] - by.shift()
    median = gap.groupby(d["m"]).median()
    r = end - last
    base = pd.Series(np.select(
        [r > rules.lapsed_days, end - first <= rules.new_days, (n == 1) & (r > rules.second_purchase_days),
         n == 1, r > rules.at_risk_factor * median],
        [LAPSED, NEW, AT_RISK, ACTIVE, AT_RISK], ACTIVE), index=first.index)
    # reactivated: a purchase day dk (k >= 2) in the last `reactivated_days` such that the base rules on
    # d1..d(k-1) as of dk - 1 said at risk or lapsed
    pos = by.cumcount()
    cand = (pos >= 1) & (end - d["day"] <= rules.reactivated_days)
    members = d.loc[cand, "m"].unique()
    sub = d[d["m"].isin(members)]
    if len(sub):
        gsub = gap[sub.index]
        prefix_median = gsub.groupby(sub["m"]).expanding().median().droplevel(0).sort_index().shift(1)
        c = sub.index[cand[sub.index].to_numpy()]
        day_before = d.loc[c, "day"] - 1
        rp = day_before - d.loc[c - 1, "day"].to_numpy()
        kp = pos[c]  # purchase days before dk
        firsts = first.reindex(d.loc[c, "m"]).to_numpy()
        was = (rp > rules.lapsed_days) | ((day_before - firsts > rules.new_days) & np.where(
            kp == 1, rp > rules.second_purchase_days, rp > rules.at_risk_factor * prefix_median[c]))
        back = d.loc[c[was.to_numpy()], "m"].unique()
        hit = base.index.isin(back) & base.isin([AT_RISK, ACTIVE]).to_numpy()
        base[hit] = REACTIVATED
    return base


def stage_counts(st: pd.Series) -> dict[str, int]:
    counts = st.value_counts()
    return {str(STAGE_NAMES[i]): int(counts.get(i, 0)) for i in range(5)}


def lifecycle(sales: pd.DataFrame, start: date, end: date, rules: StageRules) -> dict[str, Any]:
    days = purchase_days(sales)
    before, after = stages(days, start.toordinal() - 1, rules), stages(days, end.toordinal(), rules)
    prev = before.reindex(after.index)
    moved = prev.isna() | (prev != after)
    moves = Counter(zip((NONE if pd.isna(a) else str(STAGE_NAMES[int(a)]) for a in prev[moved]),
                        (str(STAGE_NAMES[b]) for b in after[moved]), strict=True))
    return {"stages": stage_counts(after), "members": len(after), "moved": int(moved.sum()),
            "moves": [{"from": a, "to": b, "members": k} for (a, b), k in sorted(moves.items())]}


def _months(days: pd.Series) -> pd.Series:
    ts = pd.to_datetime(days - _EPOCH, unit="D")
    return ts.dt.year * 12 + ts.dt.month - 1


def second_purchase(sales: pd.DataFrame, start: date, end: date, window: int = 60) -> dict[str, Any]:
    days = purchase_days(sales)
    by = days.groupby("m")["day"]
    first = by.min()
    second = days[by.cumcount() == 1].set_index("m")["day"].reindex(first.index)
    s, e = start.toordinal(), end.toordinal()
    in_period = (first >= s) & (first <= e)
    again = (second - first <= window) & in_period
    still = ~again & in_period & (first + window > e)
    n = int(in_period.sum())
    return {"first_buyers": n, "bought_again": int(again.sum()), "still_open": int(still.sum()),
            "cohorts": _months(first[in_period]).value_counts().sort_index().astype(int).tolist()}


def reactivation(sales: pd.DataFrame, start: date, end: date, rules: StageRules) -> dict[str, Any]:
    days = purchase_days(sales)
    s = start.toordinal()
    at_start = stages(days, s - 1, rules)
    drifting = at_start[at_start.isin([AT_RISK, LAPSED])]
    in_period = sales[sales["day"] >= s]
    spent = in_period.groupby("m")["cents"].sum()
    came = drifting.index.isin(spent.index)
    return {"members": len(drifting), "came_back": int(came.sum()),
            "spent_cents": int(spent.reindex(drifting.index[came]).sum())}


def retention(sales: pd.DataFrame, start: date, end: date) -> dict[str, Any]:
    days = purchase_days(sales)
    first = days.groupby("m")["day"].min()
    cohort = _months(first[(first >= start.toordinal()) & (first <= end.toordinal())])
    months = pd.DataFrame({"m": days["m"], "month": _months(days["day"]).to_numpy()})
    months = months[months["m"].isin(cohort.index)].drop_duplicates()
    months["cohort"] = cohort.reindex(months["m"]).to_numpy()
    months["since"] = months["month"] - months["cohort"]
    cells = months.groupby(["cohort", "since"]).size()
    return {"members": len(cohort), "cohorts": int(cohort.nunique()),
            "cells": {(int(c), int(k)): int(v) for (c, k), v in cells.items()}}


def rfm(sales: pd.DataFrame, refunds: pd.DataFrame, end: date, rules: dict[str, list[int]]) -> dict[str, int]:
    by = sales.groupby("m")
    last, freq = by["day"].max(), by.size()
    mon = by["cents"].sum().sub(refunds.groupby("m")["cents"].sum(), fill_value=0).reindex(last.index)
    rec = end.toordinal() - last
    (r_near, r_far), (f_lo, f_hi), (m_lo, m_hi) = rules["recency_days"], rules["frequency"], rules["monetary_cents"]
    r = np.select([rec <= r_near, rec <= r_far], [3, 2], 1)
    f = np.select([freq >= f_hi, freq >= f_lo], [3, 2], 1)
    m = np.select([mon >= m_hi, mon >= m_lo], [3, 2], 1)
    seg = np.select([(r == 3) & (f == 3) & (m >= 2), (r >= 2) & (f >= 2), (r == 3) & (f == 1), (r == 1) & (f >= 2),
                     r == 1], ["champions", "loyal", "newcomers", "cant_lose", "hibernating"], "promising")
    return {str(k): int(v) for k, v in Counter(seg.tolist()).items()}


def load_refunds(conn: sqlite3.Connection, sales: pd.DataFrame, end: date) -> pd.DataFrame:
    """Refunds made by `end` on sales dated by `end`, per member code of `sales`."""
    frame = pd.read_sql_query(
        "SELECT s.member_id, r.amount_cents FROM refunds r JOIN sales s ON s.sale_id = r.sale_id"
        " WHERE s.member_id IS NOT NULL AND substr(r.created_at, 1, 10) <= ? AND substr(s.created_at, 1, 10) <= ?",
        conn, params=(end.isoformat(), end.isoformat()))
    pairs = sales.drop_duplicates("m") if len(frame) else sales.iloc[:0]
    codes = dict(zip(pairs["member_id"], pairs["m"], strict=True))
    return pd.DataFrame({"m": frame["member_id"].map(codes), "cents": frame["amount_cents"]})


def new_customers(sales: pd.DataFrame, start: date, end: date) -> dict[str, int]:
    """First purchase ever in the period, among the members who bought in it."""
    s, e = start.toordinal(), end.toordinal()
    first = sales.groupby("m")["day"].min()
    return {"new": int(((first >= s) & (first <= e)).sum()),
            "active": int(sales.loc[(sales["day"] >= s) & (sales["day"] <= e), "m"].nunique())}


def tier_migration(conn: sqlite3.Connection, sales: pd.DataFrame, start: date, end: date,
                   lowest: str) -> dict[tuple[str, str], int]:
    """(tier at the end of the day before the period, tier at its end) -> members known by the end."""
    e, before = end.isoformat(), date.fromordinal(start.toordinal() - 1).isoformat()
    members = pd.read_sql_query("SELECT member_id, substr(created_at, 1, 10) AS day FROM members"
                                " WHERE status != 'merged'", conn)
    known = members.loc[(members["day"] <= e) | members["member_id"].isin(sales["member_id"].unique()), "member_id"]
    changes = pd.read_sql_query("SELECT member_id, tier, since FROM member_tiers WHERE since <= ?"
                                " ORDER BY member_id, since, rowid", conn, params=(e,))
    at_end = changes.groupby("member_id")["tier"].last().reindex(known).fillna(lowest)
    at_start = changes[changes["since"] <= before].groupby("member_id")["tier"].last().reindex(known).fillna(lowest)
    return {(str(a), str(b)): int(n) for (a, b), n in Counter(zip(at_start, at_end, strict=True)).items()}

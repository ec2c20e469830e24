"""Points liability as of a day in pandas, from the whole ledger: the benchmark's baseline.

Written from docs/marketing.md ("points-liability", "Points expiry"), not from the till's code: the lots (a
sale's earn, tier bonus and refund reversals net into one lot dated on the sale's day; any other entry but
an expiry is a lot or a spend of its own), spending and written expiry out of the oldest lots first, so what
a member holds at the end of day D is min(balance by D, positive lots dated after D less `months`).

pandas is a benchmark-only dependency (the test extra): this module is imported lazily by the figures.
"""

from __future__ import annotations

import sqlite3
from datetime import date

import numpy as np
import pandas as pd

from pos_client.domain.dates import add_months

LOT_KINDS = ("earn", "bonus", "reverse")


def load_ledger(conn: sqlite3.Connection) -> pd.DataFrame:
    """Every ledger entry: member (categorical code), kind, points, sale (code, -1 for none), day (YYYYMMDD)."""
    frame = pd.read_sql_query(
        "SELECT member_id, kind, points, sale_id, CAST(replace(substr(created_at, 1, 10), '-', '') AS INTEGER)"
        " AS day FROM ledger", conn)
    return pd.DataFrame({
        "m": frame["member_id"].astype("category").cat.codes.to_numpy(),
        "kind": frame["kind"].astype("category"),
        "points": frame["points"].to_numpy(np.int64),
        "sale": frame["sale_id"].astype("category").cat.codes.to_numpy(),
        "day": frame["day"].to_numpy(np.int64)})


def liability(ledger: pd.DataFrame, day: date, months: int) -> tuple[int, int]:
    """(members holding points at the end of `day`, their points), expiry due by then taken off."""
    upto = ledger[ledger["day"] <= _number(day)]
    balance = upto.groupby("m")["points"].sum()
    lots = upto[upto["kind"] != "expire"]
    in_sale = (lots["sale"] >= 0) & lots["kind"].isin(LOT_KINDS)
    sale_lots = lots[in_sale].groupby(["m", "sale"]).agg(day=("day", "min"), p=("points", "sum")).reset_index()
    other = lots.loc[~in_sale, ["m", "day", "points"]].rename(columns={"points": "p"})
    every = pd.concat([sale_lots[["m", "day", "p"]], other], ignore_index=True)
    cutoff = _number(add_months(day, -months))
    recent = every[(every["p"] > 0) & (every["day"] > cutoff)].groupby("m")["p"].sum()
    held = np.minimum(balance.reindex(recent.index).to_numpy(), recent.to_numpy())
    held = held[held > 0]
    return len(held), int(held.sum())


def _number(day: date) -> int:
    return day.year * 10_000 + day.month * 100 + day.day

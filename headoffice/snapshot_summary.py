"""The snapshot's purchase summary brought up to its new sales by merging the day's per-member totals into it.

Why: the daily refresh rebuilt each summary chunk holding a member with a new sale from all that chunk's sales
(through the member index); at a million members a day's 26k sales touch nearly all thousand chunks, so every
refresh re-read the chain's ten million sales. Here only the sales the summary has not seen are read, grouped
by member and day with the summary's own day expression, and each touched chunk's text is spliced: members
without a new sale are copied as they are, a day already held gets the new sale count and spend added, a new
day or a new member goes in its place in order. The cost follows the day's sales, not the members' histories.

The result decodes to what `purchase_table.build_summary` makes from all the sales
(tests/sync/test_snapshot_summary.py compares them on a few thousand members across chunks). `merge` answers
False, having written nothing, when it cannot stay exact: a new sale whose day or total is NULL, a member id
with a newline, or a value past what the summary encodes; the caller then rebuilds the touched chunks from
their sales, which finds the same and drops the summary as a full build would.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left, bisect_right
from collections import defaultdict
from itertools import accumulate

from pos_client.services.marketing import purchase_table

# What one summary entry can hold (`purchase_table._SUMMARY_SQL`'s `ok`): a day 1..55295, fewer than 32,767
# sales and 2**45 cents in a day, fewer than 32,768 days per member.
DAY_MAX = 55295
PART = 1 << 15
COUNT_MAX = PART - 1
CENTS_MAX = PART ** 3
DAYS_MAX = PART
# The sales the summary has not seen, by member and day: the day as `purchase_table._SUMMARY_SQL` computes it.
_NEW_SQL = """
SELECT member_id, CAST(julianday(substr(created_at, 1, 10)) - 2440587.5 AS INTEGER) AS d, COUNT(*),
       SUM(total_cents) FROM sales WHERE rowid > ? AND member_id IS NOT NULL GROUP BY member_id, d
"""

Totals = dict[int, tuple[int, int]]  # day -> (sale count, cents)


def merge(conn: sqlite3.Connection) -> bool:
    """Merge the sales past the summary's mark into it, in the caller's transaction (False: nothing written)."""
    summary, meta = purchase_table.SUMMARY, purchase_table.SUMMARY_META
    mark = conn.execute(f"SELECT sales_rowid FROM {meta}").fetchone()
    top = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM sales").fetchone()[0]
    if mark is None or mark[0] is None:
        return False
    if mark[0] == top:
        return True
    new: dict[str, Totals] = defaultdict(dict)
    for member, day, count, cents in conn.execute(_NEW_SQL, (mark[0],)):
        if day is None or cents is None or not isinstance(member, str):
            return False
        new[member][int(day)] = (int(count), int(cents))
    chunks = conn.execute(f"SELECT chunk, substr(ids, 1, instr(ids || char(10), char(10)) - 1) FROM {summary}"
                          " ORDER BY chunk").fetchall()
    if not chunks:
        return False  # a summary with no member yet: built again from the sales
    starts = [r[1] for r in chunks]
    per_chunk: dict[int, dict[str, Totals]] = defaultdict(dict)
    for member, totals in new.items():
        per_chunk[chunks[max(bisect_right(starts, member) - 1, 0)][0]][member] = totals
    updates = []
    for chunk, touched in sorted(per_chunk.items()):
        row = conn.execute(f"SELECT ids, counts, days, amounts FROM {summary} WHERE chunk = ?", (chunk,)).fetchone()
        merged = merge_chunk(row[0], row[1], row[2], row[3], touched)
        if merged is None:
            return False
        updates.append((*merged, chunk))
    conn.executemany(f"UPDATE {summary} SET ids = ?, counts = ?, days = ?, amounts = ? WHERE chunk = ?", updates)
    conn.execute(f"UPDATE {meta} SET sales_rowid = ?", (top,))
    return True


def merge_chunk(ids_text: str, counts: str, days: str, amounts: str,
                new: dict[str, Totals]) -> tuple[str, str, str, str] | None:
    """One chunk's text with the new totals merged in (None: a value the summary cannot encode)."""
    ids = ids_text.split("\n") if ids_text else []
    at_day = list(accumulate((ord(c) for c in counts), initial=0))  # member i's days: at_day[i]:at_day[i + 1]
    out_ids: list[str] = []
    out: tuple[list[str], list[str], list[str]] = ([], [], [])
    done = 0  # members of `ids` already copied

    def copy(upto: int) -> None:
        if upto > done:
            out_ids.extend(ids[done:upto])
            out[0].append(counts[done:upto])
            out[1].append(days[at_day[done]:at_day[upto]])
            out[2].append(amounts[4 * at_day[done]:4 * at_day[upto]])

    for member in sorted(new):
        i = bisect_left(ids, member, lo=done)
        copy(i)
        held = ("", "")
        if i < len(ids) and ids[i] == member:
            held = (days[at_day[i]:at_day[i + 1]], amounts[4 * at_day[i]:4 * at_day[i + 1]])
            i += 1
        done = i
        merged = _merged(member, held[0], held[1], new[member])
        if merged is None:
            return None
        out_ids.append(member)
        for into, text in zip(out, merged, strict=True):
            into.append(text)
    copy(len(ids))
    return "\n".join(out_ids), "".join(out[0]), "".join(out[1]), "".join(out[2])


def _merged(member: str, days: str, amounts: str, new: Totals) -> tuple[str, str, str] | None:
    """One member's (count character, days, amounts) with the new day totals merged in, or None outside the
    encoding. Each new day is found by bisection in the member's day characters (code point order is day
    order): only the days that change are decoded, the rest are copied as they are."""
    if "\n" in member:
        return None
    for day in sorted(new):
        count, cents = new[day]
        if not 1 <= day <= DAY_MAX:
            return None
        ch = chr(day)
        k = bisect_left(days, ch)
        same = k < len(days) and days[k] == ch
        if same:
            n, c2, c1, c0 = (ord(x) - 1 for x in amounts[4 * k:4 * k + 4])
            count, cents = count + n, cents + ((c2 << 30) | (c1 << 15) | c0)
        if not (count < COUNT_MAX and 0 <= cents < CENTS_MAX):
            return None
        enc = chr(count + 1) + chr((cents >> 30) + 1) + chr(((cents >> 15) & 32767) + 1) + chr((cents & 32767) + 1)
        if same:
            amounts = amounts[:4 * k] + enc + amounts[4 * k + 4:]
        else:
            days, amounts = days[:k] + ch + days[k:], amounts[:4 * k] + enc + amounts[4 * k:]
    if len(days) >= DAYS_MAX:
        return None
    return chr(len(days)), days, amounts

"""The dashboard's member count means what docs/marketing.md ("Members") says: enrolled by the last day and
neither merged nor erased, counted here from the chain's own log after a real merge and a real erasure at head
office; `with_purchase` is those of them with a sale by then, and the lifecycle table's total (every member id
with a sale, merged and erased ones included) differs from it by exactly the merged and erased buyers, as the
page's note says."""

from __future__ import annotations

from datetime import UTC, datetime

from headoffice import upkeep
from headoffice.console.dashboard import tables
from headoffice.console.figures import figures, parse_period, snapshot_state
from tests.console.chainkit import build


def test_member_count_against_an_independent_count(tmp_path, ho_store):
    chain = build(tmp_path, ho_store)
    bought = [m for m in chain.members(None) if chain.days(m, chain.today)]
    never = [m for m in chain.members(None) if not chain.days(m, chain.today)]
    assert never, "the chain has members who never bought"
    loser, winner, erased = bought[0], bought[1], bought[-1]
    ho_store.merge_members(loser, winner)
    assert ho_store.erase_member(erased)
    assert upkeep.refresh(ho_store, chain.snapshot, chain.today) is not None
    snap = snapshot_state(chain.snapshot, datetime.now(UTC))
    assert snap is not None and snap.usable
    period = parse_period({"period": "90d"}, snap.last_day)
    gone = {loser, erased}
    for store in (None, "S1", "S2"):
        data = figures(snap, store, period)
        members = [m for m in chain.members(store) if m not in gone]
        buyers = [m for m in chain.members(store) if chain.days(m, period.end)]
        with_purchase = [m for m in members if chain.days(m, period.end)]
        assert (data["members"], data["with_purchase"]) == (len(members), len(with_purchase)), store
        life = data["reports"]["lifecycle"]
        assert sum(row[1] for row in life["rows"]) == len(buyers), store
        shown = {t.key: t for t in tables(data)}
        assert shown["members"].rows[0][0] == len(members)
        assert shown["members"].rows[0][shown["members"].columns.index("with_purchase")] == len(with_purchase)
        note = shown["lifecycle"].note
        assert f"({len(buyers):,})" in note and f"and {len(buyers) - len(with_purchase):,} " in note, (store, note)
        assert len(buyers) - len(with_purchase) == len(gone & set(chain.members(store))), store

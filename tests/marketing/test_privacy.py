import logging

import pytest

from pos_client.domain.errors import RefusedInput
from pos_client.services.marketing import manager, privacy
from pos_client.services.members import consents, get_member
from pos_client.store import ledger
from tests.marketing.helpers import new_member, sell


def test_erasure_anonymises_keeps_totals_and_is_recorded_for_sync(make_ctx, caplog):
    caplog.set_level(logging.DEBUG)
    ctx = make_ctx()
    manager.add_manager(ctx, "Alice", "4321")
    mid, _ = new_member(ctx, name="Jeanne Martin", phone="06 12 34 56 78", email="jeanne@example.com",
                        consent=["email", "sms"])
    sell(ctx, mid, 12345, "2026-01-10")
    before = ledger.balance(ctx.conn, mid)
    out = privacy.erase(ctx, mid, "4321")
    assert out["status"] == "erased" and out["balance"] == before and out["approved_by"] == "Alice"
    m = get_member(ctx, mid)
    assert (m.name, m.phone, m.email, m.status) == (None, None, None, "erased")
    assert consents(ctx, mid) == {"email": False, "sms": False}
    assert {r[0] for r in ctx.conn.execute("SELECT status FROM cards WHERE member_id = ?", (mid,))} == {"blocked"}
    assert ledger.ledger_sum(ctx.conn, mid) == before
    pushed = privacy.erasures_since(ctx)
    assert [(e["member_id"], e["store_id"]) for e in pushed] == [(mid, "S1")]
    with pytest.raises(RefusedInput):
        privacy.erase(ctx, mid, "4321")
    # another till receives the erasure through sync
    other = make_ctx(name="other")
    other.conn.execute("INSERT INTO members (member_id, name, phone, email, store_id, created_at, updated_at)"
                       " VALUES (?, 'Jeanne Martin', '+33612345678', 'jeanne@example.com', 'S1', 'x', 'x')", (mid,))
    assert privacy.record_erasures(other, pushed) == 1
    assert privacy.record_erasures(other, pushed) == 0
    assert get_member(other, mid).name is None
    text = caplog.text + str(out) + str(pushed)
    for pii in ("Jeanne", "Martin", "612345678", "jeanne@"):
        assert pii not in text

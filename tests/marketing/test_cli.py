import csv
import io

import pytest

from pos_client.services.marketing import signing
from pos_client.till import open_till
from tests.marketing.cli import pos_client, pos_json
from tests.marketing.helpers import new_member, sell


@pytest.fixture
def home(tmp_path):
    """A till with a member who bought 1200.00 (1200 points + Silver bonus 300) and a manager."""
    path = tmp_path / "till"
    ctx = open_till(path)
    mid, card = new_member(ctx, email="m@example.com", consent=["email"])
    sell(ctx, mid, 120000, "2026-01-10", sale_id="sale-1")
    ctx.close()
    code, out = pos_json(path, "manager", "add", "Alice", "--pin", "4321")
    assert code == 0 and out["name"] == "Alice"
    return path, mid, card


def test_redeem_then_coupon_accepted_once_then_refused(home):
    path, _, card = home
    code, out = pos_json(path, "rewards", "list")
    first = out["rewards"][0]
    assert code == 0 and (first["id"], first["name"], first["points"]) == ("R500", "5.00 off your basket", 500)
    code, out = pos_json(path, "redeem", "--card", card, "--reward", "R500", "--pin", "4321")
    assert code == 0 and out["points_spent"] == 500 and out["balance"] == 1000
    coupon = out["coupon"]
    code, verdict = pos_json(path, "coupon", "check", out["token"])
    assert code == 0 and verdict["valid"] is True and verdict["reason"] == "ok" and verdict["value"] == 500
    code, used = pos_json(path, "coupon", "use", coupon, "--sale-id", "S-100")
    assert code == 0 and used["sale_id"] == "S-100"
    code, verdict = pos_json(path, "coupon", "check", coupon)
    assert code == 3 and verdict["valid"] is False and verdict["reason"].startswith("already used")
    proc = pos_client(path, "coupon", "use", coupon, "--sale-id", "S-101")
    assert proc.returncode == 3 and "already used" in proc.stderr


def test_partial_and_refusals_exit_codes(home):
    path, _, card = home
    code, out = pos_json(path, "redeem", "--card", card, "--reward", "GIFT20", "--pin", "4321", "--points", "400")
    assert code == 0 and out["points_spent"] == 400 and out["balance"] == 1100
    code, out = pos_json(path, "redeem", "--card", card, "--reward", "R500", "--pin", "0000")
    assert code == 3 and "wrong manager PIN" in out["error"]
    code, out = pos_json(path, "redeem", "--card", card, "--reward", "NOPE", "--pin", "4321")
    assert code == 4
    proc = pos_client(path, "redeem", "--card", "4111111111111111", "--reward", "R500", "--pin", "4321")
    assert proc.returncode == 3 and "4111111111111111" not in proc.stdout + proc.stderr
    proc = pos_client(path, "redeem", "--card", card, "--reward", "R500", "--pin", "4321", "--points", "abc")
    assert proc.returncode == 2 and "not a whole number of points" in proc.stderr
    code, out = pos_json(path, "coupon", "check", "NOT-A-COUPON")
    assert code == 3 and out["valid"] is False


def test_tiers_expire_report_erase(home):
    path, mid, card = home
    code, out = pos_json(path, "tiers", "evaluate", "--as-of", "2027-02-01")
    assert code == 0 and out["changes"][0]["to"] == "Member"
    code, out = pos_json(path, "expire", "--as-of", "2027-01-10")
    assert code == 0 and out["points"] == 1500
    code, out = pos_json(path, "expire", "--as-of", "2027-01-10")
    assert out["points"] == 0
    code, out = pos_json(path, "report", "new-customers", "--from", "2026-01-01", "--to", "2026-01-31")
    assert code == 0 and out["summary"] == {"new": 1, "active": 1, "new_pct": 100.0}
    proc = pos_client(path, "report", "tier-migration", "--from", "2026-01-01", "--as-of", "2026-03-31", "--csv")
    assert list(csv.reader(io.StringIO(proc.stdout))) == [
        ["from_tier", "to_tier", "members", "pct_of_from"], ["Member", "Silver", "1", "100.0"]]
    code, out = pos_json(path, "report", "contact-list", "--as-of", "2026-04-01", "--rule",
                         "first-purchase-no-second", "--days", "60", "--channel", "email")
    assert code == 0 and [r[0] for r in out["rows"]] == [mid]
    code, out = pos_json(path, "report", "contact-list", "--channel", "pigeon")
    assert code == 2
    code, out = pos_json(path, "member", "erase", card, "--pin", "4321")
    assert code == 0 and out["status"] == "erased" and out["member_id"] == mid
    assert pos_client(path, "coupon").returncode == 2


def test_key_file_is_private(home):
    path, _, _ = home
    ctx = open_till(path)
    assert len(signing.own_public_key(ctx)) == 32
    ctx.close()
    assert oct((path / "keys" / "coupon_ed25519.pem").stat().st_mode & 0o777) == "0o600"


def test_adjust_and_reverse_with_reason_and_pin(home):
    path, _, card = home
    code, out = pos_json(path, "adjust", "--card", card, "--points", "25", "--reason", "goodwill", "--pin", "4321")
    assert code == 0 and out["balance"] == 1525 and out["approved_by"] == "Alice"
    code, err = pos_json(path, "adjust", "--card", card, "--points", "25", "--reason", "whim", "--pin", "4321")
    assert code == 2 and "reason code" in err["error"]
    code, back = pos_json(path, "reverse", out["entry_id"], "--reason", "correction", "--pin", "4321")
    assert code == 0 and back["balance"] == 1500
    code, again = pos_json(path, "reverse", out["entry_id"], "--reason", "correction", "--pin", "4321")
    assert code == 3 and "already been reversed" in again["error"]

"""The CLI contract: JSON keys and exit codes other issues and store scripts rely on."""

from __future__ import annotations

from cardread.barcode import with_check_digit

CARD = with_check_digit("290000000001")
VISA = "4111111111111111"
OIL_EAN = "4006381333931"


def _setup(cli):
    assert cli("init", "--store", "S1", "--till", "T1")[0] == 0
    assert cli("catalog", "add", "--sku", "OIL1", "--ean", OIL_EAN, "--name", "Olive oil 1L",
               "--category", "food", "--price", "12.99")[0] == 0


def test_enroll_sale_balance_refund_flow(cli):
    _setup(cli)
    code, out, _ = cli("member", "enroll", "--card", CARD, "--phone", "06 12 34 56 78", "--name", "Ana",
                       "--consent", "email,sms", "--json")
    assert code == 0 and set(out) >= {"member_id"}
    member_id = out["member_id"]
    code, out, _ = cli("sale", "--card", CARD, "--amount", "30.00", "--item", f"{OIL_EAN}:2", "--sale-id", "A1",
                       "--json")
    assert code == 0 and out == {"sale_id": "A1", "member_id": member_id, "points_earned": 30, "points_base": 30,
                                  "points_bonus": 0, "balance": 30}
    code, again, _ = cli("sale", "--card", CARD, "--amount", "30.00", "--item", f"{OIL_EAN}:2", "--sale-id", "A1",
                         "--json")
    assert code == 0 and again == out
    code, out, _ = cli("balance", CARD, "--json")
    assert out == {"member_id": member_id, "balance": 30, "tier": "Member"}
    code, out, _ = cli("member", "find", "0612345678", "--json")
    assert code == 0 and out["members"][0]["member_id"] == member_id
    assert set(out["members"][0]) == {"member_id", "name", "phone", "balance", "tier"}
    assert "12345678" not in out["members"][0]["phone"]
    code, out, _ = cli("refund", "A1", "--item", f"{OIL_EAN}:1", "--refund-id", "R1", "--json")
    assert code == 0 and set(out) == {"refund_id", "points_reversed", "balance"} and out["refund_id"] == "R1"
    code, out, _ = cli("refund", "A1", "--json")
    assert code == 0 and out["balance"] == 0
    code, out, _ = cli("refund", "A1", "--json")
    assert code == 3 and "already" in out["error"]


def test_exit_codes(cli):
    _setup(cli)
    assert cli("sale", "--amount", "abc")[0] == 2
    assert cli("sale", "--card", CARD[:-1] + "0", "--amount", "1")[0] == 3  # bad check digit
    assert cli("balance", with_check_digit("290000000099"))[0] == 4
    assert cli("refund", "no-such-sale")[0] == 4
    assert cli("no-such-command")[0] == 2


def test_card_replace_keeps_balance(cli):
    _setup(cli)
    cli("member", "enroll", "--card", CARD)
    cli("sale", "--card", CARD, "--amount", "12.00")
    new = with_check_digit("290000000002")
    code, out, _ = cli("card", "replace", CARD, new, "--json")
    assert code == 0 and out["balance"] == 12
    assert cli("balance", new, "--json")[1]["balance"] == 12
    assert cli("balance", CARD)[0] == 3


def test_payment_card_leaves_no_trace_under_home(cli):
    _setup(cli)
    swipe = f"%B{VISA}^DOE/JOHN^2512101000000000?;{VISA}=2512101000000000?"
    for args in (("sale", "--card", swipe, "--amount", "5"), ("member", "enroll", "--card", VISA),
                 ("balance", f";{VISA}=2512101?"), ("member", "find", VISA)):
        code, out, err = cli(*args)
        assert code in (3, 4), args
        assert VISA not in out and VISA not in err
    for path in cli.home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert VISA.encode() not in data and VISA.encode("utf-16-le") not in data, path


def test_import_sales_cli(cli, tmp_path):
    _setup(cli)
    csv = tmp_path / "history.csv"
    csv.write_text("card,date,amount,sku,qty\n"
                   f"{CARD},2025-01-05,25.98,OIL1,2\n"
                   f"{CARD},2025-02-05,10.00,,\n"
                   f"{CARD},not-a-date,10.00,,\n"
                   f"{VISA},2025-02-06,10.00,,\n")
    code, out, _ = cli("import", "sales", str(csv), "--enroll-unknown", "--json")
    assert code == 0 and out["imported"] == 2 and out["skipped"] == 2
    assert [e["line"] for e in out["errors"]] == [4, 5]
    assert all(VISA not in e["reason"] for e in out["errors"])
    assert cli("balance", CARD, "--json")[1]["balance"] == 35
    code, out, _ = cli("import", "sales", str(csv), "--enroll-unknown", "--json")
    assert out["imported"] == 0 and out["duplicates"] == 2

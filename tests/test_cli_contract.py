"""Issue 13, the CLI contract: every command's exit codes (0 ok, 1 device/network failed, 2 usage,
3 refused, 4 not found) in one table, PIN before validation, help text on every option, money and
dates printed by the same helpers."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from cardread.barcode import with_check_digit
from headoffice.cli import build_parser as headoffice_parser
from headoffice.cli import main as headoffice_main
from hw_sim.printer import PrinterSim
from pos_client.cli.main import build_parser, main
from pos_client.services import checkout
from pos_client.store import ledger
from pos_client.store.config import write_config
from pos_client.till import open_till

CARD = with_check_digit("290000000001")
CARD2 = with_check_digit("290000000002")
CARD3 = with_check_digit("290000000003")
UNKNOWN = with_check_digit("290000000099")
BAD_CHECK = CARD[:-1] + ("1" if CARD[-1] == "0" else "0")
VISA = "4111111111111111"
OIL = "4006381333931"
OIL_BAD = "4006381333932"


class Cli:
    """The real `main()` on one till home; returns the exit code, keeps the last output."""

    def __init__(self, home, capsys) -> None:
        self.home, self.capsys = home, capsys
        self.out = self.err = ""

    def __call__(self, *args: str) -> int:
        code = main([*args, "--home", str(self.home)])
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    def json(self, *args: str) -> tuple[int, dict]:
        code = self(*args, "--json")
        return code, json.loads(self.out.strip().splitlines()[-1])


@pytest.fixture
def cli(tmp_path, capsys):
    run = Cli(tmp_path / "till", capsys)
    assert run("init") == 0
    assert run("catalog", "add", "--sku", "OIL1", "--ean", OIL, "--name", "Olive oil 1L", "--category", "food",
               "--price", "12.99") == 0
    assert run("member", "enroll", "--card", CARD, "--name", "Ana", "--phone", "06 12 34 56 78") == 0
    assert run("manager", "add", "Alice", "--pin", "4321") == 0
    return run


# --- PIN first -----------------------------------------------------------------------------------------


def test_redeem_checks_the_pin_before_the_balance(cli):
    """Finding: `redeem` with a wrong PIN reported "not enough points" before the PIN error."""
    assert cli("sale", "--card", CARD, "--amount", "3.00") == 0  # 3 points: far from any reward
    assert cli("redeem", "--card", CARD, "--reward", "R500", "--pin", "0000") == 3
    assert "wrong manager PIN" in cli.err and "not enough points" not in cli.err
    assert cli("redeem", "--card", CARD, "--reward", "NOPE", "--pin", "0000") == 3
    assert "wrong manager PIN" in cli.err
    assert cli("redeem", "--card", CARD, "--reward", "R500", "--pin", "4321") == 3
    assert "not enough points" in cli.err  # the right PIN: now the request is validated


def test_adjust_reverse_and_erase_check_the_pin_first(cli):
    """Siblings of the redeem finding: every approval asks for the PIN before judging the request."""
    assert cli("adjust", "--card", CARD, "--points", "-50", "--reason", "correction", "--pin", "0000") == 3
    assert "wrong manager PIN" in cli.err and "below zero" not in cli.err
    assert cli("adjust", "--card", CARD, "--points", "5", "--reason", "nope", "--pin", "0000") == 3
    assert "wrong manager PIN" in cli.err
    assert cli("reverse", "no-such-entry", "--reason", "correction", "--pin", "0000") == 3
    assert "wrong manager PIN" in cli.err
    assert cli("member", "erase", CARD, "--pin", "0000") == 3
    assert "wrong manager PIN" in cli.err


# --- exit codes, command by command ------------------------------------------------------------------


def test_member_find_without_a_match_exits_4(cli):
    """Finding: `member find` with no match exited 0; the contract says 4 for "not found"."""
    code, out = cli.json("member", "find", "Nobody")
    assert code == 4 and out == {"members": []}
    assert cli("member", "find", "Nobody") == 4 and "no member found" in cli.out
    assert cli("member", "find", "Ana") == 0


def _history_csv(tmp_path) -> str:
    path = tmp_path / "history.csv"
    path.write_text(f"card,date,amount\n{CARD},2026-01-05,25.98\n")
    return str(path)


def _catalog_csv(tmp_path, ean: str) -> str:
    path = tmp_path / f"catalog-{ean}.csv"
    path.write_text("sku,ean,name,category,price\nSOAP,96385074,Soap,hygiene,4.50\n"
                    f"OIL2,{ean},Oil 2L,food,22.00\n")
    return str(path)


# Commands the table does not run, and why (each is run elsewhere).
NOT_IN_TABLE = {
    "demo": "opens the Textual app on simulators: tests/test_demo.py",
    "sync": "without --once it runs until interrupted; --once and --status are in the table",
}


def _table(tmp_path, printer_url: str) -> list[tuple[tuple[str, ...], int]]:
    """(arguments, exit code), run in this order on the `cli` fixture's till."""
    out = str(tmp_path / "r.bin")
    return [
        (("init",), 0),
        (("init", "--store", ""), 2),
        (("member", "enroll", "--card", CARD2, "--name", "Bob"), 0),
        (("member", "enroll"), 2),
        (("member", "enroll", "--card", VISA), 3),
        (("member", "enroll", "--card", BAD_CHECK), 3),
        (("member", "find", "Ana"), 0),
        (("member", "find", "Nobody"), 4),
        (("member", "find", ""), 2),
        (("member", "show", CARD), 0),
        (("member", "show", UNKNOWN), 4),
        (("member", "show", VISA), 3),
        (("sale", "--card", CARD, "--amount", "30.00", "--item", f"{OIL}:2", "--sale-id", "A1"), 0),
        (("sale", "--amount", "0"), 2),
        (("sale", "--amount", "12,50"), 2),
        (("sale", "--amount", "99999999999"), 2),
        (("sale", "--amount", "5.00", "--tender", "bitcoin"), 2),
        (("sale", "--amount", "5.00", "--sale-id", ""), 2),
        (("sale",), 2),
        (("sale", "--item", f"{OIL}:0"), 2),
        (("sale", "--item", "9999999999994"), 4),
        (("sale", "--card", BAD_CHECK, "--amount", "1.00"), 3),
        (("sale", "--card", UNKNOWN, "--amount", "1.00"), 4),
        (("sale", "--card", CARD, "--amount", "31.00", "--item", f"{OIL}:2", "--sale-id", "A1"), 3),
        (("balance", CARD), 0),
        (("balance", UNKNOWN), 4),
        (("balance", BAD_CHECK), 3),
        (("refund", "A1", "--item", f"{OIL}:1", "--refund-id", "R1"), 0),
        (("refund", "no-such-sale"), 4),
        (("refund", "A1", "--refund-id", ""), 2),
        (("card", "replace", UNKNOWN, CARD3), 4),
        (("card", "replace", CARD2, CARD3), 0),
        (("card", "replace", CARD2, CARD3), 3),
        (("import", "sales", _history_csv(tmp_path)), 0),
        (("import", "sales", str(tmp_path / "missing.csv")), 4),
        (("catalog", "add", "--sku", "X", "--name", "X", "--price", "1.00", "--ean", OIL_BAD), 3),
        (("catalog", "add", "--sku", "X", "--name", "X", "--price", "1,00"), 2),
        (("catalog", "add", "--sku", "TOTE", "--name", "Tote bag", "--price", "0"), 0),
        (("catalog", "import", _catalog_csv(tmp_path, OIL_BAD)), 3),
        (("catalog", "import", _catalog_csv(tmp_path, with_check_digit("400638133394"))), 0),
        (("catalog", "import", str(tmp_path / "missing.csv")), 4),
        (("catalog", "list"), 0),
        (("catalog", "list", "olive"), 0),
        (("catalog", "list", "caviar"), 4),
        (("devices", "watch", "--timeout", "0.1"), 2),  # no readers configured
        (("devices", "watch", "--count", "-1"), 2),
        (("devices", "list"), 0),
        (("devices", "test", "printer", "tcp://127.0.0.1:9", "--timeout", "0.5"), 1),  # nothing answers there
        (("devices", "test", "scanner", "x"), 2),  # not a role
        (("setup", "--non-interactive", "--store", "S9", "--till", "T1", "--force", "--currency", "EURO"), 2),
        (("setup", "--non-interactive", "--store", "S1", "--till", "T1"), 3),  # already set up, no --force
        (("manager", "add", "Bob", "--pin", "12"), 2),
        (("manager", "add", "Bob", "--pin", "8765"), 0),
        (("rewards", "list"), 0),
        (("redeem", "--card", CARD, "--reward", "NOPE", "--pin", "4321"), 4),
        (("redeem", "--card", CARD, "--reward", "R500", "--pin", "4321"), 3),  # not enough points
        (("redeem", "--card", UNKNOWN, "--reward", "R500", "--pin", "4321"), 4),
        (("redeem", "--card", CARD, "--reward", "R500", "--pin", "4321", "--points", "-5"), 2),
        (("adjust", "--card", CARD, "--points", "600", "--reason", "goodwill", "--pin", "4321"), 3),  # manager: <= 500
        (("manager", "add", "Olga", "--pin", "9876", "--owner"), 0),
        (("adjust", "--card", CARD, "--points", "600", "--reason", "goodwill", "--pin", "9876"), 0),  # the owner
        (("adjust", "--card", CARD, "--points", "4611686018427387904", "--reason", "goodwill", "--pin", "9876"), 2),
        (("adjust", "--card", CARD, "--points", "99999999999999999999", "--reason", "goodwill", "--pin", "4321"), 2),
        (("adjust", "--card", CARD, "--points", "5", "--reason", "nope", "--pin", "4321"), 2),
        (("adjust", "--card", UNKNOWN, "--points", "5", "--reason", "goodwill", "--pin", "4321"), 4),
        (("redeem", "--card", CARD, "--reward", "R500", "--pin", "4321"), 0),
        (("reverse", "no-such-entry", "--reason", "correction", "--pin", "4321"), 4),
        (("coupon", "check", "NOT-A-COUPON"), 3),
        (("coupon", "use", "S1-T1-999-ABCD", "--sale-id", "A1"), 4),
        (("coupon", "doubles"), 0),
        (("tiers", "evaluate", "--as-of", "2026-03-31"), 0),
        (("tiers", "evaluate", "--as-of", "31/03/2026"), 2),
        (("expire", "--as-of", "2026-03-31"), 0),
        (("expire", "--as-of", "2026-13-01"), 2),
        (("lifecycle", "update", "--as-of", "2026-03-31"), 0),
        (("upkeep", "--status"), 0),
        (("upkeep", "--as-of", "31/03/2026"), 2),
        (("report", "points-liability", "--as-of", "2026-03-31"), 0),
        (("report", "new-customers", "--from", "2026-03-01", "--to", "2026-01-01"), 2),
        (("report", "contact-list", "--days", "-5"), 2),
        (("report", "no-such-report"), 2),
        (("register", "not-a-url", "CODE"), 2),
        (("register", "ftp://headoffice.example", "CODE"), 2),
        (("register", "http://127.0.0.1:9", "7QK2-MX4P-ZR9D"), 1),  # nothing listens: the network failed
        (("sync", "--once"), 2),  # not registered: a usage error, not "will retry"
        (("sync", "--status"), 0),
        (("backup", "--to", str(tmp_path / "backups")), 0),
        (("restore", str(tmp_path / "no-such-backup.db")), 4),
        (("sync", "--once", "--timeout", "0"), 2),
        (("receipt", "A1", "--out", out), 0),
        (("receipt", "no-such-sale", "--out", out), 4),
        (("reprint", "no-such-sale"), 4),
        (("printer-status",), 2),  # no printer configured
        (("print-queue",), 0),
        (("--set-printer", printer_url), 0),
        (("reprint", "A1"), 0),
        (("printer-status",), 0),
        (("print-queue", "--retry"), 0),
        (("doctor",), 0),  # warnings only (no backup, not registered): nothing failed
        (("doctor", "--full", "--offline"), 0),
        (("doctor", "--no-such-option"), 2),
        (("member", "erase", UNKNOWN, "--pin", "4321"), 4),
        (("member", "erase", CARD, "--pin", "4321"), 0),
        (("member", "erase", CARD, "--pin", "4321"), 3),
        (("no-such-command",), 2),
        (("member",), 2),
        (("coupon",), 2),
    ]


def _leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every command path that runs something ("member find", "sale", ...)."""
    out: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                path = (*prefix, name)
                if child.get_default("handler") is not None or child.get_default("run") is not None:
                    out.add(" ".join(path))
                out |= _leaf_commands(child, path)
    return out


def test_every_command_exits_as_the_contract_says(cli, tmp_path):
    """Finding: exit codes were never checked against the contract; this table runs every command."""
    sim = PrinterSim(port=0, out_dir=tmp_path / "paper", png=False).start()
    try:
        rows = _table(tmp_path, sim.url)
        wrong = []
        for args, expected in rows:
            if args[0] == "--set-printer":
                write_config(cli.home, {"printer": {"url": args[1]}})
                continue
            code = cli(*args)
            if code != expected:
                wrong.append(f"{' '.join(args)}: exit {code}, expected {expected} ({(cli.err or cli.out).strip()})")
    finally:
        sim.stop()
    assert not wrong, "\n".join(wrong)
    covered = {" ".join(args[:2]) for args, _ in rows} | {args[0] for args, _ in rows}
    missing = _leaf_commands(build_parser()) - covered - set(NOT_IN_TABLE)
    assert not missing, f"commands without a row in the exit-code table: {sorted(missing)}"


def test_usage_errors_never_show_a_traceback(cli):
    """A huge --points used to escape as an OverflowError traceback from SQLite."""
    assert cli("adjust", "--card", CARD, "--points", "1" * 30, "--reason", "goodwill", "--pin", "4321") == 2
    assert "Traceback" not in cli.err and "points" in cli.err


# --- help text ----------------------------------------------------------------------------------------


def _options_without_help(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                missing += _options_without_help(child, f"{path} {name}")
            continue
        if not action.help or action.help == argparse.SUPPRESS:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


@pytest.mark.parametrize("parser", [build_parser, headoffice_parser], ids=["pos-client", "headoffice"])
def test_every_option_has_help_text(parser):
    """Finding: many `--help` options had no help text."""
    p = parser()
    assert _options_without_help(p, p.prog) == []


# --- money and dates ----------------------------------------------------------------------------------


def test_tables_show_money_grouped_and_aligned(cli):
    """Finding: the CLI printed money as raw cents and unaligned columns."""
    assert cli("catalog", "add", "--sku", "CASK", "--ean", with_check_digit("400638133395"), "--name", "Oil cask",
               "--category", "food", "--price", "1234.50") == 0
    assert cli("catalog", "list") == 0
    lines = cli.out.splitlines()
    assert lines[0].split() == ["sku", "ean", "name", "category", "price"]
    assert any(line.startswith("CASK") and line.endswith("1,234.50") for line in lines)
    assert any(line.startswith("OIL1") and line.endswith("   12.99") for line in lines)
    assert len({len(line) for line in lines[1:]}) == 1  # right-aligned prices end in one column
    _, out = cli.json("catalog", "list")
    assert {"sku": "CASK", "ean": with_check_digit("400638133395"), "name": "Oil cask", "category": "food",
            "price_cents": 123450} in out["products"]

    assert cli("sale", "--card", CARD, "--item", "CASK:2", "--sale-id", "BIG") == 0
    assert "sale BIG: 2,469.00 cash" in cli.out
    assert cli("member", "show", CARD) == 0
    visit = cli.out.splitlines()[2]
    assert re.match(r"^\d{4}-\d{2}-\d{2}\s+2,469.00\s+2469\s+2x Oil cask$", visit), cli.out
    assert cli("refund", "BIG", "--item", "CASK:1") == 0 and "1,234.50" in cli.out


def test_report_text_formats_money(cli):
    """The CLI prints the marketing reports' text with the till's money format (never raw cents)."""
    assert cli("sale", "--card", CARD, "--amount", "1500.00") == 0
    assert cli("report", "points-liability") == 0
    assert "value_cents" not in cli.out and re.search(r"\b\d{1,3}(,\d{3})*\.\d{2}\b", cli.out), cli.out
    write_config(cli.home, {"till": {"decimal_separator": ","}})
    assert cli("report", "points-liability") == 0
    assert re.search(r"\b\d+,\d{2}\b", cli.out) and not re.search(r"\b\d+\.\d{2}\b", cli.out), cli.out


def test_redeem_messages_show_money_not_cents(cli):
    ctx = open_till(cli.home)
    member = ctx.conn.execute("SELECT member_id FROM cards WHERE card_number = ?", (CARD,)).fetchone()[0]
    basket = checkout.Basket(member_id=member, card_number=CARD)
    basket.add(checkout.Line.keyed(100000))
    checkout.commit_sale(ctx, basket)
    assert ledger.balance(ctx.conn, member) >= 500
    ctx.close()
    assert cli("redeem", "--card", CARD, "--reward", "R500", "--pin", "4321", "--amount", "9.00") == 2
    assert "5.00" in cli.err and "500 cents" not in cli.err


# --- head office's siblings ---------------------------------------------------------------------------


def test_headoffice_exit_codes(tmp_path, capsys):
    """The same mistakes at head office: a misspelled --db is not a new empty head office, bad numbers are
    usage errors, unknown ids are not found."""
    db = f"sqlite:///{tmp_path / 'headoffice.db'}"
    typo = f"sqlite:///{tmp_path / 'headofice.db'}"
    assert headoffice_main(["till", "add", "--store", "S1", "--till", "T1", "--db", db]) == 0
    assert headoffice_main(["report", "counts", "--db", db]) == 0
    capsys.readouterr()
    assert headoffice_main(["report", "counts", "--db", typo]) == 4
    assert "no head-office database" in capsys.readouterr().err
    assert not (tmp_path / "headofice.db").exists()
    for args in (["card", "block", CARD, "--db", typo], ["member", "show", "M1", "--db", typo],
                 ["rule", "set", "offline_redeem_cap", "500", "--db", typo], ["member", "erase", "M1", "--db", typo]):
        assert headoffice_main(args) == 4, args
    assert not (tmp_path / "headofice.db").exists()
    assert headoffice_main(["till", "add", "--store", "S1", "--till", "T2", "--valid-days", "0", "--db", db]) == 2
    assert headoffice_main(["member", "show", "no-such-member", "--db", db]) == 4
    assert "no member" in capsys.readouterr().err
    assert headoffice_main(["card", "block", UNKNOWN, "--db", db]) == 4
    assert headoffice_main(["rule", "set", "offline_redeem_cap", "-5", "--db", db]) == 2
    assert headoffice_main(["report", "new-customers", "--days", "-1", "--db", db]) == 2
    assert headoffice_main(["report", "lifecycle", "--as-of", "31/03/2026", "--db", db]) == 2
    assert headoffice_main(["serve", "--port", "99999", "--db", db]) == 2
    assert headoffice_main(["serve", "--trusted-proxy", "the-proxy", "--db", db]) == 2
    assert headoffice_main([]) == 2  # no command: usage, not success
    assert headoffice_main(["report", "counts", "--db", "mysql://x"]) == 2

"""`headoffice` administration commands against an embedded database file."""

from __future__ import annotations

import json

from headoffice.cli import main
from headoffice.store import open_store


def test_till_add_rules_reports_and_blocking(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'ho.db'}"
    assert main(["till", "add", "--store", "S1", "--till", "T1", "--db", db]) == 0
    out = capsys.readouterr()
    code = out.out.strip()
    assert len(code) == 14 and "pos-client register URL" in out.err
    assert main(["rule", "set", "offline_redeem_cap", "250", "--db", db]) == 0
    assert main(["card", "block", "2900000000015", "--db", db]) == 4  # unknown card
    capsys.readouterr()
    assert main(["report", "counts", "--db", db]) == 0
    assert json.loads(capsys.readouterr().out)["feed"] == 1
    assert main(["admin", "token", "--db", db]) == 0
    token = capsys.readouterr().out.strip()
    store = open_store(db)
    try:
        assert store.authenticate(token).role == "admin"
        assert store.register(code)[1].store_id == "S1"
    finally:
        store.close()
    assert main(["serve", "--db", "mysql://nope"]) == 2


def test_upkeep_needs_an_existing_head_office_and_a_valid_time(tmp_path, capsys):
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    assert main(["upkeep", "--db", missing]) == 4 and not (tmp_path / "nope.db").exists()
    assert main(["upkeep", "--upkeep-at", "25:00", "--db", missing]) == 2
    assert "HH:MM" in capsys.readouterr().err

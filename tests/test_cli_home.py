"""Issue 13, the till's home: a missing home is an error (never a silent new till), `init` defaults its
identity and refuses to rename a till that already has history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest

from cardread.barcode import with_check_digit
from pos_client.cli.main import main
from pos_client.domain.errors import NotFound
from pos_client.till import open_till
from tests.conftest import ROOT

CARD = with_check_digit("290000000001")


def _run(home, *args: str, env_home: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("POS_CLIENT_HOME", None)
    if env_home:
        env["POS_CLIENT_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "pos_client", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_misspelled_home_is_not_found_and_not_created(tmp_path):
    """Finding: a missing or misspelled POS_CLIENT_HOME silently created an empty new till."""
    typo = tmp_path / "till-1-typo"
    proc = _run(typo, "balance", CARD)
    assert proc.returncode == 4
    assert f"no till at {typo}" in proc.stderr and "pos-client init" in proc.stderr
    assert not typo.exists()
    proc = _run(typo, "member", "find", "Ana", "--json")
    assert proc.returncode == 4 and json.loads(proc.stdout)["exit_code"] == 4
    assert not typo.exists()


def test_missing_home_option_is_not_found_too(tmp_path, capsys):
    typo = tmp_path / "nope"
    assert main(["sale", "--amount", "5.00", "--home", str(typo)]) == 4
    assert "no till at" in capsys.readouterr().err
    assert main(["rewards", "list", "--home", str(typo), "--json"]) == 4
    assert json.loads(capsys.readouterr().out)["exit_code"] == 4
    assert not typo.exists()


def test_an_empty_directory_is_not_a_till(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["balance", CARD, "--home", str(empty)]) == 4
    assert list(empty.iterdir()) == []


def test_the_app_does_not_start_on_a_missing_home(tmp_path, capsys):
    """`pos-client` with no command opens the app: not on a home that is not there."""
    typo = tmp_path / "nope"
    assert main(["--home", str(typo)]) == 4
    err = capsys.readouterr().err
    assert "no till at" in err and "pos-client init" in err and "pos-client demo" in err
    assert not typo.exists()


def test_open_till_can_refuse_a_missing_home(tmp_path):
    with pytest.raises(NotFound, match="no till at"):
        open_till(tmp_path / "nope", create=False)
    assert not (tmp_path / "nope").exists()
    open_till(tmp_path / "new").close()  # creating stays the default (tests, demo, bench)
    open_till(tmp_path / "new", create=False).close()


def test_init_defaults_store_and_till(tmp_path):
    """Finding: `init` required --store and --till although the docs say they default (S1/T1)."""
    home = tmp_path / "till"
    proc = _run(home, "init", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["store_id"], out["till_id"], out["created"]) == ("S1", "T1", True)
    assert (home / "till.db").exists()
    assert _run(home, "balance", CARD).returncode == 4  # a till now: unknown card, not unknown home
    again = json.loads(_run(home, "init", "--json").stdout)
    assert (again["store_id"], again["till_id"], again["created"]) == ("S1", "T1", False)


def test_init_keeps_the_configured_identity_when_not_given(tmp_path, capsys):
    home = tmp_path / "till"
    assert main(["init", "--store", "S7", "--till", "T3", "--home", str(home)]) == 0
    assert main(["init", "--name", "Olive shop", "--home", str(home), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (out["store_id"], out["till_id"]) == ("S7", "T3")
    config = tomllib.loads((home / "config.toml").read_text())
    assert (config["store_id"], config["till_id"], config["store_name"]) == ("S7", "T3", "Olive shop")


def test_init_refuses_to_reidentify_a_till_with_sales_without_force(tmp_path, capsys):
    """Finding: `init` silently gave a till that already has sales a new store/till identity."""
    home = tmp_path / "till"
    assert main(["init", "--home", str(home)]) == 0
    assert main(["sale", "--amount", "12.00", "--home", str(home)]) == 0
    capsys.readouterr()
    assert main(["init", "--store", "S2", "--till", "T9", "--home", str(home)]) == 3
    err = capsys.readouterr().err
    assert "S1/T1" in err and "--force" in err
    config = tomllib.loads((home / "config.toml").read_text())
    assert (config["store_id"], config["till_id"]) == ("S1", "T1")
    assert main(["init", "--store", "S1", "--till", "T1", "--home", str(home)]) == 0  # same identity: fine
    assert main(["init", "--store", "S2", "--till", "T9", "--force", "--home", str(home)]) == 0
    config = tomllib.loads((home / "config.toml").read_text())
    assert (config["store_id"], config["till_id"]) == ("S2", "T9")


def test_init_may_rename_a_till_without_history(tmp_path):
    home = tmp_path / "till"
    assert main(["init", "--home", str(home)]) == 0
    assert main(["init", "--store", "S2", "--till", "T2", "--home", str(home)]) == 0
    config = tomllib.loads((home / "config.toml").read_text())
    assert (config["store_id"], config["till_id"]) == ("S2", "T2")


def test_till_files_are_private(tmp_path):
    """Issue 11, finding 9: till.db holds the bearer token; it was created 0644. Home 0700, files 0600, and a
    home made 0755/0644 by an older version is tightened when the till opens it."""
    import os
    import stat

    from pos_client.store.config import write_config
    from pos_client.till import open_till

    home = tmp_path / "till"
    old_umask = os.umask(0o022)
    try:
        ctx = open_till(home)
        ctx.conn.execute("CREATE TABLE IF NOT EXISTS t (x)")  # make SQLite write its -wal file
        write_config(home, {"store_id": "S1"})
        ctx.close()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in home.iterdir() if p.is_file()}
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert modes["till.db"] == 0o600 and modes["config.toml"] == 0o600, modes
        assert all(m & 0o077 == 0 for m in modes.values()), modes
        home.chmod(0o755)
        (home / "till.db").chmod(0o644)
        (home / "config.toml").chmod(0o644)
        open_till(home).close()
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE((home / "till.db").stat().st_mode) == 0o600
        assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)

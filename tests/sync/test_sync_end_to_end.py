"""Done-when: a head office and two tills of two stores started as the README shows; sales and
redemptions made while head office is down reach it once it is back; both tills agree on the card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tillkit import (
    assert_invariant,
    card_balance,
    enrol,
    own_entries,
    pos_cli_cmd,
    redeem,
    sell,
)

from headoffice.store import open_store
from pos_client.till import open_till
from tests.ports import refusing_port
from tests.ports import start_headoffice as start

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run(cmd: list[str], home: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**ENV, "POS_CLIENT_HOME": str(home)} if home else ENV
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def headoffice(*args: str) -> list[str]:
    return [sys.executable, "-m", "headoffice", *args]


def start_headoffice(db: str, port: int) -> subprocess.Popen:
    return start(headoffice("serve", "--db", db), port=port, cwd=ROOT, env=ENV, timeout=30)[0]


@pytest.fixture
def port():
    """The address the tills are registered with: held, so head office can start on it again after a stop."""
    with refusing_port() as held:
        yield held


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


def test_two_stores_sell_and_redeem_while_head_office_is_down(tmp_path, port):
    db = f"sqlite:///{tmp_path / 'headoffice.db'}"
    url = f"http://127.0.0.1:{port}"
    codes = [run(headoffice("till", "add", "--store", s, "--till", "T1", "--db", db)).stdout.strip()
             for s in ("S1", "S2")]
    assert all(len(c) == 14 for c in codes)
    ho = start_headoffice(db, port)
    homes = [tmp_path / "till-1", tmp_path / "till-2"]
    try:
        for home, code in zip(homes, codes, strict=True):
            run([*pos_cli_cmd(), "init"], home)  # register needs a till: a missing home is an error now
            out = json.loads(run([*pos_cli_cmd(), "register", url, code, "--json"], home).stdout)
            assert out["registered"] and out["url"] == url
        a, b = open_till(homes[0]), open_till(homes[1])
        assert (a.store_id, b.store_id) == ("S1", "S2")
        member = enrol(a, 1, "+33612345678")
        sell(a, 1, 10000)  # 100 points
        first = json.loads(run([*pos_cli_cmd(), "sync", "--once", "--json"], homes[0]).stdout)
        assert first["push"]["entries"] == 1 and first["status"]["state"] == "online"
        pulled = run([*pos_cli_cmd(), "sync", "--once", "--json"], homes[1])
        assert "pulling changes:" in pulled.stderr and "(100%)" in pulled.stderr
        assert card_balance(b, 1) == 100

        stop(ho)  # head office goes down; both stores keep selling and redeeming
        sell(a, 1, 2000)
        redeem(a, member.member_id, 30)
        sell(b, 1, 4000)
        redeem(b, member.member_id, 50)
        failed = run([*pos_cli_cmd(), "sync", "--once"], homes[0], check=False)
        assert failed.returncode == 1 and "nothing lost" in failed.stderr
        status = json.loads(run([*pos_cli_cmd(), "sync", "--status", "--json"], homes[0]).stdout)
        assert status["state"] == "offline" and status["entries_waiting"] == 2

        ho = start_headoffice(db, port)
        for home in (homes[0], homes[1], homes[0]):
            run([*pos_cli_cmd(), "sync", "--once"], home)
        assert card_balance(a, 1) == card_balance(b, 1) == 100 + 20 - 30 + 40 - 50
        store = open_store(db)
        try:
            assert store.balance(member.member_id) == 80
            assert store.counts()["ledger"] == own_entries(a) + own_entries(b) == 5
            assert store.counts()["sales"] == 3
        finally:
            store.close()
        for ctx in (a, b):
            assert_invariant(ctx)
            ctx.close()
    finally:
        stop(ho)

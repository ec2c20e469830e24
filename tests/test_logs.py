"""The till's log: JSON lines with level/time/logger/message/cause, rotated at the configured size, the journal
under systemd, and never a card number, a PIN or a token, whatever path the text took to get there."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pos_client.store import logsetup
from pos_client.store.config import write_config
from tests.test_app_support import PAN, TRACK_PAN, make_app, make_till, scan

ROOT = Path(__file__).resolve().parents[1]
# The test PAN's digits with anything (or nothing) between them: spaces, dashes, dots, JSON escapes.
PAN_ANYHOW = re.compile(r"\D{0,3}".join(PAN))
PIN, TOKEN = "7391", "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID")}
    environ.update({"POS_CLIENT_HOME": str(home), "PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run([sys.executable, "-m", "pos_client", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=60)


def log_lines(home: Path) -> list[dict]:
    return [json.loads(line) for line in logsetup.log_path(home).read_text().splitlines()]


def assert_clean(text: str) -> None:
    assert not PAN_ANYHOW.search(text), "a card number reached the log"
    assert PIN not in text and TOKEN not in text


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "till"
    assert run_cli(home, "init").returncode == 0
    return home


def test_failing_commands_are_logged_with_their_cause_and_no_card_number(home):
    failures = [
        ("sale", "--card", PAN, "--amount", "5"),
        ("sale", "--item", "4111-1111-1111-1111:1"),
        ("refund", "4111 1111 1111 1111"),
        ("member", "find", "4111.1111.1111.1111"),
        ("catalog", "add", "--sku", "X", "--name", "x", "--price", "1", "--ean", PAN),
        ("reprint", "no-such-sale"),
    ]
    for args in failures:
        proc = run_cli(home, *args)
        assert proc.returncode in (3, 4), (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("pos-client: ")
    text = logsetup.log_path(home).read_text()
    assert_clean(text)
    lines = log_lines(home)
    assert len(lines) == len(failures)
    for line in lines:
        assert {"time", "level", "logger", "message", "cause"} <= set(line)
        assert line["level"] == "error" and line["logger"] == "pos_client.cli" and line["cause"]
        assert line["traceback"].startswith("Traceback")  # the traceback is in the log only
    assert "RefusedInput: this is a payment card" in lines[0]["cause"]
    assert lines[-1]["message"] == "pos-client: no sale no-such-sale"
    assert lines[-1]["cause"] == "NotFound: no sale no-such-sale"


def test_redaction_covers_message_arguments_and_exception_text(tmp_path):
    home = tmp_path / "h"
    path = logsetup.configure(home, {})
    log = logging.getLogger("pos_client.test")
    try:
        try:
            try:
                raise OSError(f"reader sent %B{PAN}^DOE/JOHN^2512")
            except OSError as inner:
                raise RuntimeError(f"sync refused: Authorization: Bearer {TOKEN}, manager PIN {PIN}") from inner
        except RuntimeError:
            log.exception("swipe of %s failed; token=%s; pin: %s", "4111 1111 1111 1111", TOKEN, PIN)
        log.warning("card %s", "4111-1111-1111-1111")
        log.info("an EAN stays readable: %s", "4006381333931")
    finally:
        logsetup.configure(None)
    assert path == logsetup.log_path(home)
    text = path.read_text()
    assert_clean(text)
    first, second, third = log_lines(home)
    assert first["cause"].startswith("RuntimeError: sync refused") and "<- OSError: reader sent" in first["cause"]
    assert logsetup.CARD_MASK in first["message"] and logsetup.SECRET_MASK in first["message"]
    assert "Traceback" in first["traceback"] and "RuntimeError" in first["traceback"]
    assert second["message"] == f"card {logsetup.CARD_MASK}" and second["cause"] is None
    assert third["message"].endswith("4006381333931")


def test_log_rotates_at_the_configured_size(home):
    write_config(home, {"logging": {"max_bytes": 2048, "backups": 2}})
    for i in range(6):  # ~1.5 KB a record (the traceback): a new file every record or two
        assert run_cli(home, "reprint", f"missing-{i}").returncode == 4
    path = logsetup.log_path(home)
    rotated = sorted(p.name for p in path.parent.iterdir())
    assert rotated == ["till.log", "till.log.1", "till.log.2"]
    assert all(p.stat().st_size <= 2048 for p in path.parent.iterdir() if p.name != "till.log")
    assert "missing-5" in path.read_text() and "missing-0" not in "".join(  # the oldest rotated away
        p.read_text() for p in path.parent.iterdir())  # the newest is in the current file


def test_journal_under_systemd_writes_priority_prefixed_json_to_stderr(home):
    proc = run_cli(home, "reprint", "gone", env={"INVOCATION_ID": "0123456789abcdef"})
    assert proc.returncode == 4
    [entry] = [line for line in proc.stderr.splitlines() if line.startswith("<3>")]
    fields = json.loads(entry[3:])
    assert fields["message"] == "pos-client: no sale gone" and fields["cause"] == "NotFound: no sale gone"
    assert not logsetup.log_path(home).exists()


def test_bad_logging_section_falls_back_to_defaults(home):
    write_config(home, {"logging": {"level": "LOUD"}})
    assert run_cli(home, "reprint", "x").returncode == 4
    assert log_lines(home)[-1]["cause"] == "NotFound: no sale x"


async def test_cashier_error_in_the_app_is_logged_without_the_card(tmp_path):
    ctx, _ = make_till(tmp_path / "app")
    logsetup.configure(ctx.home, {})
    app = make_app(ctx)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f3")
            await scan(pilot, app, TRACK_PAN)
            await pilot.pause()
    finally:
        logsetup.configure(None)
        ctx.close()
    assert ctx.home is not None
    text = logsetup.log_path(ctx.home).read_text()
    assert_clean(text)
    seen = [line for line in log_lines(ctx.home) if line["message"].startswith("cashier saw:")]
    assert any("payment card" in line["message"] and line["logger"] == "pos_client.app" for line in seen), seen

"""Issue 13: every `pos-client` and `headoffice` command in the README's ```sh blocks runs as written,
in the README's order, in a fresh working directory with the venv's commands on the PATH (what
`. .venv/bin/activate` does), and exits as the README says (0 unless its comment says "exit N"); the
JSON a comment documents is checked key by key (and value by value where the comment is JSON).

What the reader would fill in is filled in from earlier output, and nothing else is changed:
  - `7QK2-MX4P-ZR9D` / `<second code>`: the codes `headoffice till add` printed;
  - `http://headoffice.example:8080`: the head office this test serves on a free loopback port;
  - UPPERCASE placeholders (CODE, ENTRY_ID): the `--json` keys of the command before them (coupon, entry_id);
  - absolute till homes (`/srv/till-1`): directories under the test's temporary directory.
`headoffice serve` runs in the background for the rest of the README (on a free loopback port), and the
receipt printer of `$POS_CLIENT_HOME` is the TCP printer simulator. Other programs in the blocks are not run:
SKIPPED_PROGRAMS says why. Commands named in the prose must name real commands and options.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from cardread.barcode import gtin_valid
from headoffice.cli import build_parser as headoffice_parser
from hw_sim.printer import PrinterSim
from pos_client.cli.main import build_parser
from pos_client.store.config import write_config
from tests.ports import start_headoffice

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV_BIN = ROOT / ".venv" / "bin"

SKIPPED_PROGRAMS = {
    "make": "installs Debian packages as root and runs the whole suite: what CI runs, not a unit test",
    "hw-sim": "interactive simulators that run until stopped: tests/test_hw_sim_cli.py and the device tests",
    ".": "activating the venv: this test puts .venv/bin first on the PATH instead",
    "python": "the start-up probe and the benchmarks: measured by bench/, never in the suite",
    "cat": "sending bytes to a USB printer device",
}
PLACEHOLDERS = {"CODE": "coupon", "ENTRY_ID": "entry_id"}
FIRST_CODE, SECOND_CODE = "7QK2-MX4P-ZR9D", "<second code>"
HEADOFFICE_URL = "http://headoffice.example:8080"


def _sh_blocks(text: str) -> list[list[str]]:
    """The lines of every ```sh block, in order."""
    return [block.splitlines() for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)]


def _split_comment(line: str) -> tuple[str, str]:
    """A shell line and its trailing comment (a `#` after a space, outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def _commands(text: str) -> list[tuple[str, str]]:
    """(command, its comment) for every line of the sh blocks; a quoted value may span lines; a comment-only
    line right after a command continues its comment."""
    out: list[tuple[str, str]] = []
    for block in _sh_blocks(text):
        pending, after_command = "", False
        for raw in block:
            line, comment = _split_comment(raw)
            if pending:
                pending += "\n" + line
            elif not line.strip():
                if comment and after_command:
                    out[-1] = (out[-1][0], f"{out[-1][1]} {comment}")
                else:
                    after_command = False
                continue
            else:
                pending = line
            try:
                shlex.split(pending)
            except ValueError:  # an open quote: the value goes on on the next line
                continue
            out.append((pending, comment))
            pending, after_command = "", True
        assert not pending, f"unterminated command in the README: {pending!r}"
    return out


def _program(command: str) -> str:
    words = shlex.split(command)
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words = words[1:]
    return words[0] if words else ""


def _documented_keys(comment: str) -> tuple[set[str], dict]:
    """Keys a comment documents ({"member_id", "balance"}), and its literal values when it is JSON."""
    m = re.search(r"\{.*\}", comment)
    if not m:
        return set(), {}
    try:
        literal = json.loads(m.group(0))
    except ValueError:
        literal = {}
    keys = set(re.findall(r'"([a-z][a-z_]*)"\s*(?=[:,}\]])', m.group(0)))
    return keys, literal if isinstance(literal, dict) else {}


def _all_keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _all_keys(v)}
    return set()


class Runner:
    """Runs README commands with bash in one working directory, keeping what later commands need."""

    def __init__(self, tmp: Path, printer_url: str) -> None:
        self.tmp, self.work = tmp, tmp / "work"
        self.work.mkdir()
        self.home: Path | None = None
        self.printer_url = printer_url
        # no POS_CLIENT_HOME until the README exports one; the platform data directory is under tmp too
        self.env = {**{k: v for k, v in os.environ.items() if k not in ("POS_CLIENT_HOME", "HEADOFFICE_DB")},
                    "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "XDG_DATA_HOME": str(tmp / "xdg")}
        self.codes: list[str] = []
        self.filled: dict[str, str] = {}
        self.port: int | None = None  # head office's, once the README's `headoffice serve` has run
        self.server: subprocess.Popen | None = None
        self.ran: list[str] = []

    def path(self, written: str) -> Path:
        """A directory the README names (`~/till`, `/srv/till-1`), under the test's temporary directory."""
        return self.tmp / written.removeprefix("~").lstrip("/")

    def export(self, command: str) -> None:
        name, _, value = shlex.split(command)[1].partition("=")
        self.env[name] = str(self.path(value)) if value.startswith(("~", "/")) else value
        if name == "POS_CLIENT_HOME":
            self.home = Path(self.env[name])

    def substitute(self, command: str) -> str:
        if HEADOFFICE_URL in command:
            assert self.port is not None, f"the README names head office's URL before it serves: {command}"
            command = command.replace(HEADOFFICE_URL, f"http://127.0.0.1:{self.port}")
        if self.codes:
            command = command.replace(FIRST_CODE, self.codes[0])
        if len(self.codes) > 1:
            command = command.replace(SECOND_CODE, self.codes[1])
        for name, value in self.filled.items():
            command = re.sub(rf"\b{name}\b", value, command)
        return re.sub(r"POS_CLIENT_HOME=(/\S+)", lambda m: f"POS_CLIENT_HOME={self.path(m.group(1))}", command)

    def serve(self, command: str) -> None:
        words = shlex.split(command)
        assert words[:2] == ["headoffice", "serve"], command
        self.server, self.port = start_headoffice(["headoffice", "serve", "--host", "127.0.0.1"], cwd=self.work,
                                                  env=self.env, timeout=30)

    def run(self, written: str, comment: str) -> None:
        if _program(written) == "headoffice" and shlex.split(written)[1] == "serve":
            self.serve(written)
            return
        command = self.substitute(written)
        left = [p for p in PLACEHOLDERS if re.search(rf"\b{p}\b", command)]
        left += [p for p in (FIRST_CODE, SECOND_CODE, HEADOFFICE_URL) if p in command]
        assert not left, f"nothing earlier in the README gives {left} for: {written}"
        proc = subprocess.run(["bash", "-c", command], cwd=self.work, env=self.env, capture_output=True, text=True,
                              timeout=90)
        m = re.search(r"\bexit (\d)\b(?! if)", comment)  # "exit 3 if not valid" is a condition, not this run
        expected = int(m.group(1)) if m else 0
        assert proc.returncode == expected, (f"README command exited {proc.returncode}, expected {expected}:\n"
                                             f"{written}\n{proc.stdout}\n{proc.stderr}")
        self.ran.append(written)
        self._after(written, proc.stdout, comment)

    def _after(self, written: str, stdout: str, comment: str) -> None:
        words = shlex.split(written)
        if words[:3] == ["headoffice", "till", "add"]:
            self.codes.append(stdout.strip())
        if words[:2] == ["pos-client", "init"] and self.printer_url and self.home is not None:
            write_config(self.home, {"printer": {"url": self.printer_url}})  # the receipt printer is plugged in
            self.printer_url = ""
        if "--json" not in words:
            return
        data = json.loads(stdout.strip().splitlines()[-1])
        keys, literal = _documented_keys(comment)
        assert keys <= _all_keys(data), f"{written}: documented keys {sorted(keys - _all_keys(data))} missing"
        for key, value in literal.items():
            if value != "...":
                assert data[key] == value, f"{written}: {key} is {data[key]!r}, the README says {value!r}"
        for name, key in PLACEHOLDERS.items():
            if isinstance(data, dict) and key in data:
                self.filled[name] = str(data[key])

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(10)


@pytest.fixture
def runner(tmp_path):
    sim = PrinterSim(port=0, out_dir=tmp_path / "paper", png=False).start()
    run = Runner(tmp_path, sim.url)
    history = _history_csv(README.read_text(encoding="utf-8"))
    (run.work / "history.csv").write_text(history, encoding="utf-8")
    yield run
    run.stop()
    sim.stop()


def _history_csv(text: str) -> str:
    """The README's example history.csv (the ```csv block after the import command)."""
    m = re.search(r"`history\.csv`[^`]*?:\s*\n\n```csv\n(.*?)^```", text, flags=re.S | re.M)
    assert m, "the README shows no example history.csv"
    return m.group(1)


# Every command of the README in a fresh interpreter, one after another (each with its own 90 s limit): on a
# loaded 2-core machine the whole walk takes longer than the suite's 120 s per-test default.
@pytest.mark.timeout(900)
def test_readme_commands_run_as_written(runner):
    """Finding: the README's commands were never run: it did not say how to get `pos-client` on the PATH,
    two of its card numbers had wrong check digits, and some steps could not work as written."""
    text = README.read_text(encoding="utf-8")
    assert ". .venv/bin/activate" in text and ".venv/bin/pos-client" in text
    commands = _commands(text)
    for written, comment in commands:
        program = _program(written)
        if program in ("pos-client", "headoffice"):
            runner.run(written, comment)
        elif program == "export":
            runner.export(written)
        else:
            assert program in SKIPPED_PROGRAMS, f"a README command this test neither runs nor skips: {written}"
    ran = " ".join(runner.ran)
    for must in ("pos-client init", "pos-client sale", "pos-client redeem", "pos-client register", "sync --once",
                 "pos-client reprint", "headoffice till add", "headoffice report"):
        assert must in ran, f"the README no longer runs {must}"
    assert len(runner.codes) == 2 and runner.server is not None
    assert list((runner.tmp / "paper").glob("receipt-*.txt")), "the README's reprint reached no printer"


def test_readme_card_numbers_have_good_check_digits():
    """Finding: two example card numbers (2900000000077, 2900000000015) had wrong check digits."""
    text = README.read_text(encoding="utf-8")
    numbers = set(re.findall(r"(?<!\d)29\d{11}(?!\d)", text))
    assert numbers and not [n for n in sorted(numbers) if not gtin_valid(n)]


def _prose_commands(text: str) -> list[str]:
    no_blocks = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return [m.group(1) for m in re.finditer(r"`((?:pos-client|headoffice)(?: [^`]*)?)`", no_blocks)]


def test_commands_named_in_the_prose_exist():
    """The README's prose names commands and options (`pos-client sync --status [--json]`): each must exist."""
    parsers = {"pos-client": build_parser(), "headoffice": headoffice_parser()}
    problems = []
    for mention in _prose_commands(README.read_text(encoding="utf-8")):
        words = mention.split()
        parser = parsers[words[0]]
        for word in words[1:]:
            sub = next((a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"), None)
            if sub is None or word not in sub.choices:
                break
            parser = sub.choices[word]
        options = {o for a in parser._actions for o in a.option_strings}
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", mention):
            if option not in options:
                problems.append(f"`{mention}`: no option {option}")
    assert not problems, "\n".join(problems)

"""The built wheel, installed the way a till is installed, runs a till end to end.

`python -m build --wheel`, then `scripts/install-till.sh --root DIR --wheel WHEEL`: a fresh venv in
DIR/opt/pos-till/venv with the wheel and every dependency pip resolves (this machine's pip configuration:
its index and local wheel folders, ~20 s). Everything after runs from that venv only, in a directory
outside the repository and without PYTHONPATH: `headoffice serve` on loopback, `headoffice till add`,
`pos-client setup --non-interactive` against the simulated magstripe reader (a pty) and TCP ESC/POS
printer, `pos-client doctor`, a sale, its receipt printed, `balance`, and a sync that head office counts.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from cardread.barcode import with_check_digit
from hw_sim.printer import PrinterSim
from hw_sim.serial_sim import SerialDeviceSim
from tests.ports import refusing_port, start_headoffice

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pos_client", "cardread", "wire", "drivers", "sync", "headoffice", "hw_sim")
CARD = with_check_digit("290000000042")
EAN = with_check_digit("400638133393")
SKIP_SUFFIXES = (".pyc", ".db", ".db-wal", ".db-shm")

pytestmark = pytest.mark.timeout(300)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a shop's shell: no repository on the path, no developer venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "POS_CLIENT_HOME")}
    return {**env, **extra}


def _package_files() -> set[str]:
    """Every file the code ships (templates, static files, migrations too), as wheel paths."""
    out = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(SKIP_SUFFIXES):
                out.add(path.relative_to(ROOT).as_posix())
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheels = list(out.glob("pos_loyalty_client-*-py3-none-any.whl"))
    assert len(wheels) == 1, wheels
    print(f"\nwheel built in {time.monotonic() - started:.1f} s")
    return wheels[0]


def test_the_wheel_ships_every_file_the_code_needs(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    missing = sorted(_package_files() - names)
    assert not missing, f"not in the wheel: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "bench/"))]
    for script in ("pos-client = pos_client.cli.main:main", "headoffice = headoffice.cli:main",
                   "hw-sim = hw_sim.cli:main"):
        assert script in entry_points
    for dep in ("textual", "pyserial", "pyscard", "httpx", "starlette", "uvicorn", "Jinja2", "msgspec"):
        assert f"Requires-Dist: {dep}".lower() in metadata.lower()


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_installed_wheel_sets_up_a_till_that_sells_prints_and_syncs(wheel, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    started = time.monotonic()
    proc = _run(["bash", str(ROOT / "scripts" / "install-till.sh"), "--root", str(root), "--wheel", str(wheel),
                 "--python", sys.executable], cwd=tmp_path, env=_clean_env(), timeout=240)
    install_s = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"\ninstall-till.sh --wheel (fresh venv, pip install with every dependency): {install_s:.1f} s")
    bindir = root / "opt" / "pos-till" / "venv" / "bin"
    pos, ho = str(bindir / "pos-client"), str(bindir / "headoffice")

    work = tmp_path / "shop"  # outside the repository: only the installed wheel can be imported
    work.mkdir()
    home = tmp_path / "till-home"
    env = _clean_env(POS_CLIENT_HOME=str(home))
    where = _run([str(bindir / "python"), "-c", "import pos_client, headoffice; print(pos_client.__file__)"],
                 work, env)
    assert where.returncode == 0 and where.stdout.startswith(str(root)), where.stdout + where.stderr

    db = f"sqlite:///{tmp_path / 'ho.db'}"
    server, port = start_headoffice([ho, "serve", "--db", db, "--no-upkeep"], cwd=work, env=env,
                                    stderr=subprocess.PIPE, text=True)
    reader = SerialDeviceSim("magstripe", tmp_path / "ttyMAG").start()
    printer = PrinterSim(port=0, out_dir=tmp_path / "receipts", png=False).start()
    try:
        add = _run([ho, "till", "add", "--store", "S7", "--till", "T2", "--db", db], work, env)
        assert add.returncode == 0, add.stderr
        code = add.stdout.strip()
        url = f"http://127.0.0.1:{port}"

        started = time.monotonic()
        setup = _run([pos, "setup", "--non-interactive", "--store", "S7", "--till", "T2", "--name", "Olive Shop",
                      "--headoffice", url, "--code", code, "--printer", printer.url,
                      "--reader", f"magstripe:{tmp_path / 'ttyMAG'}", "--json"], work, env)
        print(f"pos-client setup (with registration): {time.monotonic() - started:.2f} s")
        assert setup.returncode == 0, setup.stdout + setup.stderr
        done = json.loads(setup.stdout)
        assert done["registered"] is True and (done["store_id"], done["till_id"]) == ("S7", "T2")
        assert done["printer"] == printer.url and done["readers"][0]["url"] == str(tmp_path / "ttyMAG")
        assert (home / "till.db").is_file() and oct(home.stat().st_mode & 0o777) == "0o700"

        again = _run([pos, "setup", "--non-interactive", "--store", "S7", "--till", "T9"], work, env)
        assert again.returncode == 3 and "already set up" in again.stderr and "Traceback" not in again.stderr

        doctor = _run([pos, "doctor", "--json"], work, env)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        report = json.loads(doctor.stdout)
        status = {check["name"]: check["status"] for check in report["checks"]}
        assert report["failed"] == 0 and report["ok"] is True, report
        assert status["printer"] == status["head office"] == "ok", report
        readers = [check for check in report["checks"] if check["name"].startswith("reader ")]
        assert len(readers) == 1 and readers[0]["status"] == "ok" and "opens" in readers[0]["detail"], report

        for argv in (["catalog", "add", "--sku", "OIL1", "--ean", EAN, "--name", "Olive oil 1L", "--category",
                      "food", "--price", "12.99"],
                     ["member", "enroll", "--card", CARD, "--name", "Ana"]):
            step = _run([pos, *argv], work, env)
            assert step.returncode == 0, step.stderr
        sale = _run([pos, "sale", "--card", CARD, "--item", f"{EAN}:2", "--sale-id", "W1", "--json"], work, env)
        assert sale.returncode == 0, sale.stderr
        assert json.loads(sale.stdout)["points_earned"] == 25  # 25.98 at 1 point per 1.00, rounded down
        printed = _run([pos, "reprint", "W1"], work, env)
        assert printed.returncode == 0, printed.stdout + printed.stderr
        deadline = time.monotonic() + 15
        while not printer.receipts and time.monotonic() < deadline:
            time.sleep(0.05)
        assert printer.receipts and "Olive oil 1L" in printer.receipts[-1].text
        balance = _run([pos, "balance", CARD, "--json"], work, env)
        assert balance.returncode == 0 and json.loads(balance.stdout)["balance"] == 25, balance.stderr

        synced = _run([pos, "sync", "--once", "--json"], work, env)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert json.loads(synced.stdout)["push"]["sales"] == 1
        counts = _run([ho, "report", "counts", "--db", db], work, env)
        assert counts.returncode == 0, counts.stderr
        assert json.loads(counts.stdout)["sales"] == 1
        # installing again (an upgrade with the same wheel) keeps the till and its data
        started = time.monotonic()
        again = _run(["bash", str(ROOT / "scripts" / "install-till.sh"), "--root", str(root), "--wheel", str(wheel),
                      "--python", sys.executable], cwd=tmp_path, env=_clean_env(), timeout=240)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "files already up to date" in again.stdout and "creating" not in again.stdout
        print(f"install-till.sh again (upgrade in place): {time.monotonic() - started:.1f} s")
        balance = _run([pos, "balance", CARD, "--json"], work, env)
        assert balance.returncode == 0 and json.loads(balance.stdout)["balance"] == 25, balance.stderr
    finally:
        server.terminate()
        server.wait(timeout=15)
        reader.stop()
        printer.stop()

    # the unit installed beside this venv verifies against it (its ExecStart exists now)
    units = root / "usr" / "lib" / "systemd"
    units.mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", units / "system", symlinks=True)
    verify = _run(["systemd-analyze", "verify", f"--root={root}", "/etc/systemd/system/pos-till.service"],
                  tmp_path, _clean_env(), timeout=60)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr


# -- `pos-client setup` at the prompts and from flags (the repository's code: quick) ---------------------------

def _pos(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pos_client", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=_clean_env(POS_CLIENT_HOME=str(home), PYTHONPATH=str(ROOT)))


def _config(home: Path) -> dict:
    return tomllib.loads((home / "config.toml").read_text())


def test_setup_prompts_reask_on_bad_answers_through_a_pipe(tmp_path):
    home = tmp_path / "till"
    answers = ["bad id!", "S3", "", "Corner Shop", "euro", "gbp", "ftp://ho", "", "http://x:1", "tcp://10.0.0.9",
               "foo", "pcsc", f"magstripe:{tmp_path / 'ttyMAG'}", "", "maybe", "y"]
    proc = _pos(home, "setup", stdin="\n".join(answers) + "\n")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "store id must be 1-32 letters" in err and "3-letter ISO code" in err
    assert "not a head-office address: 'ftp://ho'" in err and "unknown printer URL 'http://x:1'" in err
    assert "not a reader: 'foo'" in err and "y or n" in err
    assert "Traceback" not in err
    config = _config(home)
    assert (config["store_id"], config["till_id"], config["store_name"]) == ("S3", "T1", "Corner Shop")
    assert config["currency"] == "GBP" and config["printer"]["url"] == "tcp://10.0.0.9"
    assert config["devices"]["readers"] == [
        {"kind": "pcsc", "name": "nfc"},
        {"kind": "serial", "url": str(tmp_path / "ttyMAG"), "role": "magstripe", "name": "magstripe"}]
    assert "till S3/T1 set up in" in proc.stdout and "next: `pos-client doctor`" in proc.stdout
    assert (home / "till.db").is_file()


def test_setup_at_a_terminal_through_a_real_pty(tmp_path):
    home = tmp_path / "till"
    master, slave = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "pos_client", "setup"], stdin=slave, stdout=slave, stderr=slave,
                             cwd=ROOT, env=_clean_env(POS_CLIENT_HOME=str(home), PYTHONPATH=str(ROOT)))
    os.close(slave)
    seen = b""

    def until(text: bytes, timeout: float = 20.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text not in seen:
            assert time.monotonic() < deadline, f"no {text!r} in {seen.decode(errors='replace')!r}"
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        assert text in seen, seen

    try:
        for prompt, answer in ((b"Store id [S1]: ", b"S5"), (b"Till id [T1]: ", b""),
                               (b"Store name on receipts", b""), (b"Currency [EUR]: ", b""),
                               (b"Head office address", b""), (b"Receipt printer URL", b"usb://04b8"),
                               (b"expected usb://VID:PID", b"usb://04b8:0202"), (b"Reader", b""),
                               (b"Write this till [Y]: ", b"")):
            until(prompt)
            os.write(master, answer + b"\r")
        until(b"next: `pos-client doctor`")
        assert child.wait(timeout=20) == 0
    finally:
        if child.poll() is None:
            child.kill()
        os.close(master)
    config = _config(home)
    assert (config["store_id"], config["till_id"], config["currency"]) == ("S5", "T1", "EUR")
    assert config["printer"]["url"] == "usb://04b8:0202" and config["devices"]["readers"] == []


def test_setup_writes_nothing_when_cancelled_or_the_input_ends(tmp_path):
    home = tmp_path / "till"
    cancelled = _pos(home, "setup", stdin="S1\nT1\n\n\n\n\n\nn\n")
    assert cancelled.returncode == 0 and "setup cancelled: nothing written" in cancelled.stdout
    ended = _pos(home, "setup", stdin="S1\nT1\n")
    assert ended.returncode == 2 and "input ended" in ended.stderr and "Traceback" not in ended.stderr
    assert not home.exists()


def test_setup_flags_are_checked_before_anything_is_written(tmp_path):
    home = tmp_path / "till"
    cases = [(["--till", "T1"], "needs --store and --till"),
             (["--store", "S1", "--till", "T1", "--headoffice", "http://ho:8080"], "go together"),
             (["--store", "S1", "--till", "T 1"], "till must be"),
             (["--store", "S1", "--till", "T1", "--printer", "tcp://"], "has no host"),
             (["--store", "S1", "--till", "T1", "--printer", "tcp://p:9100", "--printer-profile", "NOPE"], "NOPE"),
             (["--store", "S1", "--till", "T1", "--reader", "magstripe"], "not a reader"),
             (["--store", "S1", "--till", "T1", "--currency", "euros"], "3-letter")]
    for argv, message in cases:
        proc = _pos(home, "setup", "--non-interactive", *argv, "--json")
        assert proc.returncode == 2, (argv, proc.stderr)
        assert message in proc.stderr and json.loads(proc.stdout)["exit_code"] == 2, (argv, proc.stderr)
    assert not home.exists()


def test_setup_with_an_unreachable_head_office_keeps_the_till_and_says_how_to_finish(tmp_path):
    home = tmp_path / "till"
    with refusing_port() as port:  # nothing listens there
        url = f"http://127.0.0.1:{port}"
        proc = _pos(home, "setup", "--non-interactive", "--store", "S1", "--till", "T4", "--headoffice", url,
                    "--code", "ABC-123")
    assert proc.returncode == 1, proc.stderr
    assert "till S1/T4 is set up in" in proc.stderr and f"pos-client register {url} CODE" in proc.stderr
    assert _config(home)["till_id"] == "T4" and (home / "till.db").is_file()


def test_setup_force_changes_settings_and_keeps_the_sales(tmp_path):
    home = tmp_path / "till"
    assert _pos(home, "setup", "--non-interactive", "--store", "S1", "--till", "T1").returncode == 0
    assert _pos(home, "member", "enroll", "--card", CARD).returncode == 0
    assert _pos(home, "sale", "--card", CARD, "--amount", "40.00", "--sale-id", "F1").returncode == 0
    refused = _pos(home, "setup", "--non-interactive", "--store", "S1", "--till", "T1", "--printer", "tcp://p:9100")
    assert refused.returncode == 3 and "already set up" in refused.stderr and "printer" not in _config(home)
    renamed = _pos(home, "setup", "--non-interactive", "--force", "--store", "S1", "--till", "T8")
    assert renamed.returncode == 3 and "would mix two tills' records" in renamed.stderr
    forced = _pos(home, "setup", "--non-interactive", "--force", "--printer", "tcp://p:9100", "--json")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["created"] is False and _config(home)["printer"]["url"] == "tcp://p:9100"
    assert (_config(home)["store_id"], _config(home)["till_id"]) == ("S1", "T1")
    balance = _pos(home, "balance", CARD, "--json")
    assert json.loads(balance.stdout)["balance"] == 40

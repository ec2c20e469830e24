"""deploy/ and scripts/install-till.sh: the units verify, the script is idempotent and uninstalls cleanly.

The script runs for real with `--root DIR` (every file under DIR; no apt, users or systemctl), twice,
and the two trees must be identical; `systemd-analyze verify --root` checks both units against the
host's own systemd units copied into that root, with their ExecStart paths present.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-till.sh"
UNITS = ROOT / "deploy" / "systemd"
HOST_UNITS = Path("/usr/lib/systemd/system")


def _script(*args: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), "--root", str(root), *args], capture_output=True, text=True,
                          timeout=60)


def _tree(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every path under root with its mode and content (or link target): what a second run must not change."""
    out: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = (oct(st.st_mode), "")
            else:
                out[rel] = (oct(st.st_mode), path.read_bytes())
    return out


def _unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: a key given twice (Environment=) keeps every value."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_install_script_is_valid_bash_and_refuses_bad_options(tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, timeout=10).returncode == 0
    bad = _script("--frobnicate", root=tmp_path)
    assert bad.returncode == 2 and "unknown option --frobnicate" in bad.stderr
    purge = _script("--purge", root=tmp_path)
    assert purge.returncode == 2 and "--purge goes with --uninstall" in purge.stderr
    missing = _script("--wheel", str(tmp_path / "nope.whl"), root=tmp_path)
    assert missing.returncode == 2 and "no such wheel" in missing.stderr
    assert list(tmp_path.iterdir()) == []  # refused before writing anything
    helped = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=10)
    assert helped.returncode == 0 and "--uninstall" in helped.stdout


def test_install_twice_changes_nothing_and_uninstall_leaves_nothing(tmp_path):
    first = _script(root=tmp_path)
    assert first.returncode == 0, first.stderr
    tree = _tree(tmp_path)
    for path in ("etc/systemd/system/pos-till.service", "etc/udev/rules.d/99-pos-till.rules",
                 "etc/polkit-1/rules.d/50-pos-till-pcscd.rules", "usr/local/bin/pos-client", "etc/pos-till/env",
                 "opt/pos-till/share/install.md"):
        assert path in tree, path
    assert tree["var/lib/pos-till"][0] == oct(stat.S_IFDIR | 0o700)
    assert tree["usr/local/bin/pos-client"][0] == oct(stat.S_IFREG | 0o755)
    assert (tmp_path / "etc/systemd/system/pos-till.service").read_bytes() == (UNITS / "pos-till.service").read_bytes()
    assert b"exec /opt/pos-till/venv/bin/pos-client" in tree["usr/local/bin/pos-client"][1]
    assert tree["etc/udev/rules.d/99-pos-till.rules"][1] == (ROOT / "deploy/udev/99-pos-till.rules").read_bytes()

    # what an administrator put in the env file survives a re-install
    env = tmp_path / "etc/pos-till/env"
    env.write_text(env.read_text() + "HTTPS_PROXY=http://proxy.shop:3128\n")
    edited = _tree(tmp_path)
    second = _script(root=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "files already up to date" in second.stdout and "wrote" not in second.stdout
    assert _tree(tmp_path) == edited

    # the till's data stays unless --purge
    (tmp_path / "var/lib/pos-till/till.db").write_bytes(b"sales")
    kept = _script("--uninstall", root=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert set(_tree(tmp_path)) == {"etc", "etc/pos-till", "etc/pos-till/env", "var", "var/lib",
                                    "var/lib/pos-till", "var/lib/pos-till/till.db"}
    purged = _script("--uninstall", "--purge", root=tmp_path)
    assert purged.returncode == 0, purged.stderr
    assert list(tmp_path.iterdir()) == []


def _root_with_units(tmp_path: Path) -> Path:
    """An installed root that systemd-analyze can verify in: the host's units and the ExecStart paths."""
    installed = _script(root=tmp_path)
    assert installed.returncode == 0, installed.stderr
    shutil.copy(UNITS / "headoffice.service", tmp_path / "etc/systemd/system/headoffice.service")
    (tmp_path / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree(HOST_UNITS, tmp_path / "usr/lib/systemd/system", symlinks=True)
    bindir = tmp_path / "opt/pos-till/venv/bin"
    bindir.mkdir(parents=True)
    for name in ("pos-client", "headoffice"):  # the wheel's console scripts (tests/test_install.py installs them)
        (bindir / name).write_text("#!/bin/sh\nexit 0\n")
        (bindir / name).chmod(0o755)
    return tmp_path


def _verify(root: Path, unit: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", f"/etc/systemd/system/{unit}"],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing: scripts/setup.sh")
def test_units_pass_systemd_analyze_verify(tmp_path):
    root = _root_with_units(tmp_path)
    for unit in ("pos-till.service", "headoffice.service"):
        result = _verify(root, unit)
        assert result.returncode == 0 and not result.stderr.strip(), f"{unit}: {result.stderr}"
    # and verify does look: without the program the unit is refused, naming the path
    (root / "opt/pos-till/venv/bin/pos-client").unlink()
    broken = _verify(root, "pos-till.service")
    assert broken.returncode != 0 and "/opt/pos-till/venv/bin/pos-client" in broken.stderr


def test_till_unit_runs_the_app_on_tty1_as_pos_and_restarts_it():
    unit = _unit("pos-till.service")
    service = unit["Service"]
    assert service["User"] == ["pos"] and service["TTYPath"] == ["/dev/tty1"]
    assert service["StandardInput"] == ["tty"] and service["StandardError"] == ["journal"]
    assert service["Restart"] == ["always"]
    assert service["ExecStart"] == ["/opt/pos-till/venv/bin/pos-client"]  # no command: the app
    assert "POS_CLIENT_HOME=/var/lib/pos-till" in service["Environment"]
    assert unit["Unit"]["Conflicts"] == ["getty@tty1.service"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    ho = _unit("headoffice.service")["Service"]
    assert ho["ExecStart"][0].startswith("/opt/pos-till/venv/bin/headoffice serve --host 127.0.0.1")
    nginx = (ROOT / "deploy/nginx/headoffice.conf").read_text()
    assert "proxy_pass http://127.0.0.1:8080;" in nginx and "ssl_certificate " in nginx


def test_docs_and_readme_point_the_way():
    guide = (ROOT / "docs/install.md").read_text()
    for needle in ("install-till.sh --wheel", "pos-client setup", "pos-client doctor", "devices list",
                   "devices.md", "backup.md", "--uninstall", "systemctl start pos-till", "headoffice.conf"):
        assert needle in guide, needle
    assert "docs/install.md" in (ROOT / "README.md").read_text()

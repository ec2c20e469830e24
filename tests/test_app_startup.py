"""Start-up: `pos-client`'s import path stays light, and a fresh interpreter reaches the checkout.

The cold-start figure is printed (run with -s to see it), never asserted: timing depends on the machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pos_client.app import startup_probe

ROOT = Path(__file__).resolve().parents[1]


def test_cli_and_app_package_import_nothing_heavy():
    code = ("import sys, pos_client.cli.base, pos_client.app, pos_client.domain.wedge, pos_client.app.events;"
            "print(sorted(m for m in ('textual', 'rich', 'escpos', 'httpx', 'smartcard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"


def test_the_apps_start_path_imports_none_of_what_the_first_screen_does_not_need():
    """numpy (the reports, the day's upkeep), the manager's screens, printing and head office load later."""
    code = ("import sys, pos_client.app.run as run;"
            "print(sorted(m for m in run.NOT_AT_START if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"


def test_cold_start_reaches_the_checkout_screen_with_none_of_them_loaded(tmp_path):
    result = startup_probe.measure_once(str(tmp_path / "home"))
    print(f"\ncold start to first screen: {result['to_first_screen_s']:.3f} s "
          f"(in process {result['in_process_s']:.3f} s)")
    assert result["to_first_screen_s"] >= result["in_process_s"] > 0
    assert result["loaded_by_then"] == []  # the app ran (devices, upkeep on) and still had not loaded them
    assert (tmp_path / "home" / "till.db").exists()

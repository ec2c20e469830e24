"""Start-up: `pos-client`'s import path stays light, and a fresh interpreter reaches the checkout.

The cold-start figure is printed (run with -s to see it), never asserted: timing depends on the machine.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from drivers import readers
from pos_client.app import collector, startup_probe
from pos_client.cli import main

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
    assert result["collector_held"] is True  # started as `pos-client` starts (pos_client.app.boot)
    assert (tmp_path / "home" / "till.db").exists()


def test_pos_client_with_no_command_reaches_the_app_without_loading_the_commands(tmp_path):
    """The till's own start (`pos-client`, systemd) reads no command's module: a missing home is refused the
    way the app refuses it, and by then neither the commands nor what they load (numpy) were imported."""
    code = ("import sys; from pos_client.cli.main import main; code = main(['--home', sys.argv[1]]);"
            "print(code, sorted(m for m in ('numpy', 'textual', 'pos_client.cli.core', 'pos_client.cli.marketing')"
            " if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "no-till-here")], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT)})
    assert run.stdout.strip() == "4 []"  # EXIT_NOT_FOUND, as with the full parser
    assert "no-till-here" in run.stderr


def test_only_a_bare_start_skips_the_full_parser():
    assert main.app_only([]) is not None and main.app_only(["--home", "/x"]).home == "/x"
    assert main.app_only(["--home=/x"]).home == "/x"
    for argv in (["--help"], ["status"], ["--home"], ["--home", "--json"], ["--json"], ["--hom", "/x"],
                 ["--home", "/x", "status"]):
        assert main.app_only(argv) is None, argv


def test_a_till_imports_the_driver_of_each_reader_it_has_and_no_other(tmp_path):
    """`drivers.readers` resolves a kind's module when a reader of that kind is built (READER_CLASSES)."""
    code = ("import sys; from drivers.readers import build_readers, KINDS, READER_CLASSES;"
            "mods = [m for m, _ in READER_CLASSES.values()];"
            "loaded = lambda: sorted(m for m in mods if m in sys.modules);"
            "print(loaded());"
            "r = build_readers({'readers': [{'kind': 'serial', 'url': 'loop://'}]}, print);"
            "print(loaded(), type(r[0]).__name__, sorted(KINDS))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT)}).stdout.splitlines()
    assert out == ["[]", "['drivers.serial_reader'] SerialReader ['evdev', 'pcsc', 'serial']"]


def test_every_reader_kind_resolves_to_its_class():
    for kind, (module, name) in readers.READER_CLASSES.items():
        cls = readers.reader_class(kind)
        assert (getattr(cls, "__module__", None), getattr(cls, "__name__", None)) == (module, name)


def test_the_collector_held_through_the_start_is_released_frozen_by_the_first_screen():
    code = ("import gc; from pos_client.app import collector; collector.hold(); import pos_client.app.run;"
            "held = not gc.isenabled(); collector.release();"
            "print(held, gc.isenabled(), gc.get_freeze_count() > 10000)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "True True True"


def test_an_app_started_without_holding_the_collector_leaves_it_alone():
    """Tests and the demo run TillApp without `collector.hold`: nothing of theirs is frozen."""
    frozen = gc.get_freeze_count()
    collector.release()
    assert gc.isenabled() and gc.get_freeze_count() == frozen

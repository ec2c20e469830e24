"""`hw-sim`: device simulators for the demo and the tests.

Each simulator module listed in SIM_MODULES exposes `register(subparsers)`; its handler
runs the device in the foreground until interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SIM_MODULES: tuple[str, ...] = (
    "hw_sim.serial_sim",
    "hw_sim.nfc_card",
    "hw_sim.pcscd",
    "hw_sim.netfault",
    "hw_sim.printer",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hw-sim", description="Simulated store hardware.")
    sub = parser.add_subparsers(dest="device", metavar="DEVICE")
    for name in SIM_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    return int(args.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())

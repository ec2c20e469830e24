"""`headoffice`: the head-office server and its administration commands."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="headoffice", description="Loyalty head office.")


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    build_parser().print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

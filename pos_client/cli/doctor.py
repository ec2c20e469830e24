"""`pos-client doctor [--full] [--offline] [--json]`: check the till and say what to fix.

One line per check (ok / WARN / FAIL, what was seen, what to do), then a verdict line. Exit 0 when
nothing failed (warnings allowed), 1 when any check failed, so a monitoring script can branch on it.
The checks are in `pos_client.services.doctor` / `doctor_devices`; head office is asked here, through
the sync client, because services sit below sync.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from pos_client.cli.base import EXIT_FAILED, EXIT_OK, Outcome, add_command
from pos_client.services.doctor import FAIL, WARN, Check, limits, local_checks, verdict
from pos_client.services.doctor_devices import HealthReply, check_headoffice, check_printer, check_readers
from pos_client.store.home import till_home
from sync.client import HeadOfficeClient, SyncError

MARK = {"ok": "ok  ", WARN: "WARN", FAIL: "FAIL"}


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "doctor", cmd_doctor,
                    "check config, database, ledger, disk, devices, head office, queues and backups")
    p.add_argument("--full", action="store_true", help="full integrity_check of the database (slower)")
    p.add_argument("--offline", action="store_true", help="skip the devices and head office (local checks only)")


def probe_headoffice(url: str, timeout: float) -> HealthReply:
    """GET /v1/health with a short timeout; the error in words when head office cannot be asked."""
    sent = datetime.now(UTC)
    try:
        with HeadOfficeClient(url, timeout=timeout) as client:
            health, date = client.health()
    except SyncError as exc:
        return HealthReply(False, error=str(exc))
    return HealthReply(health.ok, date, None, sent, datetime.now(UTC))


def run_checks(home_arg: str | None, *, full: bool = False, offline: bool = False) -> list[Check]:
    home = till_home(home_arg, create=False)
    checks, config = local_checks(home, full=full)
    if config is not None and not offline:
        checks.append(check_printer(config))
        checks += check_readers(config)
        checks += check_headoffice(config, probe_headoffice, limits(config))
    return checks


def render(checks: list[Check], summary: dict[str, object]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{MARK.get(c.status, c.status)}  {c.name.ljust(width)}  {c.detail}"
             + (f"  -> {c.fix}" if c.fix and c.status != "ok" else "") for c in checks]
    lines.append(f"doctor: {summary['verdict']}")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> Outcome:
    checks = run_checks(getattr(args, "home", None), full=args.full, offline=args.offline)
    summary = verdict(checks)
    data = {**summary, "checks": [c.as_dict() for c in checks]}
    return Outcome(data, render(checks, summary), EXIT_OK if summary["ok"] else EXIT_FAILED)

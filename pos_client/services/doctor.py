"""`pos-client doctor`'s checks: is this till fit to trade, and if not, what to do about it.

Each check is a function over the till's home (and its config) returning `Check`s in words a store IT
person can act on. They read, never write: the database is opened read-only and without migrations, so
a damaged file is reported instead of touched. Devices and head office are in `doctor_devices`.

    [doctor]
    disk_warn_mb = 1024        # free space at the home below this: warning
    disk_fail_mb = 100         # ...below this: failure (SQLite cannot commit a sale on a full disk)
    backup_warn_hours = 24     # last backup older than this (or none): warning
    outbox_warn_hours = 1      # oldest record waiting for head office older than this: warning
    print_queue_warn = 1       # this many receipts waiting to print: warning
    clock_warn_s = 60          # till clock this far from head office's Date header: warning
    clock_fail_s = 300         # ...this far: failure (expiry, reports and sync order follow the date)
    headoffice_timeout_s = 3   # how long GET /v1/health may take
"""

from __future__ import annotations

import shutil
import sqlite3
import tomllib
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pos_client.domain.errors import PosError
from pos_client.domain.rules import ProgramRules
from pos_client.store import integrity, logsetup, point_months
from pos_client.store import sync_state as state
from pos_client.store.backup import latest_backup
from pos_client.store.config import Config, load_config
from pos_client.store.home import db_path

OK, WARN, FAIL = "ok", "warn", "fail"
LIMITS: dict[str, float] = {"disk_warn_mb": 1024, "disk_fail_mb": 100, "backup_warn_hours": 24,
                            "outbox_warn_hours": 1, "print_queue_warn": 1, "clock_warn_s": 60, "clock_fail_s": 300,
                            "headoffice_timeout_s": 3}
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Check:
    """One finding: `status` ok | warn | fail, `detail` what was seen, `fix` what to do (empty when ok)."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def limits(config: Config | None) -> dict[str, float]:
    """`[doctor]` thresholds over the defaults; a value that is not a number keeps the default."""
    section = config.section("doctor") if config else {}
    out = dict(LIMITS)
    for key in LIMITS:
        value = section.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            out[key] = float(value)
    return out


def check_config(home: Path) -> tuple[Check, Config | None]:
    """config.toml parses and every section the till reads at start-up makes sense."""
    try:
        config = load_config(home)
    except tomllib.TOMLDecodeError as exc:
        return Check("config", FAIL, f"config.toml is not valid TOML: {exc}",
                     "fix the line named, or restore config.toml from the last backup"), None
    except OSError as exc:
        return Check("config", FAIL, f"config.toml cannot be read: {exc.strerror}",
                     "check the file's owner and permissions"), None
    problems: list[str] = []
    for what, probe in (("[till]", lambda: (config.decimal_separator, config.tenders)),
                        ("[program]", lambda: ProgramRules.from_config(config.section("program"))),
                        ("[logging]", lambda: logsetup.settings(config.section("logging")))):
        try:
            probe()
        except (PosError, ValueError, TypeError, KeyError) as exc:
            problems.append(f"{what}: {exc}")
    for key in LIMITS:
        value = config.section("doctor").get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value < 0):
            problems.append(f"[doctor] {key} must be a number of 0 or more, not {value!r}")
    if problems:
        return Check("config", FAIL, "; ".join(problems), "correct config.toml and run doctor again"), config
    return Check("config", OK, f"config.toml valid (store {config.store_id}, till {config.till_id})"), config


@contextmanager
def read_only(home: Path) -> Iterator[sqlite3.Connection]:
    """The till database opened read-only, no migrations: doctor looks, never writes."""
    conn = sqlite3.connect(f"{db_path(home).resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    with closing(conn):
        conn.execute("PRAGMA busy_timeout=5000")
        yield conn


def check_database(home: Path, *, full: bool = False) -> list[Check]:
    """SQLite's own check (quick, or integrity_check with --full) and the ledger sums."""
    if not db_path(home).is_file():
        return [Check("database", FAIL, f"no database at {db_path(home)}",
                      "run `pos-client init` in this home, or restore the last backup")]
    pragma = "integrity_check" if full else "quick_check"
    try:
        with read_only(home) as conn:
            rows = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}(20)")]
            if rows != ["ok"]:
                return [Check("database", FAIL, f"{pragma} found damage: {'; '.join(rows[:3])}",
                              "stop the till and restore the last backup (the backup check says where it is)")]
            checks = [Check("database", OK, f"{pragma}: ok ({db_path(home).stat().st_size // 1024} KiB)")]
            checks.append(check_ledger(conn))
            if full:  # a GROUP BY of the whole ledger: with --full only
                checks.append(check_point_months(conn))
            checks.append(check_chain(conn))
            checks.append(check_writing(home))
            return checks
    except sqlite3.DatabaseError as exc:
        return [Check("database", FAIL, f"the database cannot be read: {exc}",
                      "stop the till and restore the last backup (the backup check says where it is)")]


def check_ledger(conn: sqlite3.Connection) -> Check:
    """Every member's cached balance equals the sum of its ledger entries (the till's one invariant)."""
    rows = conn.execute(
        "SELECT member_id, SUM(cached) AS cached, SUM(summed) AS summed FROM ("
        " SELECT member_id, points AS cached, 0 AS summed FROM balances"
        f" UNION ALL SELECT member_id, 0, points FROM ({integrity.points_rows(conn)}))"  # and opening balances
        " GROUP BY member_id HAVING SUM(cached) != SUM(summed) ORDER BY member_id").fetchall()
    members = conn.execute("SELECT COUNT(*) FROM balances").fetchone()[0]
    if not rows:
        return Check("ledger", OK, f"{members} balance(s) equal their ledger sums")
    shown = ", ".join(f"{r[0]} (balance {r[1]}, ledger {r[2]})" for r in rows[:3])
    return Check("ledger", FAIL, f"{len(rows)} balance(s) differ from their ledger sums: {shown}",
                 "do not edit the ledger; send this report and the database to support, or restore the"
                 " last backup")


def check_point_months(conn: sqlite3.Connection) -> Check:
    """The per-member month summary the liability report reads (derived data) equals the ledger's sums."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'point_months'").fetchone() is None:
        return Check("points summary", OK, "not created yet (the till opens with its migrations)")
    wrong = point_months.differences(conn)
    if not wrong:
        return Check("points summary", OK, "every member's month sums equal the ledger")
    return Check("points summary", WARN, f"the month summary differs from the ledger: {', '.join(wrong[:3])}",
                 "run `pos-client upkeep --rebuild-summary` (it is made again from the ledger, which is not touched)")


def check_disk(home: Path, lim: dict[str, float]) -> Check:
    """Free space where the database lives: a full disk stops every sale."""
    free_mb = shutil.disk_usage(home).free // (1024 * 1024)
    detail = f"{free_mb:,} MB free at {home}"
    if free_mb < lim["disk_fail_mb"]:
        return Check("disk", FAIL, detail, "free space now: old logs, downloads; sales cannot be saved")
    if free_mb < lim["disk_warn_mb"]:
        return Check("disk", WARN, detail, "free some space soon (old logs, old backups)")
    return Check("disk", OK, detail)


def _age(ts: str | None, now: datetime) -> float | None:
    """Hours since a stored timestamp (None when there is none or it does not parse)."""
    if not ts:
        return None
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return (now - (when if when.tzinfo else when.replace(tzinfo=UTC))).total_seconds() / 3600


def _hours(h: float) -> str:
    return f"{h * 60:.0f} min" if h < 1 else f"{h:.1f} h" if h < 48 else f"{h / 24:.0f} days"


def check_queues(home: Path, config: Config, lim: dict[str, float], now: datetime) -> list[Check]:
    """What waits: records for head office (and the oldest), receipts for the printer."""
    try:
        with read_only(home) as conn:
            return [_outbox(conn, config, lim, now), _print_queue(conn, lim, now)]
    except sqlite3.DatabaseError as exc:
        return [Check("outbox", FAIL, f"cannot read the queues: {exc}", "see the database check")]


def _outbox(conn: sqlite3.Connection, config: Config, lim: dict[str, float], now: datetime) -> Check:
    entries = state.unsynced_entries(conn, config.store_id, config.till_id)
    records = state.outbox_size(conn)
    oldest = conn.execute(
        "SELECT MIN(ts) FROM ("
        " SELECT MIN(created_at) AS ts FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ?"
        " UNION ALL SELECT MIN(created_at) FROM sales WHERE rowid > ?"
        " UNION ALL SELECT MIN(m.updated_at) FROM sync_outbox o JOIN members m ON o.type = 'member'"
        "  AND m.member_id = o.key"
        " UNION ALL SELECT MIN(c.updated_at) FROM sync_outbox o JOIN cards c ON o.type = 'card'"
        "  AND c.card_number = o.key)",
        (config.store_id, config.till_id, state.get_int(conn, state.PUSH_HIGH),
         state.get_int(conn, state.PUSH_SALE))).fetchone()[0]
    if not entries and not records:
        return Check("outbox", OK, "nothing waiting for head office")
    age = _age(oldest, now)
    detail = f"{entries} ledger entries and {records} record(s) waiting for head office" + (
        f", oldest {_hours(age)} old" if age is not None else "")
    if age is not None and age > lim["outbox_warn_hours"] and str(config.section("headoffice").get("url") or ""):
        return Check("outbox", WARN, detail, "see the head office check; `pos-client sync --once` sends them now")
    return Check("outbox", OK, detail)


def _print_queue(conn: sqlite3.Connection, lim: dict[str, float], now: datetime) -> Check:
    count, oldest = conn.execute(
        "SELECT COUNT(*), MIN(created_at) FROM print_jobs WHERE status = 'pending'").fetchone()
    if not count:
        return Check("print queue", OK, "no receipt waiting to print")
    age = _age(oldest, now)
    detail = f"{count} receipt(s) waiting to print" + (f", oldest {_hours(age)} old" if age is not None else "")
    if count >= lim["print_queue_warn"]:
        return Check("print queue", WARN, detail, "fix the printer, then `pos-client print-queue --retry`")
    return Check("print queue", OK, detail)


RESTORE_FIX = ("stop the till and restore the latest good backup: `pos-client restore FILE --force` (the backup"
               " check names it); a registered till then gets back from head office what it pushed after it")


def check_chain(conn: sqlite3.Connection) -> Check:
    """The ledger's hash chain (`store.integrity`): the first entry changed, damaged or removed."""
    report = integrity.verify_chain(conn)
    if report is None or report.ok:
        checked = report.checked if report else 0
        unchained = f"; {report.unchained:,} pulled before head office kept hashes" if report and report.unchained \
            else ""
        return Check("chain", OK, f"ledger hash chain intact ({checked:,} entries{unchained})")
    return Check("chain", FAIL, report.words(), RESTORE_FIX)


def check_writing(home: Path) -> Check:
    """Whether the till has stopped writing after finding damage (`till.db.stopped`)."""
    refusal = integrity.stopped(db_path(home))
    if refusal is None:
        return Check("writing", OK, "the till writes (no damage recorded)")
    return Check("writing", FAIL, str(refusal), RESTORE_FIX)


def check_backup(home: Path, config: Config, lim: dict[str, float], now: datetime) -> Check:
    """The last backup and its age: a till without a recent one loses a day of sales to a dead disk."""
    found = latest_backup(home, config)
    if found is None:
        return Check("backup", WARN, "no backup found", "run `pos-client backup` (and schedule it daily)")
    path, when = found
    age = (now - (when if when.tzinfo else when.replace(tzinfo=UTC))).total_seconds() / 3600
    detail = f"last backup {_hours(max(age, 0))} ago: {path.name}"
    if age > lim["backup_warn_hours"]:
        return Check("backup", WARN, detail, "run `pos-client backup`; check the daily schedule runs")
    return Check("backup", OK, detail)


def local_checks(home: Path, *, full: bool = False, now: Clock | None = None) -> tuple[list[Check], Config | None]:
    """Everything doctor can tell from the home alone, and the config (None when it cannot be read)."""
    clock = now or (lambda: datetime.now(UTC))
    config_check, config = check_config(home)
    checks = [config_check, *check_database(home, full=full)]
    lim = limits(config)
    checks.append(check_disk(home, lim))
    if config is not None:
        if all(c.status != FAIL for c in checks if c.name == "database"):
            checks += check_queues(home, config, lim, clock())
        checks.append(check_backup(home, config, lim, clock()))
    return checks, config


def verdict(checks: list[Check]) -> dict[str, Any]:
    """Counts and the one line doctor ends with."""
    failed = [c.name for c in checks if c.status == FAIL]
    warned = [c.name for c in checks if c.status == WARN]
    if failed:
        line = f"NOT READY: {len(failed)} check(s) failed ({', '.join(failed)})"
    elif warned:
        line = f"ready, with {len(warned)} warning(s) ({', '.join(warned)})"
    else:
        line = f"ready: all {len(checks)} checks passed"
    return {"ok": not failed, "failed": len(failed), "warnings": len(warned), "verdict": line}

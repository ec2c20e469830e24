"""The till's log: JSON lines in `<home>/logs/till.log` (rotated), or journald-friendly stderr under systemd.

Why: a cashier reports "it said printer out of paper at 10:02"; support reads the line with its cause and,
in the log only, the traceback. Nothing that could be a bank card number, a PIN or a token may ever reach
the file, so every record passes `Redactor` on its way to a handler (message, arguments, exception text).

    [logging]
    level = "INFO"          # DEBUG, INFO, WARNING, ERROR
    max_bytes = 5000000     # rotate the file at this size...
    backups = 5             # ...keeping this many old files (till.log.1 ... till.log.5)
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cardread.payment import looks_like_payment_card

LOG_DIR, LOG_NAME = "logs", "till.log"
DEFAULTS: dict[str, Any] = {"level": "INFO", "max_bytes": 5_000_000, "backups": 5}
CARD_MASK, SECRET_MASK = "[card number removed]", "[removed]"
_OURS = "_pos_client_handler"  # marks the handlers `configure` installed, so a second call replaces them

# A run of digits that may be split by single spaces, dashes, dots or slashes, as card numbers are keyed.
_DIGIT_RUN = re.compile(r"\d(?:[ \-./]?\d){12,}")
_PIN = re.compile(r"(?i)(\bpin\b[^0-9\n]{0,16}?)\d{3,12}")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]+")
_TOKEN = re.compile(r"(?i)(\b(?:token|authorization|secret|password)\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+")
_SYSLOG = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _holds_card(run: str) -> bool:
    """Any 13-19 digit stretch of the run is a payment card number (the run may carry more digits around it)."""
    digits = re.sub(r"\D", "", run)
    return any(looks_like_payment_card(digits[i:i + n])
               for n in range(13, 20) for i in range(0, len(digits) - n + 1))


def redact(text: str) -> str:
    """`text` without anything that looks like a payment card number, a PIN or a bearer/API token."""
    text = _DIGIT_RUN.sub(lambda m: CARD_MASK if _holds_card(m.group()) else m.group(), text)
    text = _PIN.sub(lambda m: m.group(1) + SECRET_MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + SECRET_MASK, text)
    return _TOKEN.sub(lambda m: m.group(1) + SECRET_MASK, text)


def cause_of(exc: BaseException) -> str:
    """The exception and what caused it, one line: `PrinterError: out of paper <- OSError: ...`."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 5:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}".rstrip(": "))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return " <- ".join(parts)


class Redactor(logging.Filter):
    """Rewrites each record before any handler formats it: message, `cause` and traceback redacted.

    The exception itself is dropped from the record once its text is taken, so no later formatter
    can write the unredacted original.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is None:  # exc_info=True outside an `except`: no cause
            record.exc_info = None
        if record.exc_info and record.exc_info[1] is not None:
            record.cause = redact(cause_of(record.exc_info[1]))
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        cause = getattr(record, "cause", None)
        record.cause = redact(str(cause)) if cause else None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record as the fields one log line carries (traceback only when there is one)."""
    fields: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": record.getMessage(),
        "cause": getattr(record, "cause", None),
        "pid": record.process,
        "thread": record.threadName,
    }
    if record.exc_text:
        fields["traceback"] = record.exc_text
    return fields


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, cause (and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), ensure_ascii=False)


class JournalLines(logging.Formatter):
    """`<priority>` then the JSON object: journald takes the level from the prefix (SyslogLevelPrefix)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"<{_SYSLOG.get(record.levelno, 6)}>" + json.dumps(record_fields(record), ensure_ascii=False)


class QuietFileHandler(logging.handlers.RotatingFileHandler):
    """The till's log file. A write that fails (disk full, file-size limit, read-only disk) is dropped:
    logging's default prints its own traceback to stderr, over the one-paragraph error the user must see."""

    def handleError(self, record: logging.LogRecord) -> None:
        return None


def under_systemd(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """stderr goes to the journal: JOURNAL_STREAM names it (systemd.exec), or a service without a terminal."""
    env = os.environ if environ is None else environ
    stream = env.get("JOURNAL_STREAM", "")
    if stream:
        try:
            st = os.fstat(sys.stderr.fileno())
        except (OSError, ValueError, AttributeError):
            return False
        return stream == f"{st.st_dev}:{st.st_ino}"
    return bool(env.get("INVOCATION_ID")) and not sys.stderr.isatty()


def log_path(home: Path) -> Path:
    return home / LOG_DIR / LOG_NAME


def settings(section: dict[str, Any] | None) -> dict[str, Any]:
    """`[logging]` over the defaults; a bad value is a clear ValueError (doctor reports it)."""
    out = {**DEFAULTS, **(section or {})}
    level = str(out["level"]).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"[logging] level must be DEBUG, INFO, WARNING or ERROR, not {out['level']!r}")
    for key in ("max_bytes", "backups"):
        value = out[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < (1024 if key == "max_bytes" else 1):
            raise ValueError(f"[logging] {key} must be a whole number (max_bytes >= 1024, backups >= 1),"
                             f" not {value!r}")
    return {"level": level, "max_bytes": out["max_bytes"], "backups": out["backups"]}


def configure(home: Path | None, section: dict[str, Any] | None = None, *,
              environ: dict[str, str] | None = None) -> Path | None:
    """Send the root logger's records to the till's log; returns the file written, None for the journal.

    With no home (no till yet) nothing is installed: the command's one-line error still reaches stderr.
    A bad `[logging]` section falls back to the defaults (doctor says what is wrong with it).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    try:
        conf = settings(section)
    except ValueError:
        conf = dict(DEFAULTS)
    handler: logging.Handler
    path: Path | None = None
    if under_systemd(environ):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JournalLines())
    elif home is not None:
        path = log_path(home)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = QuietFileHandler(path, maxBytes=conf["max_bytes"], backupCount=conf["backups"], encoding="utf-8")
        handler.setFormatter(JsonLines())
    else:
        return None
    handler.addFilter(Redactor())
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(conf["level"])
    return path

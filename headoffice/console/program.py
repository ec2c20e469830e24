"""The console's program pages: edit the rules tills read, publish them, and see which tills have them.

The forms are built from the wire schema itself (`wire.rules.ProgramRules`, one form per rule key) and
every publish is checked by `wire.rules.validate_rule`, the same check the API applies: the console can
never publish what a till would refuse, and a key added to the schema gets its form without a change
here: a list of structs (rewards, offers) is a table of rows, a struct (earning) one row of fields, a list of
names one comma-separated field. Each reason the schema gives is shown next to its field. Publishing is the
owner's (the program is chain-wide) and is a new program version, kept with who and why and audited in the
same transaction; a manager sees the program and their own store's tills, with the version each applied.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec.inspect as mi
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from headoffice.console.web import Console, reason_of
from headoffice.store.directory import SETTINGS, ActionRefused
from wire.bounds import KEYED_POINTS
from wire.rules import RULE_KEYS, ProgramRules, validate_rule

BLANK_ROWS = 2  # empty rows under a list rule's rows, to add entries
HISTORY = 20  # versions listed on the page
MAX_ROWS = 200
_REASON = re.compile(r"^(?P<key>\w+)(?:\[(?P<row>\d+)\])?(?:\.(?P<field>\w+)(?:\[\d+\])?)?: (?P<msg>.*)$")
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class Column:
    """One input of a rule's form, as the wire schema types it."""

    name: str
    kind: str  # "int" | "text" | "list" (comma-separated texts) | "choice" | "json"
    required: bool
    choices: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True)
class RuleForm:
    """A rule key's form: a list of rows (rewards, tiers, ...), one row of fields (earning) or one value."""

    key: str
    description: str
    is_list: bool
    columns: tuple[Column, ...]
    is_struct: bool = False  # one row of the struct's fields, posted as row 0


def rule_forms() -> list[RuleForm]:
    """One form per key of ProgramRules, from the schema's own type information."""
    out = []
    info = mi.type_info(ProgramRules)
    if not isinstance(info, mi.StructType):  # pragma: no cover - ProgramRules is a Struct
        raise TypeError("ProgramRules must be a msgspec Struct")
    for f in info.fields:
        t, extra = _unwrap(f.type)
        desc = str(extra.get("description", f.name))
        if isinstance(t, mi.ListType) and isinstance(t.item_type, mi.StructType):
            cols = tuple(_column(c.encode_name, c.type, c.required, c.default) for c in t.item_type.fields)
            out.append(RuleForm(f.encode_name, desc, True, cols))
        elif isinstance(t, mi.StructType):
            cols = tuple(_column(c.encode_name, c.type, c.required, c.default) for c in t.fields)
            out.append(RuleForm(f.encode_name, desc, False, cols, is_struct=True))
        else:
            out.append(RuleForm(f.encode_name, desc, False, (_column("value", f.type, True, None),)))
    return out


def _unwrap(t: mi.Type) -> tuple[mi.Type, dict[str, Any]]:
    extra: dict[str, Any] = {}
    while isinstance(t, mi.Metadata):
        extra.update(t.extra_json_schema or {})
        t = t.type
    return t, extra


def _column(name: str, t: mi.Type, required: bool, default: Any) -> Column:
    t, _ = _unwrap(t)
    if isinstance(t, mi.UnionType):  # `X | None`: optional, blank is None
        rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
        t, _ = _unwrap(rest[0]) if len(rest) == 1 else (t, {})
        required = False
    plain = None if default is mi.NODEFAULT else default
    if isinstance(t, mi.IntType):
        return Column(name, "int", required, default=plain)
    if isinstance(t, mi.StrType):
        return Column(name, "text", required, default=plain)
    if isinstance(t, mi.LiteralType):
        return Column(name, "choice", required, tuple(str(v) for v in t.values), plain)
    if isinstance(t, mi.ListType) and isinstance(_unwrap(t.item_type)[0], mi.StrType):
        return Column(name, "list", required, default=plain)
    return Column(name, "json", required, default=plain)


def routes(console: Console) -> list[BaseRoute]:
    """`/program` (rules, versions, settings), POST `/program/rules/{key}` and `/program/settings`."""
    pages = ProgramPages(console)
    return [Route("/program", pages.show, methods=["GET"]),
            Route("/program/rules/{key}", pages.publish, methods=["POST"]),
            Route("/program/settings", pages.settings, methods=["POST"])]


class ProgramPages:
    """The handlers, over one Console."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def show(self, request: Request) -> Response:
        self.console.require(request)
        done = request.query_params.get("done", "")
        return self._page(request, done=done if done in (*RULE_KEYS, "settings") else "")

    async def publish(self, request: Request) -> Response:
        user = self.console.require(request, owner=True)
        key = request.path_params["key"]
        forms = {f.key: f for f in rule_forms()}
        if key not in forms:
            return self._page(request, errors={"": {"": f"{key}: not a program rule tills read"}}, status=404)
        form = await self.console.form(request)
        value, reasons, positions = parse_rule(forms[key], form)
        if not reasons:
            reasons = validate_rule(key, value)
        errors = field_errors(key, reasons, positions, forms[key].is_struct)
        try:
            reason = reason_of(form)
        except ValueError as exc:
            errors["reason"] = str(exc)
        if errors:
            return self._page(request, errors={key: errors}, posted={key: form}, status=400)
        store = self.console.store
        await run_in_threadpool(self.console.audited, user, "program.publish", key, reason,
                                lambda: store.set_rule(key, value, by=user.name, reason=reason),
                                lambda version: {"value": value, "version": version})
        return RedirectResponse(f"/program?done={key}", status_code=303)

    async def settings(self, request: Request) -> Response:
        user = self.console.require(request, owner=True)
        form = await self.console.form(request)
        errors: dict[str, str] = {}
        values: dict[str, int] = {}
        for name in SETTINGS:
            text = str(form.get(name, "")).strip()
            if not text.isdigit() or len(text) > 10 or int(text) > KEYED_POINTS.high:  # wire.bounds
                errors[name] = f"a whole number of points from 0 to {KEYED_POINTS.high:,}"
            else:
                values[name] = int(text)
        try:
            reason = reason_of(form)
        except ValueError as exc:
            errors["reason"] = str(exc)
        if errors:
            return self._page(request, errors={"settings": errors}, posted={"settings": form}, status=400)
        for name, value in values.items():
            try:
                self.console.store.set_console_setting(name, value)
            except ActionRefused as exc:  # pragma: no cover - the digits check above refuses first
                return self._page(request, errors={"settings": {name: str(exc)}}, status=400)
        self.console.audit(user, "console.settings", "adjust_limit", reason, values)
        return RedirectResponse("/program?done=settings", status_code=303)

    def _page(self, request: Request, *, done: str = "", errors: dict[str, dict[str, str]] | None = None,
              posted: dict[str, FormData] | None = None, status: int = 200) -> Response:
        user = self.console.user(request)
        store = self.console.store
        rules = store.rules()
        versions = store.rule_versions()
        tills = [t for t in versions["tills"] if user.sees(t["store_id"])]
        forms = [{"form": f, "rows": _rows(f, rules.get(f.key), (posted or {}).get(f.key)),
                  "set": f.key in rules} for f in rule_forms()]
        settings = {name: store.console_setting(name) for name in SETTINGS}
        return self.console.render(request, "program.html", {
            "forms": forms, "version": versions["version"], "tills": tills, "done": done,
            "history": store.program_history(HISTORY),
            "errors": errors or {}, "settings": settings, "active": "program",
            "current": sum(t["state"] == "current" for t in tills)}, status=status)


def parse_rule(form_spec: RuleForm, form: FormData) -> tuple[Any, list[str], list[int]]:
    """The rule's value from its posted form, reasons for what is not even typed, and each value row's form row.

    Blank rows are dropped, so a reason about `rewards[1]` may be about the form's third row.
    """
    key = form_spec.key
    reasons: list[str] = []
    positions: list[int] = []
    if form_spec.is_struct:
        struct = _row(form_spec, _texts(form, form_spec, 0), key, reasons)
        return struct, reasons, [0]
    if not form_spec.is_list:
        col = form_spec.columns[0]
        value, why = _cell(col, str(form.get(f"{key}-value", "")))
        if why:
            reasons.append(f"{key}: {why}")
        return value, reasons, positions
    rows: list[dict[str, Any]] = []
    count = min(_count(form.get(f"{key}-rows")), MAX_ROWS)
    for i in range(count):
        texts = _texts(form, form_spec, i)
        if not any(texts.values()):
            continue
        rows.append(_row(form_spec, texts, f"{key}[{len(rows)}]", reasons))
        positions.append(i)
    return rows, reasons, positions


def _count(text: Any) -> int:
    return int(text) if isinstance(text, str) and text.isdigit() else 0


def _texts(form: FormData, form_spec: RuleForm, i: int) -> dict[str, str]:
    """Row `i`'s cells as typed (a single-struct rule is row 0)."""
    return {c.name: str(form.get(f"{form_spec.key}-{i}-{c.name}", "")).strip() for c in form_spec.columns}


def _row(form_spec: RuleForm, texts: dict[str, str], where: str, reasons: list[str]) -> dict[str, Any]:
    """One row's values from its cells; each bad cell adds `where.column: why` to `reasons`."""
    row: dict[str, Any] = {}
    for c in form_spec.columns:
        value, why = _cell(c, texts[c.name])
        if why:
            reasons.append(f"{where}.{c.name}: {why}")
        elif value is not None:
            row[c.name] = value
    return row


def _cell(col: Column, text: str) -> tuple[Any, str | None]:
    """A typed cell: blank is "not given" (the schema's default or its "required"), numbers are integers."""
    text = text.strip()
    if not text:
        return None, None
    if col.kind == "int":
        return (int(text), None) if _INT.match(text) else (None, "a whole number (no decimals)")
    if col.kind == "list":
        return [x.strip() for x in text.split(",") if x.strip()], None
    if col.kind == "json":
        try:
            return json.loads(text), None
        except json.JSONDecodeError:
            return None, "not valid JSON"
    return text, None


def field_errors(key: str, reasons: list[str], positions: list[int], struct: bool = False) -> dict[str, str]:
    """Reasons by the form's field: "row.field" ("2.points"), "row" or "" for the whole rule (a struct's
    fields are row 0's)."""
    out: dict[str, str] = {}
    for reason in reasons:
        m = _REASON.match(reason)
        if m is None or m["key"] != key:
            where, msg = "", reason
        else:
            row = "0" if struct and m["field"] is not None else m["row"]
            if row is not None and int(row) < len(positions):
                row = str(positions[int(row)])
            where = ".".join(x for x in (row, m["field"]) if x is not None)
            msg = m["msg"]
        out[where] = f"{out[where]}; {msg}" if where in out else msg
    return out


def _rows(spec: RuleForm, current: Any, posted: FormData | None) -> list[dict[str, str]]:
    """The form's rows as text: what was posted (to correct it) or the published value, plus blank rows."""
    if spec.is_struct:
        if posted is not None:
            return [{c.name: str(posted.get(f"{spec.key}-0-{c.name}", "")) for c in spec.columns}]
        return [{c.name: _text((current or {}).get(c.name)) for c in spec.columns}]
    if posted is not None:
        if not spec.is_list:
            return [{"value": str(posted.get(f"{spec.key}-value", ""))}]
        count = min(_count(posted.get(f"{spec.key}-rows")), MAX_ROWS)
        return [{c.name: str(posted.get(f"{spec.key}-{i}-{c.name}", "")) for c in spec.columns} for i in range(count)]
    if not spec.is_list:
        return [{"value": "" if current is None else _text(current)}]
    rows = [{c.name: _text(item.get(c.name)) for c in spec.columns} for item in (current or [])]
    return rows + [{c.name: "" for c in spec.columns} for _ in range(BLANK_ROWS)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)

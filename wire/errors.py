"""Why a message was refused, field by field, in words a till operator can act on.

msgspec stops at the first problem and says it in its own words; when it refuses something, `explain`
walks the same declared types (`msgspec.inspect`) over the input and lists every problem, so a record
missing seven fields says seven things. Only refused input takes this path: valid input never pays for it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

T = TypeVar("T")


class Invalid(ValueError):
    """A record or request that cannot be accepted; `reasons` says why, field by field."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class NotJson(ValueError):
    """The body is not JSON at all (HTTP 400, not 422)."""


@cache
def _info(cls: Any) -> mi.Type:
    return mi.type_info(cls)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def whole_numbers(value: Any) -> Any:
    """JSON (and JSON Schema) count 2.0 as the integer 2, so the wire does too; 2.5 stays a float.

    Safe: every integer field is bounded far below 2**53, where a float is exact. Run only on input
    msgspec refused, so the usual message (ints written as ints) never pays for it.
    """
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    return value


def has_nul(data: Any) -> bool:
    """Whether any string in decoded JSON holds NUL (one C-speed encode and scan, not a walk in Python)."""
    return b"\\u0000" in msgspec.json.encode(data)


def nul_reasons(cls: Any, data: Any) -> list[str]:
    """The free-text fields of `data` holding NUL (empty, at the cost of one scan, when none does)."""
    return explain(cls, data) if has_nul(data) else []


def convert(data: Any, cls: type[T]) -> T:
    """`data` (already JSON-decoded) as `cls`, or Invalid with every reason."""
    try:
        found = msgspec.convert(data, cls)
    except msgspec.ValidationError:
        data = whole_numbers(data)
        try:
            found = msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise Invalid(explain(cls, data) or [str(exc)]) from None
    if reasons := nul_reasons(cls, data):
        raise Invalid(reasons)
    return found


def decode(raw: bytes, cls: type[T]) -> T:
    """A JSON body as `cls`: NotJson when it is not JSON, Invalid with every reason when it does not fit."""
    try:
        found = msgspec.json.decode(raw, type=cls)
    except msgspec.ValidationError:
        pass  # JSON, but not a `cls` (or JSON only up to where it stopped fitting): say why, or that it is not JSON
    except msgspec.DecodeError as exc:
        raise NotJson(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise NotJson(TOO_DEEP) from None
    else:
        if b"\\u0000" not in raw:  # JSON writes NUL only as this escape
            return found
    return convert(json_value(raw), cls)


TOO_DEEP = "body is not JSON this server reads: nested too deeply"


def json_value(raw: bytes) -> Any:
    """Any JSON value (NotJson when it is not JSON)."""
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise NotJson(f"body is not JSON: {exc}") from None
    except RecursionError:  # msgspec's own depth guard: a body of 100,000 nested arrays
        raise NotJson(TOO_DEEP) from None


def explain(cls: Any, data: Any, path: str = "") -> list[str]:
    """Every reason `data` does not fit `cls` (empty when it does, or when only msgspec knows why)."""
    return _check(_info(cls), data, path)


def _post_init(cls: Any, data: Any, path: str) -> list[str]:
    """The checks that span fields (`__post_init__`), once every field is right."""
    try:
        msgspec.convert(data, cls)
    except msgspec.ValidationError as exc:
        cause = exc.__cause__
        if isinstance(cause, Invalid):
            return [_at(path, r) for r in cause.reasons]
        return [f"{path or 'body'}: {exc}"]
    return []


def _at(path: str, reason: str) -> str:
    return f"{path}.{reason}" if path else reason


def _check(t: mi.Type, value: Any, path: str) -> list[str]:
    reason = None
    if isinstance(t, mi.Metadata):
        extra = t.extra or {}
        reason = extra.get("reason")
        t = t.type
        if extra.get("nul_free") and isinstance(value, str) and "\x00" in value:
            return [f"{path}: must not contain NUL"]
    problems = _problems(t, value, path)
    if problems and reason and not isinstance(t, mi.StructType | mi.ListType):
        return [f"{path}: {reason}"]
    return problems


def _nullable(t: mi.Type) -> bool:
    if isinstance(t, mi.Metadata):
        t = t.type
    return isinstance(t, mi.NoneType | mi.AnyType) or (
        isinstance(t, mi.UnionType) and any(isinstance(u, mi.NoneType) for u in t.types))


def _problems(t: mi.Type, value: Any, path: str) -> list[str]:
    if isinstance(t, mi.AnyType):
        return []
    if isinstance(t, mi.UnionType):
        if value is None and _nullable(t):
            return []
        options = [u for u in t.types if not isinstance(u, mi.NoneType)]
        found = [_check(u, value, path) for u in options]
        return [] if any(not f for f in found) else found[0]
    if isinstance(t, mi.IntType):
        return _int(t, value, path)
    if isinstance(t, mi.StrType):
        return _str(t, value, path)
    if isinstance(t, mi.BoolType):
        return [] if isinstance(value, bool) else [f"{path}: must be true or false"]
    if isinstance(t, mi.NoneType):
        return [] if value is None else [f"{path}: must be null"]
    if isinstance(t, mi.LiteralType):
        if any(type(value) is type(v) and value == v for v in t.values):
            return []
        return [f"{path}: must be one of {', '.join(sorted(str(v) for v in t.values))}"]
    if isinstance(t, mi.ListType | mi.VarTupleType):
        return _list(t, value, path)
    if isinstance(t, mi.DictType):
        if not isinstance(value, dict):
            return [f"{path}: must be a JSON object"]
        return [r for k, v in value.items()
                for r in (*_check(t.key_type, k, f"{path}.{k}"), *_check(t.value_type, v, f"{path}.{k}"))]
    if isinstance(t, mi.StructType | mi.TypedDictType):
        return _object(t, value, path)
    return []  # a type the walker does not know: msgspec's own message is used (see `convert`)


def _int(t: mi.IntType, value: Any, path: str) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool):
        got = "null" if value is None else type(value).__name__
        return [f"{path}: must be an integer, got {got}"]
    if t.ge is not None and value < t.ge:
        return [f"{path}: must be >= {t.ge}"]
    if t.le is not None and value > t.le:
        return [f"{path}: must be <= {t.le}"]
    return []


def _str(t: mi.StrType, value: Any, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: must be a string"]
    if t.min_length and len(value) < t.min_length:
        return [f"{path}: required" if not value else f"{path}: at least {t.min_length} characters"]
    if t.max_length is not None and len(value) > t.max_length:
        return [f"{path}: longer than {t.max_length} characters"]
    if t.pattern is not None and not _regex(t.pattern).search(value):
        return [f"{path}: malformed"]
    return []


def _list(t: mi.ListType | mi.VarTupleType, value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: must be a list"]
    if t.min_length and len(value) < t.min_length:
        return [f"{path}: must not be empty" if t.min_length == 1 else f"{path}: at least {t.min_length} items"]
    if t.max_length is not None and len(value) > t.max_length:
        return [f"{path}: at most {t.max_length} items"]
    out: list[str] = []
    for i, item in enumerate(value):
        out += _check(t.item_type, item, f"{path}[{i}]")
    return out


def _object(t: mi.StructType | mi.TypedDictType, value: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: must be a JSON object" if path else "record must be a JSON object"]
    out: list[str] = []
    names = set()
    for f in t.fields:
        names.add(f.encode_name)
        where = _at(path, f.encode_name)
        if f.encode_name not in value:
            if f.required:
                out.append(f"{where}: required")
            continue
        item = value[f.encode_name]
        if item is None and not _nullable(f.type):
            out.append(f"{where}: required" if f.required else f"{where}: must not be null")
            continue
        out += _check(f.type, item, where)
    if isinstance(t, mi.StructType) and t.forbid_unknown_fields:
        out += [f"{_at(path, k)}: unknown field" for k in value if k not in names]
    if not out and isinstance(t, mi.StructType):
        out = _post_init(t.cls, value, path)
    return out

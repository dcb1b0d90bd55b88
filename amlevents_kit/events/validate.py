"""Check one wire event (either schema) and say exactly which field is wrong and what is allowed."""

from __future__ import annotations

import json
from typing import Any

from . import types as t
from .models import DATA_CLASSES, json_type, parse_time, preview


class EventValidationError(ValueError):
    """An event is malformed; ``errors`` holds ``(field path, problem)`` pairs, ``path`` the first."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = list(errors)
        self.path = self.errors[0][0] if self.errors else ""
        super().__init__("; ".join(f"{p}: {m}" for p, m in self.errors))


def lookup(event: dict, name: str, default: Any = None) -> Any:
    """Read a top-level attribute case-insensitively (``specVersion`` appears in Azure's docs)."""
    if name in event:
        return event[name]
    low = name.lower()
    for k, v in event.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return default


def detect_schema(event: Any) -> str:
    """Return ``EventGridSchema`` or ``CloudEventSchemaV1_0`` for a wire event dict."""
    if not isinstance(event, dict):
        raise EventValidationError([("event", f"expected a JSON object, got {json_type(event)}")])
    keys = {k.lower() for k in event if isinstance(k, str)}
    if "specversion" in keys or ("eventtype" not in keys and {"type", "source"} <= keys):
        return t.CLOUDEVENT_SCHEMA
    if "eventtype" in keys:
        return t.EVENTGRID_SCHEMA
    raise EventValidationError([(
        "event",
        "cannot tell the schema: an Event Grid event has 'eventType', "
        "a CloudEvent has 'specversion', 'type' and 'source'",
    )])


def _require_str(event, name, problems, *, allow_empty=False, required=True):
    """Check that attribute ``name`` is a (non-empty) string."""
    value = lookup(event, name, _MISSING)
    if value is _MISSING:
        if required:
            problems.append((name, "required field is missing (expected a string)"))
        return None
    if not isinstance(value, str) or (not value and not allow_empty):
        what = "a string" if allow_empty else "a non-empty string"
        problems.append((name, f"expected {what}, got {json_type(value)} {preview(value, 60)}"))
        return None
    return value


_MISSING = object()


#: JSON nesting allowed in an event or a delivery body: 64, the default of .NET's JSON readers (Azure's exact
#: limit is undocumented). Well under Python's recursion limit, so json.dumps and later walks stay safe.
MAX_DEPTH = 64


def load_json(text: str | bytes, *, field: str = "body", max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text; bad JSON or nesting deeper than ``max_depth`` is an error naming ``field``.

    The one JSON reader of events and of Event Grid's publish endpoint, so a 10k-deep body is a
    clear ``EventValidationError`` everywhere (json alone raises RecursionError on it).
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise EventValidationError([(field, f"not UTF-8 text: {exc}")]) from None
    too_deep = (field, f"JSON nested more than {max_depth} levels deep; at most {max_depth} are allowed")
    try:
        value = json.loads(text)
    except RecursionError:
        raise EventValidationError([too_deep]) from None
    except ValueError as exc:
        raise EventValidationError([(field, f"not valid JSON: {exc}")]) from None
    if text.count("[") + text.count("{") > max_depth and json_depth(value) > max_depth:
        raise EventValidationError([too_deep])
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON-like value (a scalar is 0; lists, tuples and dicts nest), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_problems(value: Any, path: str = "", *, max_depth: int = MAX_DEPTH) -> list[tuple[str, str]]:
    """Return ``(field path, problem)`` for what cannot be sent as JSON text; empty when all can.

    Catches, naming the field: values that are not JSON (an object, a datetime, a set ...),
    strings with a lone surrogate (``"\\ud800"`` cannot be encoded as UTF-8), NaN and infinities,
    non-string keys, and nesting deeper than ``max_depth``. Walks without recursion.
    """
    problems: list[tuple[str, str]] = []
    stack = [(value, path, 0)]
    while stack and len(problems) < 10:
        item, where, depth = stack.pop()
        name = where or "value"
        if isinstance(item, str):
            if not _encodable(item):
                problems.append((name, f"contains a lone surrogate, which is not text: {preview(item, 60)}"))
        elif item is None or isinstance(item, (bool, int)):
            continue
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                problems.append((name, f"{item!r} is not a JSON number; use a finite number or null"))
        elif isinstance(item, (dict, list, tuple)):
            if depth >= max_depth:
                problems.append((name, f"nested more than {max_depth} levels deep; at most {max_depth} are allowed"))
                continue
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str) or not _encodable(key):
                        problems.append((name, f"the key {preview(key, 60)} is not a JSON object key (a text string)"))
                        continue
                    stack.append((child, f"{where}.{key}" if where else key, depth + 1))
            else:
                stack.extend((child, f"{name}[{i}]", depth + 1) for i, child in enumerate(item))
        else:
            problems.append((name, f"expected a JSON value (a string, number, boolean, null, array or object), "
                                   f"got {type(item).__name__} {preview(item, 60)}"))
    return problems


def _encodable(text: str) -> bool:
    """True unless ``text`` holds a lone surrogate (UTF-8 cannot encode it)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def event_size(event: dict) -> int:
    """Return the UTF-8 size in bytes of the compact JSON form of an event.

    Raises ``EventValidationError`` naming the field when part of the event is not JSON.
    """
    problems = json_problems(event)
    if problems:
        raise EventValidationError(problems)
    return _size(event)


def _size(event: dict) -> int:
    """UTF-8 size of the compact JSON of an event already known to be JSON."""
    return len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def validate_event(event: Any, *, schema: str | None = None) -> str:
    """Raise ``EventValidationError`` unless ``event`` is a well-formed event; return its schema.

    Checks the envelope of the schema (given or auto-detected), the ``data`` of the known
    event types (required keys, value types; keys read case-insensitively), and the size limit
    of 1 MB per event. Unknown event types are accepted with any ``data``: Azure adds types.
    """
    schema = schema or detect_schema(event)
    if schema not in t.SCHEMAS:
        raise EventValidationError([("schema", f"expected one of {', '.join(t.SCHEMAS)}, got {preview(schema, 80)}")])
    if not isinstance(event, dict):
        raise EventValidationError([("event", f"expected a JSON object, got {json_type(event)}")])
    problems: list[tuple[str, str]] = []
    _require_str(event, "id", problems)
    if schema == t.EVENTGRID_SCHEMA:
        event_type = _require_str(event, "eventType", problems)
        _require_str(event, "subject", problems, allow_empty=True)
        _require_str(event, "topic", problems, required=False)
        _require_str(event, "dataVersion", problems, allow_empty=True, required=False)
        meta = lookup(event, "metadataVersion", _MISSING)
        if meta is not _MISSING and meta != "1":
            problems.append(("metadataVersion", f'must be "1" when present, got {preview(meta, 80)}'))
        time_key = "eventTime"
        time_required = True
    else:
        spec = lookup(event, "specversion", _MISSING)
        if spec != "1.0":
            got = "missing" if spec is _MISSING else repr(spec)
            problems.append(("specversion", f'must be "1.0", got {got}'))
        event_type = _require_str(event, "type", problems)
        _require_str(event, "source", problems)
        _require_str(event, "subject", problems, allow_empty=True, required=False)
        time_key = "time"
        time_required = False
    when = _require_str(event, time_key, problems, required=time_required)
    if when is not None and parse_time(when) is None:
        problems.append((time_key, f"expected an ISO 8601 UTC timestamp like 2019-10-17T22:23:57.535Z, got {when!r}"))
    data = lookup(event, "data", _MISSING)
    cls = DATA_CLASSES.get(event_type) if event_type else None
    if cls is not None:
        problems.extend(cls.check(None if data is _MISSING else data))
    not_json = json_problems(event)
    said = [q for q, _ in problems]  # a field already reported (e.g. "id: expected a string") is not reported again
    problems.extend(p for p in not_json if not any(p[0] == q or p[0].startswith((q + ".", q + "[")) for q in said))
    if not not_json:
        size = _size(event)
        if size > t.MAX_EVENT_BYTES:
            problems.append(("event", f"is {size:,} bytes; an event may be at most 1 MB ({t.MAX_EVENT_BYTES:,} bytes)"))
    if problems:
        raise EventValidationError(problems)
    return schema

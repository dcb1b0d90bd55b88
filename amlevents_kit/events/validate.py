"""Check one wire event (either schema) and say exactly which field is wrong and what is allowed."""

from __future__ import annotations

import json
from typing import Any

from . import types as t
from .models import DATA_CLASSES, json_type, parse_time


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
        problems.append((name, f"expected {what}, got {json_type(value)} {value!r:.60}"))
        return None
    return value


_MISSING = object()


def event_size(event: dict) -> int:
    """Return the UTF-8 size in bytes of the compact JSON form of an event."""
    return len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def validate_event(event: Any, *, schema: str | None = None) -> str:
    """Raise ``EventValidationError`` unless ``event`` is a well-formed event; return its schema.

    Checks the envelope of the schema (given or auto-detected), the ``data`` of the known
    event types (required keys, value types; keys read case-insensitively), and the size limit
    of 1 MB per event. Unknown event types are accepted with any ``data``: Azure adds types.
    """
    schema = schema or detect_schema(event)
    if schema not in t.SCHEMAS:
        raise EventValidationError([("schema", f"expected one of {', '.join(t.SCHEMAS)}, got {schema!r}")])
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
            problems.append(("metadataVersion", f'must be "1" when present, got {meta!r}'))
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
    size = event_size(event)
    if size > t.MAX_EVENT_BYTES:
        problems.append(("event", f"is {size:,} bytes; an event may be at most 1 MB ({t.MAX_EVENT_BYTES:,} bytes)"))
    if problems:
        raise EventValidationError(problems)
    return schema

"""Parse a delivery body (either schema, one event or an array) into typed ``Event`` objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import types as t
from .models import DATA_CLASSES, Event, GenericEventData, json_type, parse_time
from .validate import EventValidationError, detect_schema, load_json, lookup


def _from_sdk_object(obj: Any) -> dict | None:
    """Return the wire dict of an ``EventGridEvent`` or ``CloudEvent`` object, else None."""
    cls = type(obj).__name__
    if cls == "EventGridEvent" and hasattr(obj, "event_type"):
        when = obj.event_time
        return {"id": str(obj.id), "topic": obj.topic, "subject": obj.subject,
                "eventType": obj.event_type,
                "eventTime": when.isoformat() if isinstance(when, datetime) else when,
                "data": obj.data, "dataVersion": obj.data_version,
                "metadataVersion": obj.metadata_version or "1"}
    if cls == "CloudEvent" and hasattr(obj, "specversion"):
        out = {"specversion": obj.specversion or "1.0", "id": obj.id, "source": obj.source,
               "type": obj.type}
        for name in ("subject", "datacontenttype", "dataschema"):
            if getattr(obj, name, None) is not None:
                out[name] = getattr(obj, name)
        if isinstance(obj.time, datetime):
            out["time"] = obj.time.isoformat()
        out["data"] = obj.data
        out.update(obj.extensions or {})
        return out
    return None


def _to_event(raw: Any, index: int | None) -> Event:
    """Build one typed ``Event`` from a wire dict; errors name the array index."""
    where = "event" if index is None else f"[{index}]"
    sdk = _from_sdk_object(raw)
    if sdk is not None:
        raw = sdk
    try:
        schema = detect_schema(raw)
    except EventValidationError as exc:
        raise EventValidationError([(where if p == "event" else f"{where}.{p}", m) for p, m in exc.errors]) from None
    if schema == t.EVENTGRID_SCHEMA:
        names = ("eventType", "topic", "eventTime", "dataVersion")
    else:
        names = ("type", "source", "time", "dataversion")
    event_type = lookup(raw, names[0])
    if not isinstance(event_type, str) or not event_type:
        raise EventValidationError([(f"{where}.{names[0]}", f"expected a non-empty string, got {json_type(event_type)}")])
    data = lookup(raw, "data")
    cls = DATA_CLASSES.get(event_type)
    if cls is None:
        typed = GenericEventData(data)
    elif isinstance(data, dict):
        typed = cls.from_dict(data)
    else:
        raise EventValidationError([(f"{where}.data", f"a {event_type} event needs a JSON object, got {json_type(data)}")])
    when = lookup(raw, names[2])
    version = lookup(raw, names[3])
    return Event(
        id=_id(lookup(raw, "id", "")),
        type=event_type,
        subject=lookup(raw, "subject") or "",
        topic=lookup(raw, names[1]) or "",
        time=parse_time(when) if isinstance(when, str) else None,
        data_version=version,
        data=typed,
        raw=raw,
        schema=schema,
    )


def _id(value: Any) -> str:
    """The event id as text; an id that is missing or null stays empty (validate_event names it)."""
    return "" if value is None else str(value)


def parse_events(body: bytes | str | dict | list | Any) -> list[Event]:
    """Parse a delivery body: JSON text/bytes, a dict, a list, or SDK event objects.

    The schema is auto-detected per event. Unknown event types become ``GenericEventData``.
    Data keys are read case-insensitively and ``modelVersion`` may be a string or a number.
    """
    if isinstance(body, (bytes, bytearray, str)):
        body = load_json(body, field="body")
    if isinstance(body, list):
        return [_to_event(item, i) for i, item in enumerate(body)]
    return [_to_event(body, None)]


def parse_event(body: bytes | str | dict | list | Any) -> Event:
    """Parse exactly one event (a bare event or an array holding one)."""
    events = parse_events(body)
    if len(events) != 1:
        raise EventValidationError([("body", f"expected exactly one event, got {len(events)}")])
    return events[0]

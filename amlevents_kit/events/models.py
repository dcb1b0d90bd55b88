"""Typed ``data`` payloads of the AML and Event Grid events, and the typed ``Event`` envelope.

Data keys are read case-insensitively (the docs show ``ModelName``, the service sends
``modelName``) and written as the current service schema spells them (camelCase, TypeSpec).
``modelVersion`` is accepted as a string or a number and kept as a string.
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from . import types as t


def _is_number(value: Any, *, bits: int = 1024) -> bool:
    """True for a finite JSON number; an integer must fit in ``bits`` bits (1024: a float can hold it)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2 ** bits
    return isinstance(value, float) and math.isfinite(value)


# kind -> (check, "what is allowed" for error messages)
_KINDS = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "nullable-string": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "version": (
        lambda v: isinstance(v, str) or _is_number(v, bits=63),
        "a string or a number (an integer within 64 bits)",
    ),
    "object": (lambda v: isinstance(v, dict), "a JSON object"),
    "number": (lambda v: _is_number(v), "a number"),
    "datetime": (lambda v: v is None or (isinstance(v, str) and parse_time(v) is not None),
                 "an ISO 8601 date-time string or null"),
}


def _key(name: str, kind: str, required: bool = False):
    """Declare a data field: its wire key, value kind and whether the service always sends it."""
    return field(default=None, metadata={"key": name, "kind": kind, "required": required})


def parse_time(value: str) -> datetime | None:
    """Parse an Event Grid timestamp (7-digit fractions, ``Z`` or offsets); None if malformed."""
    m = re.fullmatch(
        r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:?\d\d)?", value
    )
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    if tz is None or tz in "Zz":
        tzinfo = timezone.utc
    else:
        sign = -1 if tz[0] == "-" else 1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        tzinfo = timezone(sign * timedelta(hours=hh, minutes=mm))
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=tzinfo)
    except ValueError:
        return None


class _EventData:
    """Shared reading/writing of data payloads; subclasses are dataclasses with ``_key`` fields."""

    event_type: ClassVar[str] = ""

    @classmethod
    def fields(cls) -> list[dataclasses.Field]:
        """Return the dataclass fields that map to a wire key (declaration order)."""
        return [f for f in dataclasses.fields(cls) if "key" in f.metadata]

    @classmethod
    def keys(cls) -> list[str]:
        """Return the data keys as the current service schema spells them."""
        return [f.metadata["key"] for f in cls.fields()]

    @classmethod
    def check(cls, data: Any, path: str = "data") -> list[tuple[str, str]]:
        """Return ``(field path, problem)`` pairs for a wire ``data`` dict; empty when valid."""
        if not isinstance(data, dict):
            return [(path, f"expected a JSON object, got {json_type(data)}")]
        lower = {k.lower(): k for k in data if isinstance(k, str)}
        problems = []
        for f in cls.fields():
            key, kind = f.metadata["key"], f.metadata["kind"]
            if key.lower() not in lower:
                if f.metadata["required"]:
                    problems.append((f"{path}.{key}", f"required field is missing (expected {_KINDS[kind][1]})"))
                continue
            value = data[lower[key.lower()]]
            ok, allowed = _KINDS[kind]
            if not ok(value):
                problems.append((f"{path}.{key}", f"expected {allowed}, got {json_type(value)} {preview(value, 60)}"))
        return problems

    @classmethod
    def from_dict(cls, data: dict):
        """Build the typed payload from a wire dict, reading keys case-insensitively; lenient."""
        lower = {k.lower(): k for k in data if isinstance(k, str)}
        kwargs, used = {}, set()
        for f in cls.fields():
            wire = lower.get(f.metadata["key"].lower())
            if wire is None:
                continue
            used.add(wire)
            value = data[wire]
            if f.metadata["kind"] == "version" and _is_number(value, bits=63):
                value = str(int(value)) if float(value).is_integer() else str(value)
            elif f.metadata["kind"] == "number" and isinstance(value, int) and _is_number(value):
                value = float(value)
            kwargs[f.name] = value
        kwargs["extra"] = {k: v for k, v in data.items() if k not in used}
        return cls(**kwargs)

    def to_dict(self) -> dict:
        """Return the wire dict: required keys always, optional keys when set, then ``extra``."""
        out = {}
        for f in self.fields():
            value = getattr(self, f.name)
            if value is not None or f.metadata["required"]:
                out[f.metadata["key"]] = value
        out.update(getattr(self, "extra", None) or {})
        return out


class _Preview(reprlib.Repr):
    """reprlib's bounded repr, with dicts in their own order (as repr shows them; reprlib sorts keys)."""

    def repr_dict(self, x: dict, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}" for k, v in list(x.items())[:self.maxdict]]
        return "{" + ", ".join(items) + (", ..." if len(x) > self.maxdict else "") + "}"


_PREVIEW = _Preview()  # repr's text for what fits in an error message; "..." past 6 levels or 200 chars
_PREVIEW.maxlevel = 6
_PREVIEW.maxlist = _PREVIEW.maxdict = _PREVIEW.maxtuple = _PREVIEW.maxset = 40
_PREVIEW.maxstring = _PREVIEW.maxother = _PREVIEW.maxlong = 200


def preview(value: Any, limit: int = 60) -> str:
    """The first ``limit`` characters of ``repr(value)``, safe on huge or 10k-deep values."""
    try:
        return _PREVIEW.repr(value)[:limit]
    except Exception:  # noqa: BLE001  (a repr that fails, or an int over Python's 4300-digit limit)
        return f"<{type(value).__name__}>"


def json_type(value: Any) -> str:
    """Name a value's JSON type for error messages ("a string", "null", …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@dataclass
class ModelRegisteredEventData(_EventData):
    """A model (or a new version of it) was registered in the workspace."""

    event_type: ClassVar[str] = t.MODEL_REGISTERED
    model_name: str | None = _key("modelName", "string", required=True)
    model_version: str | None = _key("modelVersion", "version", required=True)
    model_tags: dict | None = _key("modelTags", "object")
    model_properties: dict | None = _key("modelProperties", "object")
    extra: dict = field(default_factory=dict)


@dataclass
class ModelDeployedEventData(_EventData):
    """An inference service with one or more models finished deploying."""

    event_type: ClassVar[str] = t.MODEL_DEPLOYED
    service_name: str | None = _key("serviceName", "string", required=True)
    service_compute_type: str | None = _key("serviceComputeType", "string", required=True)
    model_ids: str | None = _key("modelIds", "string", required=True)
    service_tags: dict | None = _key("serviceTags", "object")
    service_properties: dict | None = _key("serviceProperties", "object")
    extra: dict = field(default_factory=dict)

    @property
    def model_id_list(self) -> list[str]:
        """The deployed model ids; on the wire ``modelIds`` is one comma-separated string."""
        return [m for m in (self.model_ids or "").split(",") if m]


@dataclass
class _RunEventData(_EventData):
    """The fields RunCompleted and RunStatusChanged share."""

    experiment_id: str | None = _key("experimentId", "string", required=True)
    experiment_name: str | None = _key("experimentName", "string", required=True)
    run_id: str | None = _key("runId", "string", required=True)
    run_type: str | None = _key("runType", "nullable-string", required=True)
    run_tags: dict | None = _key("runTags", "object")
    run_properties: dict | None = _key("runProperties", "object")


@dataclass
class RunCompletedEventData(_RunEventData):
    """An experiment run completed successfully."""

    event_type: ClassVar[str] = t.RUN_COMPLETED
    extra: dict = field(default_factory=dict)


@dataclass
class RunStatusChangedEventData(_RunEventData):
    """A run's status changed (the docs say it currently fires only for ``failed``)."""

    event_type: ClassVar[str] = t.RUN_STATUS_CHANGED
    run_status: str | None = _key("runStatus", "string", required=True)
    extra: dict = field(default_factory=dict)


@dataclass
class DatasetDriftDetectedEventData(_EventData):
    """A dataset drift monitor run found drift between the base and target datasets."""

    event_type: ClassVar[str] = t.DATASET_DRIFT_DETECTED
    data_drift_id: str | None = _key("dataDriftId", "string", required=True)
    data_drift_name: str | None = _key("dataDriftName", "string", required=True)
    run_id: str | None = _key("runId", "string", required=True)
    base_dataset_id: str | None = _key("baseDatasetId", "string", required=True)
    target_dataset_id: str | None = _key("targetDatasetId", "string", required=True)
    drift_coefficient: float | None = _key("driftCoefficient", "number", required=True)
    start_time: str | None = _key("startTime", "datetime", required=True)
    end_time: str | None = _key("endTime", "datetime", required=True)
    extra: dict = field(default_factory=dict)


@dataclass
class SubscriptionValidationEventData(_EventData):
    """The webhook handshake: echo ``validation_code`` or GET ``validation_url`` (spec §5.1)."""

    event_type: ClassVar[str] = t.SUBSCRIPTION_VALIDATION
    validation_code: str | None = _key("validationCode", "string", required=True)
    validation_url: str | None = _key("validationUrl", "string")
    extra: dict = field(default_factory=dict)


@dataclass
class SubscriptionDeletedEventData(_EventData):
    """The event subscription with ARM id ``event_subscription_id`` was deleted (spec §5.3)."""

    event_type: ClassVar[str] = t.SUBSCRIPTION_DELETED
    event_subscription_id: str | None = _key("eventSubscriptionId", "string", required=True)
    extra: dict = field(default_factory=dict)


@dataclass
class GenericEventData:
    """Data of an event type this kit does not know (Azure adds types); ``value`` is the raw data."""

    value: Any = None

    def to_dict(self) -> Any:
        """Return the raw data unchanged."""
        return self.value


DATA_CLASSES: dict[str, type[_EventData]] = {
    cls.event_type: cls
    for cls in (
        ModelRegisteredEventData,
        ModelDeployedEventData,
        RunCompletedEventData,
        RunStatusChangedEventData,
        DatasetDriftDetectedEventData,
        SubscriptionValidationEventData,
        SubscriptionDeletedEventData,
    )
}


def data_keys(event_type) -> list[str]:
    """Return the data keys of an event type, spelled as the current service schema does."""
    name = t.event_type_name(event_type)
    if name not in DATA_CLASSES:
        raise ValueError(f"event_type: unknown event type {preview(name, 80)}; known: {', '.join(DATA_CLASSES)}")
    return DATA_CLASSES[name].keys()


@dataclass
class Event:
    """One event, whichever schema it came in: typed envelope, typed ``data`` and the raw dict."""

    id: str
    type: str
    subject: str
    topic: str
    time: datetime | None
    data_version: str | None
    data: Any
    raw: dict = field(repr=False)
    schema: str = t.EVENTGRID_SCHEMA

    @property
    def source(self) -> str:
        """The CloudEvents name of ``topic`` (the workspace ARM id for AML events)."""
        return self.topic

    @property
    def event_type(self) -> str:
        """The Event Grid name of ``type``."""
        return self.type

    def to_dict(self, schema: str | None = None) -> dict:
        """Return the wire dict in ``schema`` (default: the schema it arrived in)."""
        from .build import to_cloudevent_schema, to_eventgrid_schema

        schema = schema or self.schema
        if schema == t.CLOUDEVENT_SCHEMA:
            return to_cloudevent_schema(self.raw)
        if schema == t.EVENTGRID_SCHEMA:
            return to_eventgrid_schema(self.raw)
        raise ValueError(f"schema: expected one of {', '.join(t.SCHEMAS)}, got {preview(schema, 80)}")

    def to_eventgrid_event(self):
        """Return an ``azure.eventgrid.EventGridEvent`` for this event."""
        from azure.eventgrid import EventGridEvent

        from .validate import validate_event
        wire = self.to_dict(t.EVENTGRID_SCHEMA)
        validate_event(wire, schema=t.EVENTGRID_SCHEMA)  # a clear error here, not one from inside azure-core
        return EventGridEvent.from_dict(wire)

    def to_cloud_event(self):
        """Return an ``azure.core.messaging.CloudEvent`` for this event."""
        from azure.core.messaging import CloudEvent

        from .validate import validate_event
        wire = self.to_dict(t.CLOUDEVENT_SCHEMA)
        validate_event(wire, schema=t.CLOUDEVENT_SCHEMA)
        return CloudEvent.from_dict(wire)

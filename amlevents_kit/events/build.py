"""Build complete wire events in either schema, and convert between the two schemas."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timezone
from typing import Any

from . import types as t
from .models import DATA_CLASSES, GenericEventData, json_type, parse_time, preview
from .validate import EventValidationError, detect_schema, lookup, validate_event


def format_time(value: datetime | str | None, field: str = "time") -> str:
    """Return an Event Grid timestamp string (UTC now when ``value`` is None); errors name ``field``."""
    if value is None:
        value = datetime.now(timezone.utc)
    if isinstance(value, str):
        if parse_time(value) is None:
            raise EventValidationError([(field, f"expected an ISO 8601 timestamp, got {value!r}")])
        return value
    if not isinstance(value, datetime):
        raise EventValidationError([(field, f"expected a datetime or ISO 8601 string, got {json_type(value)}")])
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def subject_for(event_type: str, data: dict) -> str:
    """Compute the subject Azure ML uses for an event type from its data (``""`` if none).

    Drift events use the singular ``datadrift/{id}/run/{runId}`` seen on the wire (spec §1.1
    CONFLICT: Azure's schema page shows the placeholder ``datadrifts/{}/runs/{}``).
    """
    template = t.SUBJECT_TEMPLATES.get(event_type)
    if template is None:
        return ""
    lower = {k.lower(): v for k, v in data.items()}

    def fill(name: str) -> str:
        value = lower.get(name.lower())
        if value is None:
            raise EventValidationError([(f"data.{name}", f"required to build the subject {template!r}")])
        return str(value)

    out, rest = "", template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        name, _, rest = tail.partition("}")
        out += head + fill(name)
    return out + rest


def _data_dict(event_type: str, data: Any) -> Any:
    """Turn ``data`` (dict or dataclass) into the wire dict, spelled as the service schema does."""
    if isinstance(data, GenericEventData):
        data = data.value
    elif dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = data.to_dict() if hasattr(data, "to_dict") else dataclasses.asdict(data)
    cls = DATA_CLASSES.get(event_type)
    if cls is None:
        return data
    problems = cls.check(data)
    if problems:
        raise EventValidationError(problems)
    return cls.from_dict(data).to_dict()


def build_event(
    event_type,
    *,
    topic: str,
    data: Any,
    subject: str | None = None,
    id: str | None = None,
    time: datetime | str | None = None,
    data_version: str | None = None,
    schema: str = t.EVENTGRID_SCHEMA,
) -> dict:
    """Return a complete wire event (a dict) in EventGridSchema or CloudEventSchemaV1_0.

    ``topic`` is the workspace ARM id (``workspace_topic()``); ``data`` a dict or one of the
    ``*EventData`` classes. ``subject`` defaults to the AML format for the type, ``id`` to a new
    UUID, ``time`` to now, ``data_version`` to what the service stamps ("2" for AML events).
    """
    event_type = t.event_type_name(event_type)
    if schema not in t.SCHEMAS:
        raise EventValidationError([("schema", f"expected one of {', '.join(t.SCHEMAS)}, got {preview(schema, 80)}")])
    if not isinstance(topic, str) or not topic.startswith("/subscriptions/"):
        raise EventValidationError([("topic", f"expected an ARM id starting with '/subscriptions/', got {preview(topic, 120)}")])
    if event_type in t.ALL_AML_EVENT_TYPES and not t.is_workspace_id(topic):
        raise EventValidationError([(
            "topic",
            "AML events come from a workspace: expected '/subscriptions/{id}/resourceGroups/{rg}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{{name}}', got {topic!r}",
        )])
    if id is not None and (isinstance(id, bool) or not isinstance(id, (str, int, uuid.UUID))):
        raise EventValidationError([("id", f"expected a string (or an int or UUID), got {json_type(id)} {preview(id)}")])
    wire_data = _data_dict(event_type, data)
    if subject is None:
        subject = subject_for(event_type, wire_data if isinstance(wire_data, dict) else {})
    event = {
        "id": str(id) if id is not None else str(uuid.uuid4()),
        "topic": topic,
        "subject": subject,
        "eventType": event_type,
        "eventTime": format_time(time),
        "data": wire_data,
        "dataVersion": data_version if data_version is not None else t.DEFAULT_DATA_VERSION.get(event_type, ""),
        "metadataVersion": "1",
    }
    if schema == t.CLOUDEVENT_SCHEMA:
        event = to_cloudevent_schema(event)
    validate_event(event, schema=schema)
    return event


def to_cloudevent_schema(event: dict) -> dict:
    """Map an Event Grid event to CloudEvents 1.0 (topic→source, eventType→type, eventTime→time).

    ``dataVersion`` and ``metadataVersion`` are dropped, as in Azure's AML samples. A CloudEvent
    is returned as a copy with ``specversion`` spelled in lower case.
    """
    if detect_schema(event) == t.CLOUDEVENT_SCHEMA:
        out = {("specversion" if k.lower() == "specversion" else k): v for k, v in event.items()}
        return out
    out = {"specversion": "1.0", "id": lookup(event, "id"), "source": lookup(event, "topic"),
           "type": lookup(event, "eventType")}
    if lookup(event, "subject") is not None:
        out["subject"] = lookup(event, "subject")
    if lookup(event, "eventTime") is not None:
        out["time"] = lookup(event, "eventTime")
    if "data" in {k.lower() for k in event}:
        out["data"] = lookup(event, "data")
    return out


_CE_CORE = {"specversion", "id", "source", "type", "subject", "time", "data", "datacontenttype",
            "dataschema", "data_base64"}


def to_eventgrid_schema(event: dict, *, data_version: str | None = None) -> dict:
    """Map a CloudEvent to the Event Grid schema (source→topic, type→eventType, time→eventTime).

    Azure does not offer CloudEvents→Event Grid delivery (extension attributes have no place in
    the Event Grid schema); this helper drops them. ``dataVersion`` is taken from a
    ``dataversion`` extension if present, else ``data_version``, else the type's default.
    """
    if detect_schema(event) == t.EVENTGRID_SCHEMA:
        return dict(event)
    event_type = lookup(event, "type")
    if not isinstance(event_type, str) or not event_type:
        raise EventValidationError([("type", f"expected a non-empty string, got {preview(event_type, 80)}")])
    version = lookup(event, "dataversion")
    if version is None:
        version = data_version if data_version is not None else t.DEFAULT_DATA_VERSION.get(event_type, "")
    out = {"id": lookup(event, "id"), "topic": lookup(event, "source"),
           "subject": lookup(event, "subject") or "", "eventType": event_type,
           "eventTime": lookup(event, "time")}
    if "data" in {k.lower() for k in event}:
        out["data"] = lookup(event, "data")
    out["dataVersion"] = version
    out["metadataVersion"] = "1"
    return out


def model_registered(*, topic: str, model_name: str, model_version: str | int,
                     model_tags: dict | None = None, model_properties: dict | None = None,
                     schema: str = t.EVENTGRID_SCHEMA, **envelope: Any) -> dict:
    """Build a ModelRegistered event; subject ``models/{name}:{version}``."""
    data = {"modelName": model_name, "modelVersion": model_version,
            "modelTags": model_tags or {}, "modelProperties": model_properties or {}}
    return build_event(t.MODEL_REGISTERED, topic=topic, data=data, schema=schema, **envelope)


def model_deployed(*, topic: str, service_name: str, model_ids: str | list[str],
                   service_compute_type: str = "ACI", service_tags: dict | None = None,
                   service_properties: dict | None = None, schema: str = t.EVENTGRID_SCHEMA,
                   **envelope: Any) -> dict:
    """Build a ModelDeployed event; ``model_ids`` may be a list (sent comma-separated)."""
    if isinstance(model_ids, (list, tuple)):
        bad = [(i, x) for i, x in enumerate(model_ids) if not isinstance(x, str)]
        if bad:
            i, x = bad[0]
            raise EventValidationError([("model_ids", f"expected model ids as strings like 'name:1'; item {i} "
                                                      f"is {json_type(x)} {preview(x, 60)}")])
        model_ids = ",".join(model_ids)
    data = {"serviceName": service_name, "serviceComputeType": service_compute_type,
            "serviceTags": service_tags or {}, "serviceProperties": service_properties or {},
            "modelIds": model_ids}
    return build_event(t.MODEL_DEPLOYED, topic=topic, data=data, schema=schema, **envelope)


def _run_data(experiment_id, experiment_name, run_id, run_type, run_tags, run_properties) -> dict:
    """Return the fields RunCompleted and RunStatusChanged share."""
    return {"experimentId": experiment_id, "experimentName": experiment_name, "runId": run_id,
            "runType": run_type, "runTags": run_tags or {}, "runProperties": run_properties or {}}


def run_completed(*, topic: str, experiment_id: str, experiment_name: str, run_id: str,
                  run_type: str | None = None, run_tags: dict | None = None,
                  run_properties: dict | None = None, schema: str = t.EVENTGRID_SCHEMA,
                  **envelope: Any) -> dict:
    """Build a RunCompleted event; subject ``experiments/{experimentId}/runs/{runId}``."""
    data = _run_data(experiment_id, experiment_name, run_id, run_type, run_tags, run_properties)
    return build_event(t.RUN_COMPLETED, topic=topic, data=data, schema=schema, **envelope)


def run_status_changed(*, topic: str, experiment_id: str, experiment_name: str, run_id: str,
                       run_status: str, run_type: str | None = None, run_tags: dict | None = None,
                       run_properties: dict | None = None, schema: str = t.EVENTGRID_SCHEMA,
                       **envelope: Any) -> dict:
    """Build a RunStatusChanged event (Azure sends it when a run fails)."""
    data = _run_data(experiment_id, experiment_name, run_id, run_type, run_tags, run_properties)
    data["runStatus"] = run_status
    return build_event(t.RUN_STATUS_CHANGED, topic=topic, data=data, schema=schema, **envelope)


def dataset_drift_detected(*, topic: str, data_drift_id: str, data_drift_name: str, run_id: str,
                           base_dataset_id: str, target_dataset_id: str, drift_coefficient: float,
                           start_time: datetime | str | None = None,
                           end_time: datetime | str | None = None,
                           schema: str = t.EVENTGRID_SCHEMA, **envelope: Any) -> dict:
    """Build a DatasetDriftDetected event; subject ``datadrift/{id}/run/{runId}``."""
    data = {"dataDriftId": data_drift_id, "dataDriftName": data_drift_name, "runId": run_id,
            "baseDatasetId": base_dataset_id, "targetDatasetId": target_dataset_id,
            "driftCoefficient": drift_coefficient,
            "startTime": None if start_time is None else format_time(start_time, "data.startTime"),
            "endTime": None if end_time is None else format_time(end_time, "data.endTime")}
    return build_event(t.DATASET_DRIFT_DETECTED, topic=topic, data=data, schema=schema, **envelope)


def subscription_validation(*, topic: str, validation_code: str, validation_url: str | None = None,
                            subject: str = "", schema: str = t.EVENTGRID_SCHEMA,
                            **envelope: Any) -> dict:
    """Build the SubscriptionValidationEvent Event Grid sends a webhook on subscription create."""
    data = {"validationCode": validation_code}
    if validation_url is not None:
        data["validationUrl"] = validation_url
    return build_event(t.SUBSCRIPTION_VALIDATION, topic=topic, data=data, subject=subject,
                       schema=schema, **envelope)


def subscription_deleted(*, topic: str, event_subscription_id: str, subject: str = "",
                         schema: str = t.EVENTGRID_SCHEMA, **envelope: Any) -> dict:
    """Build the SubscriptionDeletedEvent sent when an event subscription is deleted."""
    return build_event(t.SUBSCRIPTION_DELETED, topic=topic, subject=subject,
                       data={"eventSubscriptionId": event_subscription_id}, schema=schema, **envelope)

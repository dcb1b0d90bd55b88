"""Event type names, schema names, subject formats and limits (facts from spec/eventgrid.md §1-2)."""

from __future__ import annotations

import enum
import re

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
MODEL_DEPLOYED = "Microsoft.MachineLearningServices.ModelDeployed"
RUN_COMPLETED = "Microsoft.MachineLearningServices.RunCompleted"
RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
DATASET_DRIFT_DETECTED = "Microsoft.MachineLearningServices.DatasetDriftDetected"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
SUBSCRIPTION_DELETED = "Microsoft.EventGrid.SubscriptionDeletedEvent"

#: The five event types an Azure Machine Learning workspace publishes.
ALL_AML_EVENT_TYPES = (
    MODEL_REGISTERED,
    MODEL_DEPLOYED,
    RUN_COMPLETED,
    RUN_STATUS_CHANGED,
    DATASET_DRIFT_DETECTED,
)
#: The Event Grid control events a webhook sees (validation handshake, subscription deleted).
EVENTGRID_EVENT_TYPES = (SUBSCRIPTION_VALIDATION, SUBSCRIPTION_DELETED)
KNOWN_EVENT_TYPES = ALL_AML_EVENT_TYPES + EVENTGRID_EVENT_TYPES

EVENTGRID_SCHEMA = "EventGridSchema"
CLOUDEVENT_SCHEMA = "CloudEventSchemaV1_0"
SCHEMAS = (EVENTGRID_SCHEMA, CLOUDEVENT_SCHEMA)

#: Largest event Event Grid accepts on publish (1 MB; bigger gives HTTP 413).
MAX_EVENT_BYTES = 1024 * 1024

#: Subject format per event type; placeholders name the data key they are filled from.
SUBJECT_TEMPLATES = {
    MODEL_REGISTERED: "models/{modelName}:{modelVersion}",
    MODEL_DEPLOYED: "endpoints/{serviceName}",
    RUN_COMPLETED: "experiments/{experimentId}/runs/{runId}",
    RUN_STATUS_CHANGED: "experiments/{experimentId}/runs/{runId}",
    # Singular "datadrift/…/run/…" is the observed wire form (spec §1.1 CONFLICT: the docs
    # sample shows the placeholder "datadrifts/{}/runs/{}").
    DATASET_DRIFT_DETECTED: "datadrift/{dataDriftId}/run/{runId}",
}

#: dataVersion stamped per type: "2" as the service sends AML events (SDK payloads; the docs
#: samples show ""), "1" for Event Grid's own events, "" (Event Grid's default) otherwise.
DEFAULT_DATA_VERSION = {t: "2" for t in ALL_AML_EVENT_TYPES}
DEFAULT_DATA_VERSION.update({t: "1" for t in EVENTGRID_EVENT_TYPES})

_WORKSPACE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/[^/]+$",
    re.IGNORECASE,
)


def event_type_name(event_type) -> str:
    """Return the plain event type string, also for ``azure.eventgrid.SystemEventNames`` members."""
    if isinstance(event_type, enum.Enum):
        event_type = event_type.value
    if not isinstance(event_type, str) or not event_type:
        from .models import preview  # models imports this module
        raise ValueError(f"event_type: expected a non-empty string, got {preview(event_type, 80)}")
    return event_type


def is_workspace_id(topic: str) -> bool:
    """True if ``topic`` is the ARM id of an Azure ML workspace (the topic of AML events)."""
    return bool(_WORKSPACE_ID.match(topic))


def workspace_topic(subscription_id: str, resource_group: str, workspace_name: str) -> str:
    """Return the workspace ARM id, which is the ``topic``/``source`` of every AML event."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{workspace_name}"
    )


def system_event_name(event_type: str):
    """Return the ``azure.eventgrid.SystemEventNames`` member for a type, or None if it has none."""
    from azure.eventgrid import SystemEventNames

    for member in SystemEventNames:
        if member.value == event_type:
            return member
    return None

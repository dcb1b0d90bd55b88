"""The five Azure ML events (and Event Grid's validation/deleted events) in both schemas.

Build an event as Azure would send it, parse what a webhook receives, convert between the
Event Grid schema and CloudEvents 1.0, and validate with errors that name the field::

    from amlevents_kit import events
    body = events.model_registered(topic=ws_id, model_name="churn", model_version="3")
    event = events.parse_event(body)        # Event(type=..., data=ModelRegisteredEventData(...))
"""

from .build import (
    build_event,
    dataset_drift_detected,
    model_deployed,
    model_registered,
    run_completed,
    run_status_changed,
    subject_for,
    subscription_deleted,
    subscription_validation,
    to_cloudevent_schema,
    to_eventgrid_schema,
)
from .models import (
    DatasetDriftDetectedEventData,
    Event,
    GenericEventData,
    ModelDeployedEventData,
    ModelRegisteredEventData,
    RunCompletedEventData,
    RunStatusChangedEventData,
    SubscriptionDeletedEventData,
    SubscriptionValidationEventData,
    data_keys,
)
from .parse import parse_event, parse_events
from .samples import sample_event
from .types import (
    ALL_AML_EVENT_TYPES,
    CLOUDEVENT_SCHEMA,
    DATASET_DRIFT_DETECTED,
    EVENTGRID_SCHEMA,
    KNOWN_EVENT_TYPES,
    MAX_EVENT_BYTES,
    MODEL_DEPLOYED,
    MODEL_REGISTERED,
    RUN_COMPLETED,
    RUN_STATUS_CHANGED,
    SUBJECT_TEMPLATES,
    SUBSCRIPTION_DELETED,
    SUBSCRIPTION_VALIDATION,
    system_event_name,
    workspace_topic,
)
from .validate import EventValidationError, validate_event

__all__ = [
    "ALL_AML_EVENT_TYPES", "CLOUDEVENT_SCHEMA", "DATASET_DRIFT_DETECTED", "EVENTGRID_SCHEMA",
    "KNOWN_EVENT_TYPES", "MAX_EVENT_BYTES", "MODEL_DEPLOYED", "MODEL_REGISTERED", "RUN_COMPLETED",
    "RUN_STATUS_CHANGED", "SUBJECT_TEMPLATES", "SUBSCRIPTION_DELETED", "SUBSCRIPTION_VALIDATION",
    "DatasetDriftDetectedEventData", "Event", "EventValidationError", "GenericEventData",
    "ModelDeployedEventData", "ModelRegisteredEventData", "RunCompletedEventData",
    "RunStatusChangedEventData", "SubscriptionDeletedEventData", "SubscriptionValidationEventData",
    "build_event", "data_keys", "dataset_drift_detected", "model_deployed", "model_registered",
    "parse_event", "parse_events", "run_completed", "run_status_changed", "sample_event",
    "subject_for", "subscription_deleted", "subscription_validation", "system_event_name",
    "to_cloudevent_schema", "to_eventgrid_schema", "validate_event", "workspace_topic",
]

"""Event Grid's delivery rules as plain functions: no I/O, no clock, so they are tested without sleeping.

Facts from spec/eventgrid.md §4 (AD-RETRY 2023-03 and the newest learn excerpt): success is 200-204;
the retry schedule is 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h;
400/401/403/413 (webhooks) and 400/403/413 (Azure resources) are never retried; an Azure resource's
401 waits at least 5 minutes (AD-RETRY's per-code table: "retry after 5 minutes or more for Azure
Resources endpoints"), as a 404 does; an event is
dead-lettered (or dropped without a dead-letter destination) when it runs out of attempts or of
time-to-live, whichever comes first, and the TTL is checked when the next attempt is due.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from ...events import build as _build
from ...events.types import CLOUDEVENT_SCHEMA, EVENTGRID_SCHEMA, SUBSCRIPTION_DELETED

#: Delays after the 1st, 2nd, ... failed attempt; after the last entry, every 12 hours.
RETRY_SCHEDULE: tuple[float, ...] = (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
#: Some failures wait at least this long before the next attempt (AD-RETRY per-code table).
MIN_DELAY_BY_STATUS = {404: 300, 408: 120, 503: 30}
#: ... and for Azure-resource destinations (AzureFunction, queues) also a 401, which a webhook never retries.
MIN_DELAY_BY_STATUS_AZURE_RESOURCE = {**MIN_DELAY_BY_STATUS, 401: 300}
#: A function destination that does not answer waits 10 minutes (its probation time, AD-RETRY).
MIN_DELAY_INVALID_FUNCTION = 600
#: Configuration-type errors Event Grid does not retry (dead-letter at once, else drop).
NEVER_RETRIED_WEBHOOK = frozenset({400, 401, 403, 413})
NEVER_RETRIED_AZURE_RESOURCE = frozenset({400, 403, 413})
SUCCESS_CODES = frozenset({200, 201, 202, 203, 204})

DEFAULT_MAX_ATTEMPTS = 30
DEFAULT_TTL_MINUTES = 1440
DEFAULT_RESPONSE_TIMEOUT = 30.0
#: Azure holds a dead-letter for this long while its destination is unavailable, then drops it.
DEAD_LETTER_GIVE_UP_SECONDS = 4 * 3600
DEAD_LETTER_RETRY_SECONDS = 300
#: Manual validation: GET the validationUrl within 5 minutes (AD-WEBHOOK 2023).
MANUAL_VALIDATION_WINDOW = 300

HTTP_DESTINATIONS = ("WebHook", "AzureFunction")
QUEUE_DESTINATIONS = ("StorageQueue", "EventHub", "ServiceBusQueue", "ServiceBusTopic")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# deadLetterReason values. MaxDeliveryAttemptsExceeded is documented (AD-RETRY);
# UndeliverableDueToHttpBadRequest is observed in a real dead-letter blob (a Stack Overflow answer);
# the TTL name and the other never-retried codes follow the same pattern: UNVERIFIED.
MAX_ATTEMPTS_EXCEEDED = "MaxDeliveryAttemptsExceeded"
TTL_EXCEEDED = "TimeToLiveExceeded"
_NEVER_RETRIED_REASON = {400: "UndeliverableDueToHttpBadRequest",
                         401: "UndeliverableDueToHttpUnauthorized",
                         403: "UndeliverableDueToHttpForbidden",
                         413: "UndeliverableDueToHttpPayloadTooLarge"}


def retry_delay(attempts_made: int, status: int | None = None, destination_type: str = "WebHook") -> float:
    """Seconds to wait after the ``attempts_made``-th failed attempt (1-based), for a destination type."""
    index = max(attempts_made, 1) - 1
    delay = RETRY_SCHEDULE[index] if index < len(RETRY_SCHEDULE) else RETRY_SCHEDULE[-1]
    minimum = MIN_DELAY_BY_STATUS if destination_type == "WebHook" else MIN_DELAY_BY_STATUS_AZURE_RESOURCE
    return max(delay, minimum.get(status or 0, 0))


def is_success(status: int | None) -> bool:
    return status in SUCCESS_CODES


def never_retried(status: int | None, destination_type: str = "WebHook") -> bool:
    """True for the status codes Event Grid dead-letters (or drops) without retrying."""
    codes = NEVER_RETRIED_WEBHOOK if destination_type == "WebHook" else NEVER_RETRIED_AZURE_RESOURCE
    return status in codes


def outcome_for(status: int | None, error: str | None = None) -> str:
    """The ``lastDeliveryOutcome`` name Event Grid uses for an attempt's result.

    Named outcomes come from AD-RETRY's list; mapping 5xx/429 to ``Busy`` and other codes to
    ``Aborted`` is the sandbox's choice (the docs do not map every status code).
    """
    if error == "timeout":
        return "TimedOut"
    if error == "connect":
        return "SocketError"
    if error == "resolution":
        return "ResolutionError"
    if error == "function":
        return "InvalidAzureFunctionDestination"
    if error:
        return "Aborted"
    if is_success(status):
        return "Delivered"
    return {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            408: "TimedOut", 413: "PayloadTooLarge", 429: "Busy", 503: "Busy"}.get(
        status or 0, "Busy" if (status or 0) >= 500 else "Aborted")


@dataclass
class Decision:
    """What happens to an event after an attempt: delivered, retried at ``at``, or given up."""

    kind: str  # "delivered" | "retry" | "give_up"
    at: float | None = None
    reason: str | None = None


def decide(settings: "Settings", attempts_made: int, status: int | None, error: str | None,
           now: float, publish_time: float) -> Decision:
    """Apply the retry policy to the result of attempt number ``attempts_made`` (1-based)."""
    if error is None and is_success(status):
        return Decision("delivered")
    if error is None and never_retried(status, settings.destination_type):
        return Decision("give_up", reason=_NEVER_RETRIED_REASON[status])
    if attempts_made >= settings.max_attempts:
        return Decision("give_up", reason=MAX_ATTEMPTS_EXCEEDED)
    delay = retry_delay(attempts_made, status if error is None else None, settings.destination_type)
    if error == "function":
        delay = max(delay, MIN_DELAY_INVALID_FUNCTION)
    return Decision("retry", at=now + delay)


def expired(settings: "Settings", publish_time: float, now: float) -> bool:
    """True once the event's time-to-live is over (checked when an attempt is due)."""
    return now >= publish_time + settings.ttl_minutes * 60


# -- the subscription, as the engine needs it -----------------------------------------------------

class SettingsError(ValueError):
    """A subscription body the engine cannot deliver for; the message names the field."""


@dataclass
class Settings:
    """The delivery-relevant part of an event subscription's ARM body."""

    id: str
    name: str
    destination_type: str
    endpoint_url: str | None = None
    resource_id: str | None = None
    queue_name: str | None = None
    queue_ttl: int | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ttl_minutes: int = DEFAULT_TTL_MINUTES
    max_events_per_batch: int = 1
    preferred_batch_kb: int = 64
    schema: str = EVENTGRID_SCHEMA
    dead_letter_container: str | None = None
    dead_letter_account: str | None = None
    attribute_mappings: list[dict] = field(default_factory=list)

    @property
    def header_name(self) -> str:
        """``aeg-subscription-name``: Azure sends the name in upper case."""
        return self.name.upper()

    @property
    def destination_id(self) -> str | None:
        """The ARM id of a queue-like destination: the queue itself, so same-named queues in two
        accounts or namespaces stay apart (a StorageQueue's resourceId is its account)."""
        if self.destination_type == "StorageQueue" and self.resource_id:
            return f"{self.resource_id.rstrip('/')}/queueServices/default/queues/{self.queue_name}"
        return self.resource_id


def _int(props: dict, key: str, default: int, low: int, high: int, where: str) -> int:
    value = props.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"{where}.{key}: expected an integer from {low} to {high}, got {value!r}")
    return value


def _obj(value: Any, where: str) -> dict:
    """``value`` as a JSON object ({} when absent); anything else is a SettingsError naming ``where``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SettingsError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def settings_from_body(body: dict) -> Settings:
    """Read an event subscription ARM body (``id``, ``name``, ``properties``) into ``Settings``."""
    if not isinstance(body, dict):
        raise SettingsError(f"subscription: expected the ARM body as a dict, got {type(body).__name__}")
    sub_id = body.get("id")
    if not isinstance(sub_id, str) or not sub_id:
        raise SettingsError("subscription.id: the event subscription's ARM id is required")
    name = body.get("name") or sub_id.rstrip("/").rsplit("/", 1)[-1]
    props = _obj(body.get("properties"), "properties")
    identity = _obj(props.get("deliveryWithResourceIdentity"), "properties.deliveryWithResourceIdentity")
    destination = props.get("destination") or identity.get("destination")
    if not isinstance(destination, dict):
        raise SettingsError("properties.destination: required (an object with endpointType and properties)")
    kind = destination.get("endpointType")
    allowed = HTTP_DESTINATIONS + QUEUE_DESTINATIONS
    if kind not in allowed:
        raise SettingsError(f"properties.destination.endpointType: expected one of {', '.join(allowed)}, got {kind!r}")
    where = "properties.destination.properties"
    dprops = _obj(destination.get("properties"), where)
    s = Settings(id=sub_id, name=str(name), destination_type=kind)
    if kind == "WebHook":
        url = dprops.get("endpointUrl")
        if not isinstance(url, str) or not url:
            raise SettingsError(f"{where}.endpointUrl: required for a WebHook destination")
        s.endpoint_url = url
    else:
        rid = dprops.get("resourceId")
        if not isinstance(rid, str) or not rid.startswith("/subscriptions/"):
            raise SettingsError(f"{where}.resourceId: expected an ARM id, got {rid!r}")
        s.resource_id = rid
        s.queue_name = dprops.get("queueName") if kind == "StorageQueue" else rid.rstrip("/").rsplit("/", 1)[-1]
        if not isinstance(s.queue_name, str) or not s.queue_name:
            raise SettingsError(f"{where}.queueName: required for a StorageQueue destination (a string)")
        if kind == "StorageQueue":
            ttl = dprops.get("queueMessageTimeToLiveInSeconds")
            s.queue_ttl = ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None
    if kind in HTTP_DESTINATIONS:
        s.max_events_per_batch = _int(dprops, "maxEventsPerBatch", 1, 1, 5000, where)
        s.preferred_batch_kb = _int(dprops, "preferredBatchSizeInKilobytes", 64, 1, 1024, where)
    mappings = dprops.get("deliveryAttributeMappings") or []
    if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
        raise SettingsError(f"{where}.deliveryAttributeMappings: expected a list of objects")
    s.attribute_mappings = [m for m in mappings if isinstance(m.get("properties") or {}, dict)]
    retry = _obj(props.get("retryPolicy"), "properties.retryPolicy")
    s.max_attempts = _int(retry, "maxDeliveryAttempts", DEFAULT_MAX_ATTEMPTS, 1, 30, "properties.retryPolicy")
    s.ttl_minutes = _int(retry, "eventTimeToLiveInMinutes", DEFAULT_TTL_MINUTES, 1, 1440, "properties.retryPolicy")
    schema = props.get("eventDeliverySchema") or EVENTGRID_SCHEMA
    if schema not in (EVENTGRID_SCHEMA, CLOUDEVENT_SCHEMA, "CustomInputSchema"):
        raise SettingsError("properties.eventDeliverySchema: expected EventGridSchema, CloudEventSchemaV1_0 "
                            f"or CustomInputSchema, got {schema!r}")
    s.schema = schema
    dead = props.get("deadLetterDestination") or _obj(
        props.get("deadLetterWithResourceIdentity"), "properties.deadLetterWithResourceIdentity").get(
        "deadLetterDestination")
    if dead:
        dl = _obj(_obj(dead, "properties.deadLetterDestination").get("properties"),
                  "properties.deadLetterDestination.properties")
        container = dl.get("blobContainerName")
        if not isinstance(container, str) or not container or "/" in container or container in (".", ".."):
            raise SettingsError("properties.deadLetterDestination.properties.blobContainerName: required, "
                                f"a container name, got {container!r}")
        s.dead_letter_container = container
        s.dead_letter_account = str(dl.get("resourceId") or "").rstrip("/").rsplit("/", 1)[-1] or None
    return s


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str) -> str | None:
    """Refuse endpoints off this machine; returns a notice for plain ``http://`` (Azure wants https).

    Raises ``ValueError`` naming the field and what is allowed.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"properties.destination.properties.endpointUrl: expected an https:// (or, in the "
                         f"sandbox, http://) URL, got {url!r}")
    host = (parts.hostname or "").lower()
    if not is_loopback(host):
        raise ValueError(
            f"properties.destination.properties.endpointUrl: the sandbox delivers only to endpoints on this "
            f"machine (127.0.0.1, localhost or [::1]); {host or url!r} is not one. Start a local receiver "
            "(amlevents_kit.receiver.Receiver) and subscribe its URL, or use connect('azure') for real endpoints.")
    if parts.scheme == "http":
        return (f"Azure accepts only https:// webhook endpoints; the sandbox also accepts {url} "
                "because it is on 127.0.0.1.")
    return None


# -- what goes on the wire --------------------------------------------------------------------------

def to_delivery_schema(event: dict, schema: str) -> dict:
    """The event as the subscription receives it (EventGridSchema, CloudEventSchemaV1_0 or as published)."""
    if schema == CLOUDEVENT_SCHEMA:
        return _build.to_cloudevent_schema(event)
    if schema == EVENTGRID_SCHEMA:
        return _build.to_eventgrid_schema(event)
    return event


def event_size(event: dict) -> int:
    return len(json.dumps(event, separators=(",", ":")).encode())


def make_batches(sizes: list[int], max_events: int, preferred_kb: int) -> list[list[int]]:
    """Group item indexes into batches: at most ``max_events`` each, and at most ``preferred_kb`` KB

    unless a single event is larger on its own (the size is a soft ceiling, AD-RETRY).
    """
    limit = preferred_kb * 1024
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index, size in enumerate(sizes):
        if current and (len(current) >= max_events or total + size > limit):
            batches.append(current)
            current, total = [], 0
        current.append(index)
        total += size
    if current:
        batches.append(current)
    return batches


def delivery_headers(settings: Settings, events: list[dict], delivery_count: int) -> dict[str, str]:
    """The headers Event Grid puts on a notification (AD-HDR, AD-CE), custom attributes included.

    ``aeg-delivery-count`` counts the earlier attempts (0 on the first one): UNVERIFIED, see spec §4.2.
    """
    first = events[0]
    if settings.schema == CLOUDEVENT_SCHEMA:
        content_type = ("application/cloudevents-batch+json; charset=utf-8" if settings.max_events_per_batch > 1
                        else "application/cloudevents+json; charset=utf-8")
        metadata_version = str(first.get("specversion", "1.0"))
    else:
        content_type = "application/json; charset=utf-8"
        metadata_version = str(first.get("metadataVersion", "1"))
    headers = {
        "Content-Type": content_type,
        "aeg-event-type": "SubscriptionDeletion" if all(_type_of(e) == SUBSCRIPTION_DELETED for e in events)
        else "Notification",
        "aeg-subscription-name": settings.header_name,
        "aeg-delivery-count": str(delivery_count),
        "aeg-metadata-version": metadata_version,
        "aeg-output-event-id": str(first.get("id", "")),
    }
    if settings.schema != CLOUDEVENT_SCHEMA:
        headers["aeg-data-version"] = str(first.get("dataVersion", ""))
    for mapping in settings.attribute_mappings:
        name = mapping.get("name")
        props = mapping.get("properties") or {}
        if not name or str(name).lower().startswith("aeg-"):
            continue
        if mapping.get("type") == "Static":
            value = props.get("value")
        else:
            value = _lookup_path(first, str(props.get("sourceField") or ""))
        if isinstance(value, (str, int, float, bool)):
            headers[str(name)] = str(value).lower() if isinstance(value, bool) else str(value)
    return headers


def delivery_body(settings: Settings, events: list[dict]) -> bytes:
    """A JSON array for the Event Grid schema; one object for unbatched CloudEvents (structured mode)."""
    if settings.schema == CLOUDEVENT_SCHEMA and settings.max_events_per_batch == 1 and len(events) == 1:
        payload: Any = events[0]
    else:
        payload = events
    return json.dumps(payload, separators=(",", ":")).encode()


def _type_of(event: dict) -> Any:
    return event.get("eventType", event.get("type"))


def _lookup_path(event: dict, path: str) -> Any:
    value: Any = event
    for part in [p for p in path.split(".") if p]:
        if not isinstance(value, dict):
            return None
        lower = {k.lower(): v for k, v in value.items()}
        value = lower.get(part.lower())
    return value


# -- dead letters ---------------------------------------------------------------------------------

def iso(ts: float | None) -> str | None:
    """Sandbox seconds as Azure writes times: ISO 8601 UTC with a Z."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dead_letter_record(event: dict, schema: str, *, reason: str, attempts: int, outcome: str | None,
                       status: int | None, publish_time: float, last_attempt_time: float | None) -> dict:
    """The event plus Event Grid's dead-letter fields (lower-case names for CloudEvents, AD-RETRY).

    ``lastHttpStatusCode`` is not in the official docs but appears in real dead-letter blobs.
    """
    record = dict(event)
    fields = {"deadLetterReason": reason, "deliveryAttempts": attempts,
              "lastDeliveryOutcome": outcome or "Probation", "lastHttpStatusCode": status or 0,
              "publishTime": iso(publish_time), "lastDeliveryAttemptTime": iso(last_attempt_time or publish_time)}
    if schema == CLOUDEVENT_SCHEMA:
        fields = {k.lower(): v for k, v in fields.items()}
    record.update(fields)
    return record


def dead_letter_blob_path(container: str, subscription_name: str, when: float, blob_id: str) -> str:
    """``<container>/<SUBSCRIPTION-NAME>/YYYY/M/D/H/<id>.json``: Azure's layout (upper-case name, no padding)."""
    t = datetime.fromtimestamp(when, tz=timezone.utc)
    name = re.sub(r"[^A-Z0-9_-]", "_", subscription_name.upper())  # ARM names are letters, digits and '-'
    return f"{container}/{name}/{t.year}/{t.month}/{t.day}/{t.hour}/{blob_id}.json"

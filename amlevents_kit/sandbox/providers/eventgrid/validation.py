"""Check event subscription requests with Azure's limits and enum values (spec/eventgrid.md §3).

Each ``check_*`` function takes the JSON the client sent and returns the normalized form the
sandbox stores, or raises a 400 that names the field (``properties.retryPolicy.maxDeliveryAttempts``)
and what is allowed.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from ....events.models import json_type
from ....events.models import parse_time as event_time
from ....events.validate import lookup as get_ci  # ARM property names are case-insensitive on input
from ....filters.spec import FilterValidationError, validate_filter
from .exceptions import invalid_request, invalid_topic, not_one_of, out_of_range

NAME_RE = re.compile(r"^[A-Za-z0-9-]{3,64}$")
TOPIC_NAME_RE = re.compile(r"^[A-Za-z0-9-]{3,50}$")
CONTAINER_RE = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
QUEUE_RE = CONTAINER_RE

ENDPOINT_TYPES = ("WebHook", "EventHub", "StorageQueue", "HybridConnection", "ServiceBusQueue",
                  "ServiceBusTopic", "AzureFunction", "PartnerDestination", "MonitorAlert", "NamespaceTopic")
# What the sandbox can deliver to (the rest are valid on Azure but not emulated).
EMULATED_ENDPOINT_TYPES = ("WebHook", "AzureFunction", "StorageQueue", "EventHub", "ServiceBusQueue",
                           "ServiceBusTopic")
DELIVERY_SCHEMAS = ("EventGridSchema", "CustomInputSchema", "CloudEventSchemaV1_0")
INPUT_SCHEMAS = ("EventGridSchema", "CustomEventSchema", "CloudEventSchemaV1_0")
TLS_VERSIONS = ("1.0", "1.1", "1.2")
IDENTITY_TYPES = ("SystemAssigned", "UserAssigned")
MAPPING_TYPES = ("Static", "Dynamic")

DEFAULT_RETRY = {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440}
MAX_DELIVERY_ATTEMPTS = (1, 30)
EVENT_TTL_MINUTES = (1, 1440)
MAX_EVENTS_PER_BATCH = (1, 5000)
PREFERRED_BATCH_KB = (1, 1024)
MAX_DELIVERY_ATTRIBUTES = 10
MAX_ATTRIBUTE_VALUE_BYTES = 4096
MAX_LABELS = 64  # not documented; keeps bodies sane

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

RESOURCE_ID_PATTERNS = {
    "AzureFunction": (r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Web/sites/[^/]+/functions/[^/]+$",
                      "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{app}/functions/{function}"),
    "EventHub": (r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.EventHub/namespaces/[^/]+/eventhubs/[^/]+$",
                 "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.EventHub/namespaces/{ns}/eventhubs/{hub}"),
    "StorageQueue": (r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Storage/storageAccounts/[^/]+$",
                     "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{account}"),
    "ServiceBusQueue": (r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ServiceBus/namespaces/[^/]+/queues/[^/]+$",
                        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ServiceBus/namespaces/{ns}/queues/{queue}"),
    "ServiceBusTopic": (r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ServiceBus/namespaces/[^/]+/topics/[^/]+$",
                        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ServiceBus/namespaces/{ns}/topics/{topic}"),
    "HybridConnection": (r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Relay/namespaces/[^/]+/hybridConnections/[^/]+$",
                         "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Relay/namespaces/{ns}/hybridConnections/{name}"),
}
STORAGE_ACCOUNT_RE = re.compile(RESOURCE_ID_PATTERNS["StorageQueue"][0], re.IGNORECASE)


def _object(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise invalid_request(field, f"expected a JSON object, got {json_type(value)}.")
    return value


def _int_in(value: Any, field: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise invalid_request(field, f"expected an integer from {low} to {high}, got {json_type(value)} {value!r}.")
    if not low <= value <= high:
        raise out_of_range(field, value, low, high)
    return int(value)


def _enum(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    """Match an enum value ignoring case (ARM does), returning Azure's spelling."""
    if isinstance(value, str):
        for a in allowed:
            if a.lower() == value.lower():
                return a
    raise not_one_of(field, value, allowed)


def check_finite(value: Any, root: str = "") -> None:
    """Refuse NaN and Infinity anywhere in a request body, naming the field.

    JSON has no such numbers, but Python's parser reads ``NaN``, ``Infinity`` and an overflowing
    ``1e400`` as floats; stored, they would be echoed back as invalid JSON and compared as nothing.
    """
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        field, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise invalid_request(field or "body", f"{item!r} is not a finite number; JSON numbers are finite "
                                                   "(NaN, Infinity and numbers beyond ±1.8e308 are refused).")
        if isinstance(item, dict):
            stack.extend((f"{field}.{k}" if field else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{field}[{i}]", v) for i, v in enumerate(item))


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise invalid_request("eventSubscriptionName",
                              f"'{name}' is invalid; a name has 3 to 64 characters: letters, digits and '-'.")
    return name


def check_topic_name(name: str) -> str:
    if not TOPIC_NAME_RE.match(name or ""):
        raise invalid_topic("topicName",
                              f"'{name}' is invalid; a topic name has 3 to 50 characters: letters, digits and '-'.")
    return name


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: Any, field: str) -> tuple[str, str | None]:
    """Return (url, warning). Azure accepts only https; the sandbox also takes http on loopback only."""
    if not isinstance(url, str) or not url.strip():
        raise invalid_request(field, "Supplied URL is invalid. It cannot be null or empty and should be a proper "
                                     "HTTPS URL like https://www.example.com.")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid_request(field, f"Supplied URL '{url}' is invalid; it should be a proper HTTPS URL like "
                                     "https://www.example.com.")
    if not is_loopback(parts.hostname):
        raise invalid_request(field, f"the sandbox delivers only to endpoints on this machine (127.0.0.1 or "
                                     f"localhost); '{parts.hostname}' is not reachable from the sandbox. Run your "
                                     "handler locally (amlevents_kit.receiver) or use real Azure for a public endpoint.")
    warning = None
    if parts.scheme.lower() == "http":
        warning = (f"Azure accepts only https:// webhook endpoints; the sandbox accepted '{url}' because it is on "
                   "the loopback interface. On Azure, expose the handler over HTTPS (for example as an Azure Function).")
    return url.strip(), warning


def _resource_id(value: Any, field: str, endpoint_type: str) -> str:
    pattern, example = RESOURCE_ID_PATTERNS[endpoint_type]
    if not isinstance(value, str) or not re.match(pattern, value, re.IGNORECASE):
        raise invalid_request(field, f"expected the ARM id of the {endpoint_type} destination, like {example}; "
                                     f"got {value!r}.")
    return value


def _mappings(value: Any, field: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_request(field, f"expected an array, got {json_type(value)}.")
    if len(value) > MAX_DELIVERY_ATTRIBUTES:
        raise invalid_request(field, f"{len(value)} delivery attribute mappings; at most {MAX_DELIVERY_ATTRIBUTES} are allowed.")
    out = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        item = _object(item, where)
        name = get_ci(item, "name")
        if not isinstance(name, str) or not name:
            raise invalid_request(f"{where}.name", "a header name is required.")
        if name.lower().startswith("aeg-"):
            raise invalid_request(f"{where}.name", f"'{name}': the 'aeg-' prefix is reserved for Event Grid's own headers.")
        kind = _enum(get_ci(item, "type"), f"{where}.type", MAPPING_TYPES)
        props = _object(get_ci(item, "properties") or {}, f"{where}.properties")
        if kind == "Static":
            val = get_ci(props, "value")
            if not isinstance(val, str):
                raise invalid_request(f"{where}.properties.value", "a Static mapping needs a string value.")
            if len(val.encode()) > MAX_ATTRIBUTE_VALUE_BYTES:
                raise invalid_request(f"{where}.properties.value",
                                      f"{len(val.encode())} bytes; at most {MAX_ATTRIBUTE_VALUE_BYTES} are allowed.")
            secret = get_ci(props, "isSecret", False)
            if not isinstance(secret, bool):
                raise invalid_request(f"{where}.properties.isSecret", "expected true or false.")
            out.append({"name": name, "type": kind, "properties": {"value": val, "isSecret": secret}})
        else:
            source = get_ci(props, "sourceField")
            if not isinstance(source, str) or not source:
                raise invalid_request(f"{where}.properties.sourceField",
                                      "a Dynamic mapping needs the event field to copy, e.g. 'data.modelName'.")
            out.append({"name": name, "type": kind, "properties": {"sourceField": source}})
    return out


def check_destination(value: Any, field: str = "properties.destination") -> tuple[dict, list[str]]:
    """Return the stored destination and the warnings to show (http on loopback)."""
    if value is None:
        raise invalid_request(field, "the destination is required.")
    dest = _object(value, field)
    etype = _enum(get_ci(dest, "endpointType"), f"{field}.endpointType", ENDPOINT_TYPES)
    if etype not in EMULATED_ENDPOINT_TYPES:
        from ...arm.errors import ArmError
        raise ArmError(501, "SandboxNotImplemented",
                       f"The sandbox does not emulate '{etype}' destinations; it delivers to "
                       f"{', '.join(EMULATED_ENDPOINT_TYPES)}.")
    props = _object(get_ci(dest, "properties") or {}, f"{field}.properties")
    out: dict[str, Any] = {}
    warnings: list[str] = []
    pfield = f"{field}.properties"
    if etype == "WebHook":
        url, warning = check_webhook_url(get_ci(props, "endpointUrl"), f"{pfield}.endpointUrl")
        out["endpointUrl"] = url
        if warning:
            warnings.append(warning)
        for name in ("azureActiveDirectoryTenantId", "azureActiveDirectoryApplicationIdOrUri"):
            v = get_ci(props, name)
            if v is not None:
                if not isinstance(v, str):
                    raise invalid_request(f"{pfield}.{name}", "expected a string.")
                out[name] = v
        tls = get_ci(props, "minimumTlsVersionAllowed")
        if tls is not None:
            out["minimumTlsVersionAllowed"] = _enum(tls, f"{pfield}.minimumTlsVersionAllowed", TLS_VERSIONS)
    elif etype in RESOURCE_ID_PATTERNS:
        out["resourceId"] = _resource_id(get_ci(props, "resourceId"), f"{pfield}.resourceId", etype)
    if etype in ("WebHook", "AzureFunction"):
        out["maxEventsPerBatch"] = _int_in(get_ci(props, "maxEventsPerBatch", 1), f"{pfield}.maxEventsPerBatch",
                                           MAX_EVENTS_PER_BATCH)
        out["preferredBatchSizeInKilobytes"] = _int_in(get_ci(props, "preferredBatchSizeInKilobytes", 64),
                                                       f"{pfield}.preferredBatchSizeInKilobytes", PREFERRED_BATCH_KB)
    if etype == "StorageQueue":
        queue = get_ci(props, "queueName")
        if not isinstance(queue, str) or not QUEUE_RE.match(queue):
            raise invalid_request(f"{pfield}.queueName", f"expected a queue name (3-63 lower-case letters, digits "
                                                         f"and single '-'), got {queue!r}.")
        out["queueName"] = queue
        ttl = get_ci(props, "queueMessageTimeToLiveInSeconds")
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, int) or (ttl < 1 and ttl != -1):
                raise invalid_request(f"{pfield}.queueMessageTimeToLiveInSeconds",
                                      f"expected a number of seconds >= 1, or -1 for no expiry; got {ttl!r}.")
            out["queueMessageTimeToLiveInSeconds"] = ttl
        if get_ci(props, "deliveryAttributeMappings"):
            raise invalid_request(f"{pfield}.deliveryAttributeMappings",
                                  "delivery attribute mappings are not supported for StorageQueue destinations.")
    else:
        mappings = _mappings(get_ci(props, "deliveryAttributeMappings"), f"{pfield}.deliveryAttributeMappings")
        if mappings:
            out["deliveryAttributeMappings"] = mappings
    return {"endpointType": etype, "properties": out}, warnings


def check_filter(value: Any, *, allowed_types: tuple[str, ...] | None, topic_type: str | None) -> dict:
    """Validate with ``amlevents_kit.filters`` and return the filter as ARM stores it."""
    flt = _object(value if value is not None else {}, "properties.filter")
    try:
        spec = validate_filter(flt)
    except FilterValidationError as err:
        raise invalid_request(f"properties.{err.field}", err.detail) from None
    if allowed_types is not None and spec.included_event_types:
        known = {t.lower(): t for t in allowed_types}
        bad = [t for t in spec.included_event_types if t.lower() not in known]
        if bad:
            raise invalid_request("properties.filter.includedEventTypes",
                                  f"{', '.join(repr(b) for b in bad)} is not an event type of topic type "
                                  f"'{topic_type}'; allowed: {', '.join(allowed_types)}.")
    out: dict[str, Any] = {}
    if spec.included_event_types is not None:
        # Stored as the topic type spells them: filters match event types exactly, so a differently
        # cased type accepted here would otherwise never match.
        known = {t.lower(): t for t in (allowed_types or ())}
        out["includedEventTypes"] = [known.get(t.lower(), t) for t in spec.included_event_types]
    out["subjectBeginsWith"] = spec.subject_begins_with or ""
    out["subjectEndsWith"] = spec.subject_ends_with or ""
    out["isSubjectCaseSensitive"] = spec.is_subject_case_sensitive
    if get_ci(flt, "enableAdvancedFilteringOnArrays") is not None:
        out["enableAdvancedFilteringOnArrays"] = spec.enable_advanced_filtering_on_arrays
    advanced = get_ci(flt, "advancedFilters")
    if advanced:
        out["advancedFilters"] = [_clause_json(c) for c in spec.advanced_filters]
    return out


def _clause_json(clause) -> dict:
    item: dict[str, Any] = {"operatorType": clause.operator, "key": clause.key}
    if clause.values is not None:
        item["values"] = list(clause.values)
    elif clause.kind not in ("none",):
        item["value"] = clause.value
    return item


def check_retry(value: Any) -> dict:
    if value is None:
        return dict(DEFAULT_RETRY)
    retry = _object(value, "properties.retryPolicy")
    attempts = get_ci(retry, "maxDeliveryAttempts")
    ttl = get_ci(retry, "eventTimeToLiveInMinutes")
    return {
        "maxDeliveryAttempts": DEFAULT_RETRY["maxDeliveryAttempts"] if attempts is None else
        _int_in(attempts, "properties.retryPolicy.maxDeliveryAttempts", MAX_DELIVERY_ATTEMPTS),
        "eventTimeToLiveInMinutes": DEFAULT_RETRY["eventTimeToLiveInMinutes"] if ttl is None else
        _int_in(ttl, "properties.retryPolicy.eventTimeToLiveInMinutes", EVENT_TTL_MINUTES),
    }


def check_dead_letter(value: Any, field: str = "properties.deadLetterDestination") -> dict | None:
    if value is None:
        return None
    dest = _object(value, field)
    _enum(get_ci(dest, "endpointType"), f"{field}.endpointType", ("StorageBlob",))
    props = _object(get_ci(dest, "properties") or {}, f"{field}.properties")
    rid = get_ci(props, "resourceId")
    if not isinstance(rid, str) or not STORAGE_ACCOUNT_RE.match(rid):
        raise invalid_request(f"{field}.properties.resourceId",
                              "expected the ARM id of a storage account, like /subscriptions/{sub}/resourceGroups/"
                              f"{{rg}}/providers/Microsoft.Storage/storageAccounts/{{account}}; got {rid!r}.")
    container = get_ci(props, "blobContainerName")
    if not isinstance(container, str) or not CONTAINER_RE.match(container):
        raise invalid_request(f"{field}.properties.blobContainerName",
                              "expected a blob container name: 3 to 63 lower-case letters, digits and single '-', "
                              f"starting and ending with a letter or digit; got {container!r}.")
    return {"endpointType": "StorageBlob", "properties": {"resourceId": rid, "blobContainerName": container}}


def check_identity(value: Any, field: str) -> dict:
    ident = _object(value, field)
    kind = _enum(get_ci(ident, "type"), f"{field}.type", IDENTITY_TYPES)
    out: dict[str, Any] = {"type": kind}
    if kind == "UserAssigned":
        uai = get_ci(ident, "userAssignedIdentity")
        if not isinstance(uai, str) or not uai:
            raise invalid_request(f"{field}.userAssignedIdentity", "required when the identity type is UserAssigned.")
        out["userAssignedIdentity"] = uai
    return out


def check_expiration(value: Any, now: float) -> str | None:
    if value is None:
        return None
    field = "properties.expirationTimeUtc"
    if not isinstance(value, str):
        raise invalid_request(field, f"expected an ISO 8601 UTC date-time, got {json_type(value)}.")
    when = parse_time(value)
    if when is None:
        raise invalid_request(field, f"expected an ISO 8601 UTC date-time like 2030-01-01T00:00:00Z, got {value!r}.")
    if when.timestamp() <= now:
        raise invalid_request(field, f"{value} is in the past; the expiration time must be in the future.")
    return value


def check_labels(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise invalid_request("properties.labels", "expected an array of strings.")
    if len(value) > MAX_LABELS:
        raise invalid_request("properties.labels", f"{len(value)} labels; at most {MAX_LABELS} are allowed.")
    return list(value)


def check_delivery_schema(value: Any, *, input_schema: str = "EventGridSchema") -> str:
    """The output schema; the default is the topic's input schema (as the CLI documents it).

    Event Grid converts EventGridSchema input to CloudEvents, but not CloudEvents back to the
    Event Grid schema (spec §2.2, 2023 docs; the 2020 docs said otherwise).
    """
    default = {"CloudEventSchemaV1_0": "CloudEventSchemaV1_0", "CustomEventSchema": "CustomInputSchema"}
    if value is None:
        return default.get(input_schema, "EventGridSchema")
    schema = _enum(value, "properties.eventDeliverySchema", DELIVERY_SCHEMAS)
    if schema == "CustomInputSchema" and input_schema != "CustomEventSchema":
        raise invalid_request("properties.eventDeliverySchema",
                              "CustomInputSchema is only allowed for custom topics whose input schema is "
                              "CustomEventSchema; allowed here: EventGridSchema, CloudEventSchemaV1_0.")
    if schema == "EventGridSchema" and input_schema == "CloudEventSchemaV1_0":
        raise invalid_request("properties.eventDeliverySchema",
                              "the topic takes CloudEvents, which cannot be delivered in the Event Grid schema; "
                              "allowed here: CloudEventSchemaV1_0.")
    return schema


def parse_time(value: str) -> datetime | None:
    """A time as ARM takes it: an Event Grid timestamp (``events.parse_time``), another ISO 8601 form, or a date."""
    text = value.strip()
    when = event_time(text)
    if when is not None:
        return when
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        try:
            when = datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)

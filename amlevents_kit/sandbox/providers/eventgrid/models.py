"""Microsoft.EventGrid state and behaviour: event subscriptions, system topics, custom topics, publishing.

Event subscriptions live at any ARM scope (the workspace above all), under system topics, or on
custom topics. Creating or updating one with a WebHook/AzureFunction destination runs the
validation handshake through the delivery engine (``sandbox.service("delivery").validate``);
publishing matches events to subscriptions with compiled filters and hands them to the engine
in one ``submit`` call.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import unquote, urlsplit

from ... import defaults
from ...arm.errors import ArmError
from ....events.validate import EventValidationError, validate_event
from ....filters.engine import compile_filter
from . import catalog
from .exceptions import (invalid_request, invalid_system_topic, invalid_topic, not_found, scope_not_found, subscription_not_found,
                         topic_not_found, unauthorized)
from .validation import (INPUT_SCHEMAS, check_dead_letter, check_delivery_schema, check_destination,
                         check_expiration, check_filter, check_finite, check_identity, check_labels, check_name,
                         check_retry, check_topic_name, get_ci, parse_time)

if TYPE_CHECKING:
    from ...app import Sandbox

log = logging.getLogger("amlevents_kit.sandbox.eventgrid")

NS = "Microsoft.EventGrid"
SUBSCRIPTION_TYPE = "Microsoft.EventGrid/eventSubscriptions"
SYSTEM_TOPIC_TYPE = "Microsoft.EventGrid/systemTopics"
SYSTEM_TOPIC_SUB_TYPE = "Microsoft.EventGrid/systemTopics/eventSubscriptions"
TOPIC_TYPE = "Microsoft.EventGrid/topics"
TOPIC_SUB_TYPE = "Microsoft.EventGrid/topics/eventSubscriptions"
VALIDATED_TYPES = ("WebHook", "AzureFunction")
MANUAL_VALIDATION_SECONDS = 5 * 60  # spec §5.1 (2023 doc)
#: A subscription still Creating/Updating this long (wall seconds) after it was accepted had its handshake
#: cut short (the process that accepted it stopped): reading it starts the handshake again.
HANDSHAKE_GRACE_SECONDS = 60.0
MAX_PUBLISH_BYTES = 1024 * 1024
KIND = "eventgrid.subscription"
SANDBOX_KEY = "_sandbox"  # private bookkeeping inside stored bodies; never sent on the wire

_told: set[str] = set()


def _tell_once(name: str, warning: str) -> None:
    """Log a notice (shown in the notebook) the first time this process meets its kind, quietly after that.

    Lessons create several loopback webhooks; the same https notice in every cell teaches nothing new.
    """
    kind = re.sub(r"'[^']*'", "''", warning)  # the same notice for another URL is the same kind
    if kind in _told:
        log.info("%s: %s", name, warning)
        return
    _told.add(kind)
    log.warning("%s: %s (said once per session)", name, warning)


def _entra_not_emulated(rest: str) -> ArmError:
    """501 for a bearer token on a custom topic: the sandbox says it does not emulate Entra ID rather
    than ask for a key as if the token were wrong."""
    return ArmError(501, "SandboxNotImplemented", "The sandbox does not emulate Microsoft Entra ID (bearer token) "
                                                  "authentication on custom topics" + rest)


class EventGridBackend:
    """The Microsoft.EventGrid emulation over the sandbox store."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.clock = sandbox.clock
        self._compiled: dict[str, tuple[str, Callable[[Any], bool]]] = {}
        self._by_topic: dict[str, tuple[tuple, list[dict]]] = {}
        self._validate_lock = threading.Lock()
        self._handshakes: dict[str, threading.Thread] = {}  # lower-cased id -> the last handshake started
        self._handshakes_lock = threading.Lock()

    # -- helpers -------------------------------------------------------------------------------
    @property
    def delivery(self) -> Any:
        """The delivery engine service (installed by ``amlevents_kit.sandbox.delivery.install``)."""
        if "delivery" not in getattr(self.sandbox, "_service_factories", {}):
            raise RuntimeError("The sandbox has no delivery engine: amlevents_kit.sandbox.delivery is not installed.")
        return self.sandbox.service("delivery")

    def _now_iso(self) -> str:
        return self.clock.isoformat()

    def _system_data(self, old: dict | None) -> dict:
        now = self._now_iso()
        created = (old or {}).get("systemData", {})
        return {"createdBy": "amlevents-kit", "createdByType": "User", "createdAt": created.get("createdAt", now),
                "lastModifiedBy": "amlevents-kit", "lastModifiedByType": "User", "lastModifiedAt": now}

    def _check_subscription(self, subscription: str) -> None:
        if subscription.lower() != defaults.SUBSCRIPTION_ID:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")

    def _check_group(self, subscription: str, resource_group: str) -> str:
        self._check_subscription(subscription)
        rid = f"/subscriptions/{defaults.SUBSCRIPTION_ID}/resourceGroups/{resource_group}"
        body = self.store.get(rid)
        if body is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")
        return body["id"]

    # -- scopes --------------------------------------------------------------------------------
    def resolve_scope(self, scope: str) -> dict[str, Any]:
        """Check that a scope exists; return its canonical id, topic type and location."""
        scope = "/" + scope.strip("/")
        parts = [p for p in scope.split("/") if p]
        if len(parts) < 2 or parts[0].lower() != "subscriptions":
            raise invalid_request("scope", f"'{scope}' is not an ARM scope; expected /subscriptions/{{id}}[/...].")
        self._check_subscription(parts[1])
        if len(parts) == 2:
            return {"id": f"/subscriptions/{defaults.SUBSCRIPTION_ID}", "topicType": catalog.SUBSCRIPTIONS,
                    "location": "global"}
        if len(parts) == 4 and parts[2].lower() == "resourcegroups":
            rid = self._check_group(parts[1], parts[3])
            return {"id": rid, "topicType": catalog.RESOURCE_GROUPS, "location": "global"}
        body = self.store.get(scope)
        if body is None or "id" not in body:
            raise scope_not_found(scope)
        if body.get("type", "").lower() == SYSTEM_TOPIC_TYPE.lower():
            raise invalid_request("scope", "event subscriptions of a system topic are created under "
                                           f"{body['id']}/eventSubscriptions/{{name}}.")
        return {"id": body["id"], "topicType": catalog.topic_type_of(body["id"]),
                "location": body.get("location", defaults.LOCATION)}

    # -- event subscriptions: create / update --------------------------------------------------------
    def subscription_id(self, scope_id: str, name: str) -> str:
        return f"{scope_id}/providers/{NS}/eventSubscriptions/{name}"

    def put_subscription(self, *, scope: str | None = None, system_topic: tuple[str, str, str] | None = None,
                         name: str, spec: dict[str, Any]) -> tuple[dict, list[str]]:
        """Create or replace an event subscription; returns (stored body, warnings). Starts 'Creating'."""
        check_name(name)
        check_finite(spec)
        where = self._where(scope=scope, system_topic=system_topic, name=name)
        props = get_ci(spec, "properties")
        if props is None:
            raise invalid_request("properties", "the request body needs a 'properties' object.")
        if not isinstance(props, dict):
            raise invalid_request("properties", "expected a JSON object.")
        old = self.store.get(where["id"])
        stored, warnings = self._build_properties(props, where)
        return self._save(where, old, stored, warnings), warnings

    def patch_subscription(self, *, scope: str | None = None, system_topic: tuple[str, str, str] | None = None,
                           name: str, spec: dict[str, Any]) -> tuple[dict, list[str]]:
        """Update some properties (EventSubscriptionUpdateParameters: fields at the top level)."""
        where = self._where(scope=scope, system_topic=system_topic, name=name)
        old = self.store.get(where["id"])
        if old is None:
            raise subscription_not_found(name)
        if not isinstance(spec, dict):
            raise invalid_request("body", "expected a JSON object.")
        check_finite(spec)
        merged = {k: v for k, v in old["properties"].items()
                  if k not in ("topic", "provisioningState")}
        for key in ("destination", "filter", "labels", "expirationTimeUtc", "eventDeliverySchema", "retryPolicy",
                    "deadLetterDestination", "deliveryWithResourceIdentity", "deadLetterWithResourceIdentity"):
            value = get_ci(spec, key, _MISSING)
            if value is not _MISSING:
                merged[key] = value
        _keep_endpoint_url(merged.get("destination"), old["properties"].get("destination"))
        stored, warnings = self._build_properties(merged, where)
        return self._save(where, old, stored, warnings), warnings

    def _where(self, *, scope: str | None, system_topic: tuple[str, str, str] | None, name: str) -> dict[str, Any]:
        """Where a subscription lives: its id, type, topic and the topic's type."""
        if system_topic is not None:
            topic = self.get_system_topic(*system_topic)
            return {"id": f"{topic['id']}/eventSubscriptions/{name}", "type": SYSTEM_TOPIC_SUB_TYPE,
                    "topic": topic["id"], "parent": topic["id"], "name": name,
                    "topicType": topic["properties"]["topicType"]}
        info = self.resolve_scope(scope or "")
        input_schema = "EventGridSchema"
        if info["topicType"] == catalog.CUSTOM_TOPICS:
            input_schema = self.store.get(info["id"])["properties"].get("inputSchema", "EventGridSchema")
        return {"id": self.subscription_id(info["id"], name), "type": SUBSCRIPTION_TYPE, "topic": info["id"],
                "parent": info["id"], "name": name, "topicType": info["topicType"],
                "input_schema": input_schema}

    def _build_properties(self, props: dict, where: dict) -> tuple[dict, list[str]]:
        warnings: list[str] = []
        out: dict[str, Any] = {}
        identity_delivery = get_ci(props, "deliveryWithResourceIdentity")
        destination = get_ci(props, "destination")
        if identity_delivery is not None:
            if not isinstance(identity_delivery, dict):
                raise invalid_request("properties.deliveryWithResourceIdentity", "expected a JSON object.")
            dest, warn = check_destination(get_ci(identity_delivery, "destination"),
                                           "properties.deliveryWithResourceIdentity.destination")
            out["deliveryWithResourceIdentity"] = {
                "identity": check_identity(get_ci(identity_delivery, "identity"),
                                           "properties.deliveryWithResourceIdentity.identity"),
                "destination": dest}
            warnings += warn
            if destination is not None:
                raise invalid_request("properties.destination",
                                      "give either 'destination' or 'deliveryWithResourceIdentity', not both.")
        else:
            out["destination"], warn = check_destination(destination)
            warnings += warn
        out["filter"] = check_filter(get_ci(props, "filter"), allowed_types=catalog.event_types(where["topicType"]),
                                     topic_type=where["topicType"])
        labels = check_labels(get_ci(props, "labels"))
        out["labels"] = labels
        out["eventDeliverySchema"] = check_delivery_schema(get_ci(props, "eventDeliverySchema"),
                                                           input_schema=where.get("input_schema", "EventGridSchema"))
        out["retryPolicy"] = check_retry(get_ci(props, "retryPolicy"))
        expiration = check_expiration(get_ci(props, "expirationTimeUtc"), self.clock.now())
        if expiration:
            out["expirationTimeUtc"] = expiration
        identity_dl = get_ci(props, "deadLetterWithResourceIdentity")
        if identity_dl is not None:
            if not isinstance(identity_dl, dict):
                raise invalid_request("properties.deadLetterWithResourceIdentity", "expected a JSON object.")
            out["deadLetterWithResourceIdentity"] = {
                "identity": check_identity(get_ci(identity_dl, "identity"),
                                           "properties.deadLetterWithResourceIdentity.identity"),
                "deadLetterDestination": check_dead_letter(
                    get_ci(identity_dl, "deadLetterDestination"),
                    "properties.deadLetterWithResourceIdentity.deadLetterDestination")}
        dead_letter = check_dead_letter(get_ci(props, "deadLetterDestination"))
        if dead_letter:
            out["deadLetterDestination"] = dead_letter
        return out, warnings

    def _save(self, where: dict, old: dict | None, props: dict, warnings: list[str]) -> dict:
        destination = destination_of(props)
        old_dest = None if old is None else destination_of(old["properties"])
        needs_validation = destination["endpointType"] in VALIDATED_TYPES and (
            old is None or old_dest != destination or old["properties"].get("provisioningState") != "Succeeded"
            or old["properties"].get("eventDeliverySchema") != props["eventDeliverySchema"])
        if needs_validation:
            state = "Creating" if old is None else "Updating"
        else:
            state = "Succeeded"
        body = {
            "id": where["id"], "name": where["name"], "type": where["type"],
            "properties": {"topic": where["topic"], "provisioningState": state, **props},
            "systemData": self._system_data(old),
            SANDBOX_KEY: {"topicType": where["topicType"], "warnings": warnings, "version": uuid.uuid4().hex,
                          "message": "", "acceptedAt": time.time()},
        }
        self.store.put(where["id"], where["type"], body, parent=where["parent"])
        self._changed(where["id"])
        for warning in warnings:
            _tell_once(where["name"], warning)
        if state != "Succeeded":
            self.start_handshake(body)
        return body

    # -- the handshake: started server-side when a create/update is accepted, as on Azure -------------
    def start_handshake(self, body: dict) -> threading.Thread | None:
        """Validate the endpoint of a Creating/Updating subscription in the background, now.

        Azure does this server-side whatever the client does next, so a raw PUT (curl, ``az rest``) that
        never polls the operation still ends Succeeded, AwaitingManualAction or Failed. Polling the
        operation waits for this handshake (``complete_operation``).
        """
        if body["properties"].get("provisioningState") not in ("Creating", "Updating"):
            return None
        destination = destination_of(body["properties"])
        if destination.get("endpointType") in VALIDATED_TYPES and \
                body["properties"].get("eventDeliverySchema") != "CloudEventSchemaV1_0":
            self.sandbox.serve()  # the validationUrl's server, started here rather than in the thread
        _ = self.delivery  # the delivery service starts in this thread, not in the handshake's
        key = body["id"].lower()
        thread = threading.Thread(target=self._handshake_in_background, args=(body["id"],), daemon=True,
                                  name=f"eventgrid-handshake-{body['name']}")
        with self._handshakes_lock:
            self._handshakes[key] = thread
        thread.start()
        return thread

    def _handshake_in_background(self, subscription_id: str) -> None:
        try:
            self._handshake(subscription_id)
        except Exception:  # the sandbox was closed or reset meanwhile: nothing left to validate for
            log.debug("background handshake for %s stopped", subscription_id, exc_info=True)
        finally:
            with self._handshakes_lock:
                if self._handshakes.get(subscription_id.lower()) is threading.current_thread():
                    del self._handshakes[subscription_id.lower()]

    def _handshake(self, subscription_id: str) -> str | None:
        """Run the handshake once for the stored body if it still waits for one; returns the state."""
        with self._validate_lock:
            body = self.store.get(subscription_id)
            if body is None:
                return None
            state = body["properties"]["provisioningState"]
            if state in ("Creating", "Updating"):
                state = self._validate(body)
            return state

    def _handshake_running(self, subscription_id: str) -> bool:
        with self._handshakes_lock:
            thread = self._handshakes.get(subscription_id.lower())
        return thread is not None and thread.is_alive()

    def complete_operation(self, op: dict[str, Any]) -> tuple[str, dict | None]:
        """LRO completer: wait for the handshake (or run it, if it has not started yet), then report it."""
        state = self._handshake(op["resource_id"])
        if state is None:
            return "Failed", {"code": "ResourceNotFound", "message": "The event subscription was deleted."}
        body = self.store.get(op["resource_id"])
        if body is None:
            return "Failed", {"code": "ResourceNotFound", "message": "The event subscription was deleted."}
        if state == "Failed":
            from .exceptions import handshake_failed
            return "Failed", handshake_failed(body[SANDBOX_KEY].get("message") or "Webhook validation handshake failed.")
        return "Succeeded", None

    def _validate(self, body: dict) -> str:
        result = self.delivery.validate(public_body(body, keep_secrets=True))
        status = getattr(result, "status", None) or (result.get("status") if isinstance(result, dict) else None)
        message = getattr(result, "message", None)
        if message is None and isinstance(result, dict):
            message = result.get("message", "")
        if status not in ("Succeeded", "AwaitingManualAction", "Failed"):
            raise RuntimeError(f"delivery.validate returned an unknown status {status!r}")
        version = body[SANDBOX_KEY].get("version")
        if self.set_validation_result(body["id"], status, message or "", version=version) is None:
            # written again (or deleted) during the handshake: that write's own handshake decides
            current = self.store.get(body["id"])
            return current["properties"]["provisioningState"] if current else status
        return status

    def set_validation_result(self, subscription_id: str, status: str, message: str = "", *,
                              version: str | None = None) -> dict | None:
        """Record a handshake outcome (the delivery engine calls this after a manual validation GET).

        With ``version``, only if the body is still that version (not replaced during the handshake).
        """
        with self.store.transaction():
            body = self.store.get(subscription_id)
            if body is None:
                return None
            if version is not None and body[SANDBOX_KEY].get("version") != version:
                return None
            body["properties"]["provisioningState"] = status
            body[SANDBOX_KEY]["message"] = message
            if status == "AwaitingManualAction":
                body[SANDBOX_KEY]["awaitingSince"] = self.clock.now()
            body[SANDBOX_KEY]["version"] = uuid.uuid4().hex
            self.store.put(body["id"], body["type"], body, parent=body["properties"]["topic"]
                           if body["type"] == SUBSCRIPTION_TYPE else body["id"].rsplit("/eventSubscriptions/", 1)[0])
        self._changed(body["id"])
        return body

    def _changed(self, subscription_id: str) -> None:
        """Tell the delivery engine: deliveries waiting for this subscription's validation may go on."""
        if "delivery" in getattr(self.sandbox, "_service_factories", {}):
            self.delivery.subscription_changed(subscription_id)

    def set_provisioning_state(self, subscription_id: str, state: str) -> None:
        """The delivery engine's hook: a manual validation succeeded, or its window passed."""
        message = "Validated manually through the validationUrl." if state == "Succeeded" else \
            "The validationUrl was not called within 5 minutes; delete and recreate the event subscription."
        self.set_validation_result(subscription_id, state, message)

    def _settle(self, body: dict) -> dict:
        """An AwaitingManualAction subscription not validated within 5 minutes (sandbox time) fails; one
        left Creating/Updating by a handshake that never ran to its end (its process stopped) gets one."""
        state = body["properties"].get("provisioningState")
        if state in ("Creating", "Updating") and not self._handshake_running(body["id"]):
            accepted = body[SANDBOX_KEY].get("acceptedAt")
            if not isinstance(accepted, (int, float)) or time.time() - accepted > HANDSHAKE_GRACE_SECONDS:
                self.start_handshake(body)
        if state == "AwaitingManualAction":
            since = body[SANDBOX_KEY].get("awaitingSince", self.clock.now())
            if self.clock.now() - since > MANUAL_VALIDATION_SECONDS:
                body = self.set_validation_result(
                    body["id"], "Failed",
                    "The validation URL was not visited within 5 minutes of the validation request; "
                    "the event subscription must be created again.") or body
        return body

    # -- event subscriptions: read / delete ------------------------------------------------------
    def get_subscription(self, *, scope: str | None = None, system_topic: tuple[str, str, str] | None = None,
                         name: str) -> dict:
        if system_topic is not None:
            topic = self.get_system_topic(*system_topic)
            rid = f"{topic['id']}/eventSubscriptions/{name}"
        else:
            rid = self.subscription_id("/" + (scope or "").strip("/"), name)
        body = self.store.get(rid)
        if body is None:
            raise subscription_not_found(name)
        return self._settle(body)

    def delete_subscription(self, body: dict) -> None:
        self.store.delete(body["id"])
        self._compiled.pop(body["id"].lower(), None)
        self._forget(body["id"])

    def _forget(self, subscription_id: str) -> None:
        if "delivery" in getattr(self.sandbox, "_service_factories", {}):
            self.delivery.forget(subscription_id)

    def all_subscriptions(self) -> list[dict]:
        """Every event subscription (scope form and system-topic form), settled, oldest first."""
        bodies = self.store.list(type=SUBSCRIPTION_TYPE) + self.store.list(type=SYSTEM_TOPIC_SUB_TYPE)
        return [self._settle(b) for b in bodies]

    def list_subscriptions(self, *, parent: str | None = None, topic_type: str | None = None,
                           regional: bool | None = None, location: str | None = None,
                           resource_group: str | None = None) -> list[dict]:
        """Scope-form event subscriptions filtered the ways the list operations filter them."""
        out = []
        for body in self.store.list(type=SUBSCRIPTION_TYPE):
            scope = body["properties"]["topic"]
            ttype = body[SANDBOX_KEY]["topicType"]
            is_global = ttype in (catalog.SUBSCRIPTIONS, catalog.RESOURCE_GROUPS)
            if parent is not None and scope.lower() != parent.lower():
                continue
            if topic_type is not None and ttype.lower() != topic_type.lower():
                continue
            if regional is True and is_global or regional is False and not is_global:
                continue
            if resource_group is not None and not (scope.lower() + "/").startswith(
                    f"/subscriptions/{defaults.SUBSCRIPTION_ID}/resourcegroups/{resource_group.lower()}/"):
                continue
            if location is not None:
                resource = self.store.get(scope) or {}
                if str(resource.get("location", "global")).lower() != location.lower():
                    continue
            out.append(self._settle(body))
        return out

    def list_system_topic_subscriptions(self, subscription: str, resource_group: str, topic: str) -> list[dict]:
        topic_body = self.get_system_topic(subscription, resource_group, topic)
        return [self._settle(b) for b in self.store.list(type=SYSTEM_TOPIC_SUB_TYPE, parent=topic_body["id"])]

    # -- system topics ---------------------------------------------------------------------------
    def system_topic_id(self, resource_group: str, name: str) -> str:
        return (f"/subscriptions/{defaults.SUBSCRIPTION_ID}/resourceGroups/{resource_group}"
                f"/providers/{NS}/systemTopics/{name}")

    def get_system_topic(self, subscription: str, resource_group: str, name: str) -> dict:
        self._check_group(subscription, resource_group)
        body = self.store.get(self.system_topic_id(resource_group, name))
        if body is None:
            raise topic_not_found("systemTopics", name, resource_group)
        return body

    def put_system_topic(self, subscription: str, resource_group: str, name: str, spec: dict) -> tuple[dict, bool]:
        group_id = self._check_group(subscription, resource_group)
        check_topic_name(name)
        props = get_ci(spec, "properties")
        if not isinstance(props, dict):
            raise invalid_system_topic("properties", "the request body needs a 'properties' object with source and topicType.")
        source = get_ci(props, "source")
        if not isinstance(source, str) or not source:
            raise invalid_system_topic("properties.source", "the ARM id of the resource whose events the topic carries "
                                                       "(e.g. the workspace id) is required.")
        info = self.resolve_scope(source)
        given = get_ci(props, "topicType")
        if not isinstance(given, str) or given.lower() != info["topicType"].lower():
            raise invalid_system_topic("properties.topicType",
                                  f"{given!r} does not match the source; for this source it must be '{info['topicType']}'.")
        location = get_ci(spec, "location")
        if not isinstance(location, str) or not location:
            raise invalid_system_topic("location", "the location is required (the source's location, or 'global').")
        if location.lower() != str(info["location"]).lower():
            raise invalid_system_topic("location", f"'{location}' differs from the source's location "
                                              f"'{info['location']}'; a system topic lives where its source does.")
        rid = self.system_topic_id(resource_group, name)
        for other in self.store.list(type=SYSTEM_TOPIC_TYPE):
            if other["properties"]["source"].lower() == info["id"].lower() and other["id"].lower() != rid.lower():
                raise invalid_system_topic("properties.source", f"the source already has a system topic: {other['id']}; "
                                                           "a resource has at most one system topic.")
        tags = get_ci(spec, "tags")
        if tags is not None and (not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values())):
            raise invalid_system_topic("tags", "expected an object of string values.")
        old = self.store.get(rid)
        body = {"id": rid, "name": name, "type": SYSTEM_TOPIC_TYPE, "location": location, "tags": tags,
                "properties": {"provisioningState": "Succeeded", "source": info["id"],
                               "topicType": info["topicType"],
                               "metricResourceId": (old or {}).get("properties", {}).get("metricResourceId")
                               or str(uuid.uuid4())},
                "systemData": self._system_data(old)}
        identity = get_ci(spec, "identity")
        if identity is not None:
            body["identity"] = self._identity(identity)
        self.store.put(rid, SYSTEM_TOPIC_TYPE, body, parent=group_id)
        return body, old is None

    def list_system_topics(self, subscription: str, resource_group: str | None = None) -> list[dict]:
        if resource_group is not None:
            group_id = self._check_group(subscription, resource_group)
            return self.store.list(type=SYSTEM_TOPIC_TYPE, parent=group_id)
        self._check_subscription(subscription)
        return self.store.list(type=SYSTEM_TOPIC_TYPE)

    def delete_topic_resource(self, body: dict) -> None:
        """Delete a system or custom topic with its event subscriptions."""
        subs = [b["id"] for b in self.store.list(under=body["id"]) if "eventsubscriptions" in b.get("type", "").lower()]
        self.store.delete(body["id"])
        for sid in subs:
            self._compiled.pop(sid.lower(), None)
            self._forget(sid)

    @staticmethod
    def _identity(value: Any) -> dict:
        if not isinstance(value, dict):
            raise invalid_topic("identity", "expected a JSON object.")
        kind = get_ci(value, "type", "None")
        allowed = ("None", "SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned")
        if kind not in allowed:
            raise invalid_topic("identity.type", f"{kind!r} is not allowed; allowed: {', '.join(allowed)}.")
        out: dict[str, Any] = {"type": kind}
        if "SystemAssigned" in kind:
            out.update(principalId=str(uuid.uuid5(uuid.NAMESPACE_URL, "principal")), tenantId=defaults.TENANT_ID)
        uai = get_ci(value, "userAssignedIdentities")
        if uai:
            out["userAssignedIdentities"] = uai
        return out

    # -- custom topics -----------------------------------------------------------------------------
    def topic_id(self, resource_group: str, name: str) -> str:
        return f"/subscriptions/{defaults.SUBSCRIPTION_ID}/resourceGroups/{resource_group}/providers/{NS}/topics/{name}"

    def get_topic(self, subscription: str, resource_group: str, name: str) -> dict:
        self._check_group(subscription, resource_group)
        body = self.store.get(self.topic_id(resource_group, name))
        if body is None:
            raise topic_not_found("topics", name, resource_group)
        return body

    def put_topic(self, subscription: str, resource_group: str, name: str, spec: dict) -> tuple[dict, bool]:
        group_id = self._check_group(subscription, resource_group)
        check_topic_name(name)
        location = get_ci(spec, "location")
        if not isinstance(location, str) or not location:
            raise invalid_topic("location", "the location is required, e.g. 'eastus'.")
        props = get_ci(spec, "properties") or {}
        if not isinstance(props, dict):
            raise invalid_topic("properties", "expected a JSON object.")
        input_schema = get_ci(props, "inputSchema", "EventGridSchema")
        matched = [s for s in INPUT_SCHEMAS if s.lower() == str(input_schema).lower()]
        if not matched:
            raise invalid_topic("properties.inputSchema",
                                  f"{input_schema!r} is not allowed; allowed: {', '.join(INPUT_SCHEMAS)}.")
        network = get_ci(props, "publicNetworkAccess", "Enabled")
        if network not in ("Enabled", "Disabled", "SecuredByPerimeter"):
            raise invalid_topic("properties.publicNetworkAccess",
                                  f"{network!r} is not allowed; allowed: Enabled, Disabled, SecuredByPerimeter.")
        local_auth = get_ci(props, "disableLocalAuth", False)
        if not isinstance(local_auth, bool):
            raise invalid_topic("properties.disableLocalAuth", "expected true or false.")
        rid = self.topic_id(resource_group, name)
        for other in self.store.list(type=TOPIC_TYPE):
            if other["name"].lower() == name.lower() and other["id"].lower() != rid.lower():
                raise ArmError(409, "Conflict", f"The topic name '{name}' is already in use ({other['id']}); topic "
                                                "names are unique per region because they are part of the endpoint.")
        old = self.store.get(rid)
        keys = (old or {}).get(SANDBOX_KEY, {}).get("keys") or {"key1": _new_key(), "key2": _new_key()}
        tags = get_ci(spec, "tags")
        if tags is not None and (not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values())):
            raise invalid_topic("tags", "expected an object of string values.")
        body = {"id": rid, "name": name, "type": TOPIC_TYPE, "location": location, "tags": tags,
                "sku": {"name": "Basic"}, "kind": "Azure",
                "identity": self._identity(get_ci(spec, "identity") or {"type": "None"}),
                "properties": {"provisioningState": "Succeeded", "inputSchema": matched[0],
                               "publicNetworkAccess": network, "disableLocalAuth": local_auth,
                               "minimumTlsVersionAllowed": get_ci(props, "minimumTlsVersionAllowed", "1.2"),
                               "dataResidencyBoundary": get_ci(props, "dataResidencyBoundary", "WithinGeopair"),
                               "inboundIpRules": get_ci(props, "inboundIpRules") or [],
                               "privateEndpointConnections": [],
                               "metricResourceId": (old or {}).get("properties", {}).get("metricResourceId")
                               or str(uuid.uuid4())},
                "systemData": self._system_data(old),
                SANDBOX_KEY: {"keys": keys}}
        self.store.put(rid, TOPIC_TYPE, body, parent=group_id)
        return body, old is None

    def list_topics(self, subscription: str, resource_group: str | None = None) -> list[dict]:
        if resource_group is not None:
            return self.store.list(type=TOPIC_TYPE, parent=self._check_group(subscription, resource_group))
        self._check_subscription(subscription)
        return self.store.list(type=TOPIC_TYPE)

    def topic_endpoint(self, name: str) -> str:
        """The data-plane URL of a custom topic: a route of the sandbox's HTTPS server (started here)."""
        server = self.sandbox.serve()
        return f"{server.base_url}/eventgrid/topics/{name}/api/events"

    def topic_keys(self, subscription: str, resource_group: str, name: str) -> dict:
        body = self.get_topic(subscription, resource_group, name)
        return dict(body[SANDBOX_KEY]["keys"])

    def regenerate_key(self, subscription: str, resource_group: str, name: str, key_name: Any) -> dict:
        if key_name not in ("key1", "key2"):
            raise invalid_topic("keyName", f"{key_name!r} is not allowed; allowed: key1, key2.")
        with self.store.transaction():
            body = self.get_topic(subscription, resource_group, name)
            body[SANDBOX_KEY]["keys"][key_name] = _new_key()
            self.store.put(body["id"], TOPIC_TYPE, body, parent=body["id"].split("/providers/")[0])
        return dict(body[SANDBOX_KEY]["keys"])

    def topic_by_name(self, name: str) -> dict:
        for body in self.store.list(type=TOPIC_TYPE):
            if body["name"].lower() == name.lower():
                return body
        raise ArmError(404, "NotFound", f"The topic '{name}' does not exist in the sandbox.")

    def authorize(self, topic: dict, headers: Any, url: str) -> None:
        """Check ``aeg-sas-key`` or an ``aeg-sas-token`` (as azure.eventgrid.generate_sas makes it).

        A bearer token (Entra ID) answers 501: the sandbox does not emulate that, and says so rather than
        asking for a key as if the token were wrong.
        """
        keys = topic[SANDBOX_KEY]["keys"]
        auth = headers.get("Authorization") or ""
        bearer_only = (auth[:7].lower() == "bearer " and headers.get("aeg-sas-key") is None
                       and headers.get("aeg-sas-token") is None)
        if topic["properties"].get("disableLocalAuth"):
            if bearer_only:
                raise _entra_not_emulated(f", the only way to publish to {topic['name']} with local authentication "
                                          "disabled: enable it (disableLocalAuth: false) and use a key.")
            raise unauthorized("Local authentication (keys and SAS tokens) is disabled for this topic.")
        if bearer_only:
            raise _entra_not_emulated(f": publish to {topic['name']} with the topic key (aeg-sas-key, "
                                      "AzureKeyCredential) or a SAS token (aeg-sas-token, AzureSasCredential).")
        key = headers.get("aeg-sas-key")
        if key is not None:
            if any(_same_secret(key, k) for k in keys.values()):
                return
            raise unauthorized("The request authorization key is not authorized for "
                               f"{topic['name']}. The aeg-sas-key does not match key1 or key2 of the topic.")
        token = headers.get("aeg-sas-token")
        if token is None and auth.startswith("SharedAccessSignature "):
            token = auth[len("SharedAccessSignature "):]
        if token is None:
            raise unauthorized("The request is not authorized: send the topic key in the 'aeg-sas-key' header or a "
                               "SAS token in 'aeg-sas-token' (AzureKeyCredential / AzureSasCredential).")
        self._check_sas(token, keys, topic, url)

    def _check_sas(self, token: str, keys: dict, topic: dict, url: str) -> None:
        fields = dict(part.split("=", 1) for part in token.split("&") if "=" in part)
        if not {"r", "e", "s"} <= set(fields):
            raise unauthorized("The SAS token is malformed; expected r=<resource>&e=<expiry>&s=<signature>.")
        if not token.isascii():  # generate_sas URL-encodes every part; the signature is over ASCII text
            raise unauthorized("The SAS token is malformed: it must be ASCII, with r, e and s URL-encoded "
                               "(as azure.eventgrid.generate_sas makes it).")
        unsigned = f"r={fields['r']}&e={fields['e']}"
        given = unquote(fields["s"])
        ok = False
        for k in keys.values():
            digest = hmac.new(base64.b64decode(k), unsigned.encode("ascii"), hashlib.sha256).digest()
            if _same_secret(given, base64.b64encode(digest).decode()):
                ok = True
        if not ok:
            raise unauthorized("The SAS token signature does not match: sign it with key1 or key2 of the topic.")
        resource = urlsplit(unquote(fields["r"]))
        if resource.path.rstrip("/").lower() != urlsplit(url).path.rstrip("/").lower():
            raise unauthorized(f"The SAS token was made for '{unquote(fields['r'])}', not for this topic endpoint.")
        expiry = _parse_sas_expiry(unquote(fields["e"]))
        if expiry is None:
            raise unauthorized(f"The SAS token expiry {unquote(fields['e'])!r} is not a date.")
        if expiry.timestamp() < self.clock.now():
            raise unauthorized(f"The SAS token expired at {unquote(fields['e'])}.")

    # -- publishing ----------------------------------------------------------------------------------
    def publish(self, events: list[dict]) -> list[str]:
        """Match events (Event Grid or CloudEvents dicts) to subscriptions and submit them for delivery."""
        if not isinstance(events, (list, tuple)):
            raise TypeError(f"publish: events must be a list of event dicts, got {type(events).__name__}")
        by_topic: dict[str, list[dict]] = {}
        for i, event in enumerate(events):
            if not isinstance(event, dict):
                raise TypeError(f"publish: each event must be a dict, got {type(event).__name__}")
            try:
                validate_event(event)
            except EventValidationError as err:
                raise ValueError(f"publish: events[{i}] is not a valid event: {err}") from None
            topic = event.get("topic") or event.get("source")
            if not isinstance(topic, str) or not topic:
                raise ValueError("publish: an event needs its 'topic' (Event Grid schema) or 'source' (CloudEvents).")
            by_topic.setdefault(topic.lower(), []).append(event)
        targets: list[tuple[dict, list[dict]]] = []
        for topic, group in by_topic.items():
            targets += self.match(topic, group)
        self.delivery.submit(events, targets)
        return [e.get("id") for e in events]

    def publish_to_topic(self, topic_id: str, events: list[dict]) -> list[str]:
        """Publish events received on a custom topic's endpoint (their topic is the custom topic)."""
        targets = self.match(topic_id.lower(), events)
        self.delivery.submit(events, targets)
        return [e.get("id") for e in events]

    def _stamp(self) -> tuple:
        """Changes whenever a subscription or system topic is written or deleted (by any process)."""
        return tuple(self.store.execute(
            "SELECT count(*), max(updated) FROM resources WHERE type IN (?, ?, ?)",
            (SUBSCRIPTION_TYPE.lower(), SYSTEM_TOPIC_SUB_TYPE.lower(), SYSTEM_TOPIC_TYPE.lower())).fetchone())

    def subscriptions_for(self, topic: str) -> list[dict]:
        """The active subscriptions whose scope covers ``topic``: on it, or on its system topic."""
        stamp = self._stamp()
        cached = self._by_topic.get(topic)
        if cached is not None and cached[0] == stamp:
            bodies = cached[1]
        else:
            bodies = self.store.list(type=SUBSCRIPTION_TYPE, parent=topic)
            for st in self.store.list(type=SYSTEM_TOPIC_TYPE):
                if st["properties"]["source"].lower() == topic.lower():
                    bodies += self.store.list(type=SYSTEM_TOPIC_SUB_TYPE, parent=st["id"])
            self._by_topic[topic] = (stamp, bodies)
        now = self.clock.now()
        out = []
        for body in bodies:
            props = body["properties"]
            if props.get("provisioningState") != "Succeeded":
                continue
            expires = props.get("expirationTimeUtc")
            if expires and (when := parse_time(expires)) is not None and when.timestamp() <= now:
                continue
            out.append(body)
        return out

    def match(self, topic: str, events: list[dict]) -> list[tuple[dict, list[dict]]]:
        """(subscription body, matching events) for each subscription on ``topic`` that matches any."""
        targets = []
        for body in self.subscriptions_for(topic):
            test = self._filter_for(body)
            hits = [e for e in events if test(e)]
            if hits:
                targets.append((public_body(body, keep_secrets=True), hits))
        return targets

    def _filter_for(self, body: dict) -> Callable[[Any], bool]:
        key = body["id"].lower()
        version = body[SANDBOX_KEY]["version"]
        cached = self._compiled.get(key)
        if cached is None or cached[0] != version:
            cached = self._compiled[key] = (version, compile_filter(body["properties"].get("filter")))
        return cached[1]

    def fire(self, event_type: str, *, subject: str | None = None, data: dict | None = None,
             topic: str | None = None, **fields: Any) -> dict:
        """Test-fire one event on the workspace (sandbox only: Azure has no such call); returns the event.

        ``fire("ModelRegistered", modelName="mymodelname", modelVersion="1")`` publishes what
        registering that model would publish.
        """
        from ....events import build_event
        if not isinstance(event_type, str) or not event_type:
            raise TypeError(f"fire: event_type must be an event type name like 'ModelRegistered', got "
                            f"{type(event_type).__name__}")
        if data is not None and not isinstance(data, dict):
            raise TypeError(f"fire: data must be a dict of the event's data fields, got {type(data).__name__}")
        if "." not in event_type:
            event_type = f"Microsoft.MachineLearningServices.{event_type}"
        event = build_event(event_type, topic=topic or defaults.WORKSPACE_ID, data={**(data or {}), **fields},
                            subject=subject, time=self.clock.utcnow())
        self.publish([event])
        return event


_MISSING = object()


def _keep_endpoint_url(new: Any, old: Any) -> None:
    """A PATCH of a webhook destination without ``endpointUrl`` keeps the stored one.

    GET never returns ``endpointUrl`` (a secret), so clients that send the destination back —
    ``az eventgrid event-subscription update`` does — cannot include it.
    """
    if not (isinstance(new, dict) and isinstance(old, dict)):
        return
    if str(get_ci(new, "endpointType", "")).lower() != str(old.get("endpointType", "")).lower():
        return
    new_props, old_props = get_ci(new, "properties"), old.get("properties") or {}
    if isinstance(new_props, dict) and get_ci(new_props, "endpointUrl") is None and "endpointUrl" in old_props:
        new_props["endpointUrl"] = old_props["endpointUrl"]


def destination_of(props: dict) -> dict:
    """A subscription's destination, given directly or with a resource identity ({} when it has none)."""
    return props.get("destination") or (props.get("deliveryWithResourceIdentity") or {}).get("destination") or {}


def public_body(body: dict, *, keep_secrets: bool = False, nested_topic: bool = False) -> dict:
    """The ARM body as Azure answers it: no endpointUrl (only endpointBaseUrl), no secret header values.

    ``keep_secrets`` keeps the full destination (for the delivery engine and getFullUrl).
    ``nested_topic`` renders a custom-topic subscription as ``topics/{t}/eventSubscriptions/{n}``.
    """
    out = copy.deepcopy(body)
    out.pop(SANDBOX_KEY, None)
    if nested_topic and out["type"] == SUBSCRIPTION_TYPE:
        out["id"] = f"{out['properties']['topic']}/eventSubscriptions/{out['name']}"
        out["type"] = TOPIC_SUB_TYPE
    if keep_secrets:
        return out
    props = out["properties"]
    for holder in (props, props.get("deliveryWithResourceIdentity") or {}):
        dest = holder.get("destination")
        if not dest:
            continue
        dprops = dest.get("properties", {})
        if "endpointUrl" in dprops:
            url = dprops.pop("endpointUrl")
            parts = urlsplit(url)
            dprops["endpointBaseUrl"] = f"{parts.scheme}://{parts.netloc}{parts.path}"
        for mapping in dprops.get("deliveryAttributeMappings") or []:
            if mapping.get("type") == "Static" and mapping["properties"].get("isSecret"):
                mapping["properties"]["value"] = None
    return out


def topic_type_of_body(body: dict) -> str:
    return body.get(SANDBOX_KEY, {}).get("topicType", "")


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _same_secret(given: str, expected: str) -> bool:
    """Compare a secret from a request with ours in constant time; any text (non-ASCII too) is allowed."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def _parse_sas_expiry(text: str) -> datetime | None:
    when = parse_time(text.replace(" ", "T", 1)) if " " in text else parse_time(text)
    if when is not None:
        return when
    for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def stored_json(body: dict) -> str:
    return json.dumps(body, sort_keys=True)

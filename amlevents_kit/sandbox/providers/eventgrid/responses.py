"""Microsoft.EventGrid on the wire: requests to backend calls, stored bodies to Azure's answers."""

from __future__ import annotations

import copy
import re
from typing import Any, Callable
from urllib.parse import quote, urlencode

from ... import defaults
from ...arm.errors import ArmError
from ...arm.http import Request, Response
from ....events.models import json_type
from ....events.validate import EventValidationError, json_problems, load_json, validate_event
from . import catalog
from .exceptions import invalid_request, invalid_topic, subscription_not_found
from .models import (KIND, MAX_PUBLISH_BYTES, NS, SANDBOX_KEY, SUBSCRIPTION_TYPE, TOPIC_TYPE,
                     EventGridBackend, destination_of, public_body)

WARNING_HEADER = "x-ms-sandbox-warning"
MAX_TOP = 100


class EventGridResponses:
    def __init__(self, backend: EventGridBackend) -> None:
        self.backend = backend

    # -- helpers ---------------------------------------------------------------------------------
    def _lro(self, request: Request, body: dict, *, status: int = 201, kind: str = KIND,
             warnings: list[str] | None = None, rendered: dict | None = None) -> Response:
        response = self.backend.sandbox.operations.start(
            request, subscription=defaults.SUBSCRIPTION_ID, namespace=NS, resource_id=body["id"], kind=kind,
            status=status, body=rendered if rendered is not None else public_body(body), location=defaults.LOCATION)
        if warnings:
            response.headers[WARNING_HEADER] = " | ".join(warnings)
        return response

    def _delete_lro(self, request: Request, resource_id: str) -> Response:
        return self.backend.sandbox.operations.start(
            request, subscription=defaults.SUBSCRIPTION_ID, namespace=NS, resource_id=resource_id,
            kind="eventgrid.delete", status=202, location=defaults.LOCATION)

    def _delete_topic(self, request: Request, get: Callable[[str, str, str], dict], subscription: str,
                      resource_group: str, topic: str) -> Response:
        """Delete a system or custom topic; one already gone is a 204, but a missing group stays a 404."""
        try:
            body = get(subscription, resource_group, topic)
        except ArmError as err:
            if err.status == 404 and err.code != "ResourceGroupNotFound":
                return Response(204)
            raise
        self.backend.delete_topic_resource(body)
        return self._delete_lro(request, body["id"])

    def _sub(self, body: dict, *, nested: bool = False) -> Response:
        headers = {}
        warnings = body.get(SANDBOX_KEY, {}).get("warnings")
        if warnings:
            headers[WARNING_HEADER] = " | ".join(warnings)
        return Response(200, public_body(body, nested_topic=nested), headers)

    def _page(self, request: Request, bodies: list[dict], render: Callable[[dict], dict]) -> Response:
        """Apply OData ``$filter`` (on name) and ``$top`` with a nextLink, as Event Grid's lists do."""
        flt = request.query.get("$filter")
        if flt:
            test = _name_filter(flt)
            bodies = [b for b in bodies if test(b["name"])]
        bodies = sorted(bodies, key=lambda b: b["id"].lower())
        skip = _int_query(request, "$skiptoken", 0, 0, 10**9)
        top = request.query.get("$top")
        items = bodies[skip:]
        body: dict[str, Any] = {}
        if top is not None:
            n = _int_query(request, "$top", None, 1, MAX_TOP)
            if len(items) > n:
                query = {k: v for k, v in request.query.items() if k.lower() != "$skiptoken"}
                query["$skiptoken"] = str(skip + n)
                body["nextLink"] = f"{request.base_url}{quote(request.path)}?{urlencode(query, safe='$')}"
            items = items[:n]
        body["value"] = [render(b) for b in items]
        return Response(200, body)

    # -- event subscriptions at a scope ---------------------------------------------------------
    def put_subscription(self, request: Request, scope: str, name: str) -> Response:
        body, warnings = self.backend.put_subscription(scope=scope, name=name, spec=request.json_object())
        return self._lro(request, body, warnings=warnings)

    def patch_subscription(self, request: Request, scope: str, name: str) -> Response:
        body, warnings = self.backend.patch_subscription(scope=scope, name=name, spec=request.json_object())
        return self._lro(request, body, warnings=warnings)

    def get_subscription(self, request: Request, scope: str, name: str) -> Response:
        return self._sub(self.backend.get_subscription(scope=scope, name=name))

    def delete_subscription(self, request: Request, scope: str, name: str) -> Response:
        try:
            body = self.backend.get_subscription(scope=scope, name=name)
        except ArmError as err:
            if err.status == 404:
                return Response(204)
            raise
        self.backend.delete_subscription(body)
        return self._delete_lro(request, body["id"])

    def full_url(self, request: Request, scope: str, name: str) -> Response:
        return Response(200, _full_url(self.backend.get_subscription(scope=scope, name=name)))

    def delivery_attributes(self, request: Request, scope: str, name: str) -> Response:
        return Response(200, _attributes(self.backend.get_subscription(scope=scope, name=name)))

    # -- lists -------------------------------------------------------------------------------------
    def list_global_by_subscription(self, request: Request, subscription: str) -> Response:
        self.backend._check_subscription(subscription)
        return self._page(request, self.backend.list_subscriptions(regional=False), public_body)

    def list_global_by_subscription_for_topic_type(self, request: Request, subscription: str,
                                                   topic_type: str) -> Response:
        self.backend._check_subscription(subscription)
        return self._page(request, self.backend.list_subscriptions(topic_type=_topic_type(topic_type)), public_body)

    def list_global_by_group(self, request: Request, subscription: str, resource_group: str) -> Response:
        self.backend._check_group(subscription, resource_group)
        return self._page(request, self.backend.list_subscriptions(regional=False, resource_group=resource_group),
                          public_body)

    def list_global_by_group_for_topic_type(self, request: Request, subscription: str, resource_group: str,
                                            topic_type: str) -> Response:
        self.backend._check_group(subscription, resource_group)
        return self._page(request, self.backend.list_subscriptions(topic_type=_topic_type(topic_type),
                                                                   resource_group=resource_group), public_body)

    def list_regional_by_subscription(self, request: Request, subscription: str, location: str,
                                      topic_type: str | None = None) -> Response:
        self.backend._check_subscription(subscription)
        bodies = self.backend.list_subscriptions(regional=True, location=location,
                                                 topic_type=_topic_type(topic_type) if topic_type else None)
        return self._page(request, bodies, public_body)

    def list_regional_by_group(self, request: Request, subscription: str, resource_group: str, location: str,
                               topic_type: str | None = None) -> Response:
        self.backend._check_group(subscription, resource_group)
        bodies = self.backend.list_subscriptions(regional=True, location=location, resource_group=resource_group,
                                                 topic_type=_topic_type(topic_type) if topic_type else None)
        return self._page(request, bodies, public_body)

    def list_by_resource(self, request: Request, resource: str) -> Response:
        info = self.backend.resolve_scope(resource)
        return self._page(request, self.backend.list_subscriptions(parent=info["id"]), public_body)

    # -- system topics and their subscriptions -----------------------------------------------------
    def get_system_topic(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        return Response(200, _topic_body(self.backend.get_system_topic(subscription, resource_group, topic)))

    def put_system_topic(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        body, created = self.backend.put_system_topic(subscription, resource_group, topic, request.json_object())
        return self._lro(request, body, status=201 if created else 200, kind="eventgrid.topic",
                         rendered=_topic_body(body))

    def patch_system_topic(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        body = self.backend.get_system_topic(subscription, resource_group, topic)
        patch = request.json_object()
        spec = {"location": body["location"], "properties": body["properties"],
                "tags": patch.get("tags", body.get("tags")), "identity": patch.get("identity", body.get("identity"))}
        body, _ = self.backend.put_system_topic(subscription, resource_group, topic, spec)
        return self._lro(request, body, status=201, kind="eventgrid.topic", rendered=_topic_body(body))

    def delete_system_topic(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        return self._delete_topic(request, self.backend.get_system_topic, subscription, resource_group, topic)

    def list_system_topics(self, request: Request, subscription: str, resource_group: str | None = None) -> Response:
        return self._page(request, self.backend.list_system_topics(subscription, resource_group), _topic_body)

    def get_system_topic_sub(self, request: Request, subscription: str, resource_group: str, topic: str,
                             name: str) -> Response:
        return self._sub(self.backend.get_subscription(system_topic=(subscription, resource_group, topic), name=name))

    def put_system_topic_sub(self, request: Request, subscription: str, resource_group: str, topic: str,
                             name: str) -> Response:
        body, warnings = self.backend.put_subscription(system_topic=(subscription, resource_group, topic), name=name,
                                                       spec=request.json_object())
        return self._lro(request, body, warnings=warnings)

    def patch_system_topic_sub(self, request: Request, subscription: str, resource_group: str, topic: str,
                               name: str) -> Response:
        body, warnings = self.backend.patch_subscription(system_topic=(subscription, resource_group, topic),
                                                         name=name, spec=request.json_object())
        return self._lro(request, body, warnings=warnings)

    def delete_system_topic_sub(self, request: Request, subscription: str, resource_group: str, topic: str,
                                name: str) -> Response:
        try:
            body = self.backend.get_subscription(system_topic=(subscription, resource_group, topic), name=name)
        except ArmError as err:
            if err.status == 404 and err.code == "ResourceNotFound" and "eventSubscriptions" in err.message:
                return Response(204)
            raise
        self.backend.delete_subscription(body)
        return self._delete_lro(request, body["id"])

    def system_topic_sub_full_url(self, request: Request, subscription: str, resource_group: str, topic: str,
                                  name: str) -> Response:
        body = self.backend.get_subscription(system_topic=(subscription, resource_group, topic), name=name)
        return Response(200, _full_url(body))

    def system_topic_sub_attributes(self, request: Request, subscription: str, resource_group: str, topic: str,
                                    name: str) -> Response:
        body = self.backend.get_subscription(system_topic=(subscription, resource_group, topic), name=name)
        return Response(200, _attributes(body))

    def list_system_topic_subs(self, request: Request, subscription: str, resource_group: str,
                               topic: str) -> Response:
        bodies = self.backend.list_system_topic_subscriptions(subscription, resource_group, topic)
        return self._page(request, bodies, public_body)

    # -- custom topics ---------------------------------------------------------------------------
    def _custom_topic(self, body: dict) -> dict:
        out = _topic_body(body)
        out["properties"]["endpoint"] = self.backend.topic_endpoint(body["name"])
        return out

    def get_topic(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        return Response(200, self._custom_topic(self.backend.get_topic(subscription, resource_group, topic)))

    def put_topic(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        body, _ = self.backend.put_topic(subscription, resource_group, topic, request.json_object())
        return self._lro(request, body, status=201, kind="eventgrid.topic", rendered=self._custom_topic(body))

    def patch_topic(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        body = self.backend.get_topic(subscription, resource_group, topic)
        patch = request.json_object()
        given = patch.get("properties")
        given = {} if given is None else given
        if not isinstance(given, dict):
            raise invalid_topic("properties", f"expected a JSON object, got {json_type(given)}.")
        props = dict(body["properties"])
        props.update(given)
        spec = {"location": body["location"], "properties": props, "tags": patch.get("tags", body.get("tags")),
                "identity": patch.get("identity", body.get("identity"))}
        body, _ = self.backend.put_topic(subscription, resource_group, topic, spec)
        return self._lro(request, body, status=201, kind="eventgrid.topic", rendered=self._custom_topic(body))

    def delete_topic(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        return self._delete_topic(request, self.backend.get_topic, subscription, resource_group, topic)

    def list_topics(self, request: Request, subscription: str, resource_group: str | None = None) -> Response:
        return self._page(request, self.backend.list_topics(subscription, resource_group), self._custom_topic)

    def list_keys(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        return Response(200, self.backend.topic_keys(subscription, resource_group, topic))

    def regenerate_key(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        spec = request.json_object()
        return Response(200, self.backend.regenerate_key(subscription, resource_group, topic, spec.get("keyName")))

    # -- custom topic subscriptions (nested form: topics/{t}/eventSubscriptions/{n}) ---------------
    def _topic_scope(self, subscription: str, resource_group: str, topic: str) -> str:
        return self.backend.get_topic(subscription, resource_group, topic)["id"]

    def get_topic_sub(self, request: Request, subscription: str, resource_group: str, topic: str,
                      name: str) -> Response:
        scope = self._topic_scope(subscription, resource_group, topic)
        return self._sub(self.backend.get_subscription(scope=scope, name=name), nested=True)

    def put_topic_sub(self, request: Request, subscription: str, resource_group: str, topic: str,
                      name: str) -> Response:
        scope = self._topic_scope(subscription, resource_group, topic)
        body, warnings = self.backend.put_subscription(scope=scope, name=name, spec=request.json_object())
        return self._lro(request, body, warnings=warnings, rendered=public_body(body, nested_topic=True))

    def patch_topic_sub(self, request: Request, subscription: str, resource_group: str, topic: str,
                        name: str) -> Response:
        scope = self._topic_scope(subscription, resource_group, topic)
        body, warnings = self.backend.patch_subscription(scope=scope, name=name, spec=request.json_object())
        return self._lro(request, body, warnings=warnings, rendered=public_body(body, nested_topic=True))

    def delete_topic_sub(self, request: Request, subscription: str, resource_group: str, topic: str,
                         name: str) -> Response:
        scope = self._topic_scope(subscription, resource_group, topic)
        return self.delete_subscription(request, scope, name)

    def topic_sub_full_url(self, request: Request, subscription: str, resource_group: str, topic: str,
                           name: str) -> Response:
        return self.full_url(request, self._topic_scope(subscription, resource_group, topic), name)

    def topic_sub_attributes(self, request: Request, subscription: str, resource_group: str, topic: str,
                             name: str) -> Response:
        return self.delivery_attributes(request, self._topic_scope(subscription, resource_group, topic), name)

    def list_topic_subs(self, request: Request, subscription: str, resource_group: str, topic: str) -> Response:
        scope = self._topic_scope(subscription, resource_group, topic)
        return self._page(request, self.backend.list_subscriptions(parent=scope),
                          lambda b: public_body(b, nested_topic=True))

    # -- topic types -----------------------------------------------------------------------------
    def list_topic_types(self, request: Request) -> Response:
        return Response(200, {"value": [_topic_type_body(n) for n in sorted(catalog.TOPIC_TYPES)]})

    def get_topic_type(self, request: Request, topic_type: str) -> Response:
        return Response(200, _topic_type_body(_topic_type(topic_type)))

    def list_event_types(self, request: Request, topic_type: str) -> Response:
        name = _topic_type(topic_type)
        types = catalog.event_types(name) or ()
        return Response(200, {"value": [
            {"id": f"providers/{NS}/topicTypes/{name}/eventTypes/{t}", "name": t,
             "type": "Microsoft.EventGrid/topicTypes/eventTypes",
             "properties": {"displayName": t.rsplit(".", 1)[-1], "description": t, "schemaUrl": "TBD",
                            "isInDefaultSet": True}} for t in types]})

    # -- the custom topic data plane ---------------------------------------------------------------
    def publish_events(self, request: Request, topic: str) -> Response:
        """POST {endpoint}: what ``azure.eventgrid.EventGridPublisherClient.send`` calls."""
        body = self.backend.topic_by_name(topic)
        self.backend.authorize(body, request.headers, request.url)
        if len(request.body) > MAX_PUBLISH_BYTES:
            raise ArmError(413, "PayloadTooLarge", f"The request body is {len(request.body):,} bytes; the maximum "
                                                   f"is 1 MB ({MAX_PUBLISH_BYTES:,} bytes) per publish.")
        try:
            payload = load_json(request.body or b"null")
        except EventValidationError as err:
            raise ArmError(400, "BadRequest", f"The request body is not valid: {err}.") from None
        if isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list) or not payload:
            raise ArmError(400, "BadRequest", "The request body must be a JSON array of events.")
        schema = body["properties"]["inputSchema"]
        events = [self._stamp(body, i, ev, schema) for i, ev in enumerate(payload)]
        self.backend.publish_to_topic(body["id"], events)
        return Response(200, b"")

    def _stamp(self, topic: dict, index: int, event: Any, schema: str) -> dict:
        where = f"[{index}]"
        if not isinstance(event, dict):
            raise ArmError(400, "BadRequest", f"{where}: each event must be a JSON object.")
        if schema == "CustomEventSchema":
            not_text = json_problems(event)  # e.g. a lone surrogate: stored and delivered as UTF-8, it would fail
            if not_text:
                raise ArmError(400, "BadRequest", f"{where}.{not_text[0][0]}: {not_text[0][1]}.")
            return event
        want = "EventGridSchema" if schema == "EventGridSchema" else "CloudEventSchemaV1_0"
        try:
            validate_event(event, schema=want)
        except EventValidationError as err:
            raise ArmError(400, "BadRequest", f"{where}.{err.path}: {err.errors[0][1]} (the topic's input schema "
                                              f"is {schema}).") from None
        if want == "EventGridSchema":
            event = dict(event)
            given = event.get("topic")
            if given and given.lower() != topic["id"].lower():
                raise ArmError(400, "BadRequest", f"{where}.topic: '{given}' is not this topic; leave it out (Event "
                                                  f"Grid sets it) or give {topic['id']}.")
            event["topic"] = topic["id"]
            event.setdefault("dataVersion", "")
            event.setdefault("metadataVersion", "1")
        return event


def _full_url(body: dict) -> dict:
    url = destination_of(body["properties"]).get("properties", {}).get("endpointUrl")
    if url is None:
        raise invalid_request("destination", "getFullUrl applies to WebHook destinations only.")
    return {"endpointUrl": url}


def _attributes(body: dict) -> dict:
    mappings = destination_of(body["properties"]).get("properties", {}).get("deliveryAttributeMappings")
    return {"value": copy.deepcopy(mappings or [])}


def _topic_body(body: dict) -> dict:
    out = copy.deepcopy(body)
    out.pop(SANDBOX_KEY, None)
    return out


def _topic_type(name: str) -> str:
    known = catalog.canonical_topic_type(name)
    if known is None:
        raise ArmError(404, "NotFound", f"The topic type '{name}' is not known to the sandbox; known: "
                                        f"{', '.join(sorted(catalog.TOPIC_TYPES))}.")
    return known


def _topic_type_body(name: str) -> dict:
    provider, display, description, region, _ = catalog.TOPIC_TYPES[name]
    return {"id": f"providers/{NS}/topicTypes/{name}", "name": name, "type": "Microsoft.EventGrid/topicTypes",
            "properties": {"provider": provider, "displayName": display, "description": description,
                           "resourceRegionType": region, "provisioningState": "Succeeded",
                           "supportedLocations": [defaults.LOCATION] if region == "RegionalResource" else [],
                           "sourceResourceFormat": catalog.SOURCE_FORMATS.get(name),
                           "supportedScopesForSource": ["Resource"]}}


def _int_query(request: Request, name: str, default: int | None, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default  # type: ignore[return-value]
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise invalid_request(name, f"{raw!r} is invalid; allowed: an integer from {low} to {high}.")
    return value


_CLAUSE = re.compile(r"^\s*(?:(contains)\(\s*name\s*,\s*'([^']*)'\s*\)|name\s+(eq|ne)\s+'([^']*)')\s*$", re.I)


def _name_filter(text: str) -> Callable[[str], bool]:
    """OData on name: contains(name, 'x'), name eq 'x', name ne 'x', joined by 'and'/'or' (no parentheses)."""
    tests: list[Callable[[str], bool]] = []
    joins: list[str] = []
    for i, part in enumerate(re.split(r"\s+(and|or)\s+", text, flags=re.I)):
        if i % 2:
            joins.append(part.lower())
            continue
        negate = False
        p = part.strip()
        if p.lower().startswith("not "):
            negate, p = True, p[4:]
        m = _CLAUSE.match(p)
        if not m:
            raise invalid_request("$filter", f"{text!r} is not supported; filter on name with contains(name, 'x'), "
                                             "name eq 'x' or name ne 'x', joined by and/or.")
        if m.group(1):
            word = m.group(2).lower()
            test = lambda n, w=word: w in n.lower()  # noqa: E731
        else:
            word, op = m.group(4).lower(), m.group(3).lower()
            test = (lambda n, w=word: n.lower() == w) if op == "eq" else (lambda n, w=word: n.lower() != w)
        tests.append((lambda n, t=test: not t(n)) if negate else test)

    def run(name: str) -> bool:
        result = tests[0](name)
        for join, test in zip(joins, tests[1:]):
            result = (result and test(name)) if join == "and" else (result or test(name))
        return result

    return run


__all__ = ["EventGridResponses", "WARNING_HEADER", "SUBSCRIPTION_TYPE", "TOPIC_TYPE", "subscription_not_found"]

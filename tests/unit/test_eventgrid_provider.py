"""Microsoft.EventGrid in the sandbox, on the wire (requests through the sandbox's router).

Webhook endpoints here are a tiny stdlib HTTP server on 127.0.0.1 that answers the validation
handshake the way a real handler does; the delivery engine POSTs to it for real.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

import pytest

from amlevents_kit.sandbox import defaults

API = "2025-02-15"
WS = defaults.WORKSPACE_ID
RG_ID = f"/subscriptions/{defaults.SUBSCRIPTION_ID}/resourceGroups/{defaults.RESOURCE_GROUP}"
MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"


class Endpoint:
    """A webhook on 127.0.0.1: ``mode`` = "echo" (validates), "no-code" (200 without the code), or a status."""

    def __init__(self) -> None:
        self.mode: str | int = "echo"
        self.requests: list[tuple[str, dict, object]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"null")
                endpoint.requests.append(("POST", {k.lower(): v for k, v in self.headers.items()}, body))
                out, status = b"", 200
                if self.headers.get("aeg-event-type") == "SubscriptionValidation" and endpoint.mode == "echo":
                    out = json.dumps({"validationResponse": body[0]["data"]["validationCode"]}).encode()
                elif isinstance(endpoint.mode, int):
                    status = endpoint.mode
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_OPTIONS(self):
                endpoint.requests.append(("OPTIONS", {k.lower(): v for k, v in self.headers.items()}, None))
                self.send_response(200)
                self.send_header("WebHook-Allowed-Origin", self.headers.get("WebHook-Request-Origin", "*"))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/events"

    def notifications(self) -> list:
        return [b for m, h, b in self.requests if m == "POST" and h.get("aeg-event-type") == "Notification"]


@pytest.fixture
def endpoint():
    e = Endpoint()
    yield e
    e.server.shutdown()


@pytest.fixture
def sb(sandbox):
    sandbox.backends["resources"].register(defaults.SUBSCRIPTION_ID, "Microsoft.EventGrid")
    sandbox.clock.advance(seconds=5)
    return sandbox


def call(sandbox, method: str, path: str, body=None, *, api: str | None = API, headers=None):
    url = "https://management.azure.com" + path + (f"?api-version={api}" if api else "")
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else (body or b"")
    status, hdrs, raw = sandbox.handle(method, url, {"Content-Type": "application/json", **(headers or {})}, data)
    return status, hdrs, (json.loads(raw) if raw else None)


def finish(sandbox, headers) -> dict:
    """Poll an LRO the way ARMPolling does; returns the final operation status body."""
    url = headers["Azure-AsyncOperation"]
    for _ in range(10):
        status, _, raw = sandbox.handle("GET", url, {}, b"")
        op = json.loads(raw)
        if op["status"] != "InProgress":
            return op
    raise AssertionError("the operation never ended")


def webhook(url: str, **filter_) -> dict:
    return {"properties": {"destination": {"endpointType": "WebHook", "properties": {"endpointUrl": url}},
                           "filter": filter_}}


def create(sandbox, scope: str, name: str, body: dict):
    status, headers, created = call(sandbox, "PUT", f"{scope}/providers/Microsoft.EventGrid/eventSubscriptions/{name}",
                                    body)
    assert status == 201, created
    op = finish(sandbox, headers)
    _, _, got = call(sandbox, "GET", f"{scope}/providers/Microsoft.EventGrid/eventSubscriptions/{name}")
    return created, op, got, headers


def test_writes_need_the_provider_registered(sandbox, endpoint):
    status, _, body = call(sandbox, "PUT", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1",
                           webhook(endpoint.url))
    assert status == 409 and body["error"]["code"] == "MissingSubscriptionRegistration"
    assert "Microsoft.EventGrid" in body["error"]["message"]


def test_create_runs_the_handshake_then_succeeds(sb, endpoint):
    created, op, got, headers = create(sb, WS, "es1", webhook(endpoint.url, includedEventTypes=[MODEL_REGISTERED],
                                                              subjectBeginsWith="models/mymodelname"))
    assert created["properties"]["provisioningState"] == "Creating"
    assert op["status"] == "Succeeded"
    assert got["properties"]["provisioningState"] == "Succeeded"
    assert got["properties"]["topic"] == WS
    assert got["properties"]["destination"] == {
        "endpointType": "WebHook", "properties": {"endpointBaseUrl": endpoint.url, "maxEventsPerBatch": 1,
                                                  "preferredBatchSizeInKilobytes": 64}}
    assert got["properties"]["retryPolicy"] == {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440}
    assert got["properties"]["eventDeliverySchema"] == "EventGridSchema"
    kinds = [h.get("aeg-event-type") for m, h, b in endpoint.requests]
    assert kinds == ["SubscriptionValidation"]
    # http on loopback is accepted, and the sandbox says Azure would not
    assert "https" in headers["x-ms-sandbox-warning"] and "loopback" in headers["x-ms-sandbox-warning"]


def test_full_url_keeps_the_query_string_get_hides_it(sb, endpoint):
    url = endpoint.url + "?code=secret"
    _, _, got, _ = create(sb, WS, "es1", webhook(url))
    assert got["properties"]["destination"]["properties"]["endpointBaseUrl"] == endpoint.url
    assert "endpointUrl" not in got["properties"]["destination"]["properties"]
    status, _, full = call(sb, "POST", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1/getFullUrl")
    assert (status, full) == (200, {"endpointUrl": url})


def test_handshake_without_the_code_awaits_manual_action_then_fails_after_5_minutes(sb, endpoint):
    endpoint.mode = "no-code"
    _, op, got, _ = create(sb, WS, "es1", webhook(endpoint.url))
    assert op["status"] == "Succeeded"
    assert got["properties"]["provisioningState"] == "AwaitingManualAction"
    sb.clock.advance(minutes=6)
    _, _, got = call(sb, "GET", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1")
    assert got["properties"]["provisioningState"] == "Failed"


def test_manual_validation_url_completes_the_subscription(sb, endpoint):
    endpoint.mode = "no-code"
    create(sb, WS, "es1", webhook(endpoint.url))
    validation = [b for m, h, b in endpoint.requests if h.get("aeg-event-type") == "SubscriptionValidation"][0]
    url = validation[0]["data"]["validationUrl"]
    parts = urlsplit(url)
    status, _, _ = sb.handle("GET", f"https://management.azure.com{parts.path}?{parts.query}", {}, b"")
    assert status == 200
    _, _, got = call(sb, "GET", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1")
    assert got["properties"]["provisioningState"] == "Succeeded"


def test_failed_handshake_fails_the_operation_with_azures_code(sb, endpoint):
    endpoint.mode = 403
    _, op, got, _ = create(sb, WS, "es1", webhook(endpoint.url))
    assert op["status"] == "Failed"
    assert op["error"]["code"] == "Url validation"
    assert "Webhook validation handshake failed" in op["error"]["message"]
    assert got["properties"]["provisioningState"] == "Failed"


@pytest.mark.parametrize("url, words", [
    ("https://example.com/api/events", "127.0.0.1"),
    ("ftp://127.0.0.1/x", "HTTPS URL"),
    ("", "cannot be null or empty"),
])
def test_webhook_urls_the_sandbox_refuses(sb, url, words):
    status, _, body = call(sb, "PUT", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1", webhook(url))
    assert status == 400
    assert body["error"]["code"] == "InvalidRequest"
    assert "properties.destination.properties.endpointUrl" in body["error"]["message"]
    assert words in body["error"]["message"]


@pytest.mark.parametrize("patch, field", [
    ({"retryPolicy": {"maxDeliveryAttempts": 31}}, "properties.retryPolicy.maxDeliveryAttempts"),
    ({"retryPolicy": {"eventTimeToLiveInMinutes": 0}}, "properties.retryPolicy.eventTimeToLiveInMinutes"),
    ({"eventDeliverySchema": "Xml"}, "properties.eventDeliverySchema"),
    ({"eventDeliverySchema": "CustomInputSchema"}, "properties.eventDeliverySchema"),
    ({"filter": {"includedEventTypes": ["Microsoft.Storage.BlobCreated"]}}, "properties.filter.includedEventTypes"),
    ({"filter": {"advancedFilters": [{"operatorType": "StringIn", "key": "data.x", "values": []}]}},
     "properties.filter.advancedFilters[0].values"),
    ({"filter": {"advancedFilters": [{"operatorType": "Foo", "key": "data.x"}]}},
     "properties.filter.advancedFilters[0].operatorType"),
    ({"deadLetterDestination": {"endpointType": "StorageBlob", "properties": {"resourceId": "/nope",
                                                                              "blobContainerName": "dl"}}},
     "properties.deadLetterDestination.properties.resourceId"),
    ({"expirationTimeUtc": "2001-01-01T00:00:00Z"}, "properties.expirationTimeUtc"),
    ({"labels": "one"}, "properties.labels"),
])
def test_bad_properties_are_400s_naming_the_field(sb, endpoint, patch, field):
    body = webhook(endpoint.url)
    body["properties"].update(patch)
    status, _, answer = call(sb, "PUT", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1", body)
    assert status == 400, answer
    assert field in answer["error"]["message"]
    assert answer["error"]["details"][0]["target"] == field
    assert endpoint.requests == []  # nothing reached the endpoint


def test_batch_settings_and_header_mappings_are_checked(sb, endpoint):
    body = webhook(endpoint.url)
    body["properties"]["destination"]["properties"]["maxEventsPerBatch"] = 5001
    status, _, answer = call(sb, "PUT", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1", body)
    assert status == 400 and "from 1 to 5000" in answer["error"]["message"]
    body = webhook(endpoint.url)
    body["properties"]["destination"]["properties"]["deliveryAttributeMappings"] = [
        {"name": "aeg-mine", "type": "Static", "properties": {"value": "v"}}]
    status, _, answer = call(sb, "PUT", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1", body)
    assert status == 400 and "reserved" in answer["error"]["message"]


def test_names_and_scopes_are_checked(sb, endpoint):
    status, _, answer = call(sb, "PUT", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/a_b", webhook(endpoint.url))
    assert status == 400 and "3 to 64" in answer["error"]["message"]
    missing = WS.replace("amlevents-ws", "no-such-ws")
    status, _, answer = call(sb, "PUT", f"{missing}/providers/Microsoft.EventGrid/eventSubscriptions/es1",
                             webhook(endpoint.url))
    assert status == 404 and "no-such-ws" in answer["error"]["message"]


def test_secret_header_values_are_hidden_on_get_and_returned_by_get_delivery_attributes(sb, endpoint):
    body = webhook(endpoint.url)
    body["properties"]["destination"]["properties"]["deliveryAttributeMappings"] = [
        {"name": "x-token", "type": "Static", "properties": {"value": "s3cret", "isSecret": True}},
        {"name": "x-model", "type": "Dynamic", "properties": {"sourceField": "data.modelName"}}]
    _, _, got, _ = create(sb, WS, "es1", body)
    shown = got["properties"]["destination"]["properties"]["deliveryAttributeMappings"]
    assert shown[0]["properties"]["value"] is None
    status, _, attrs = call(sb, "POST", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1/getDeliveryAttributes")
    assert status == 200 and attrs["value"][0]["properties"]["value"] == "s3cret"


def test_patch_changes_only_what_it_names(sb, endpoint):
    create(sb, WS, "es1", webhook(endpoint.url, subjectBeginsWith="models/"))
    status, headers, body = call(sb, "PATCH", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1",
                                 {"labels": ["prod"]})
    assert status == 201
    finish(sb, headers)
    _, _, got = call(sb, "GET", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1")
    assert got["properties"]["labels"] == ["prod"]
    assert got["properties"]["filter"]["subjectBeginsWith"] == "models/"
    assert got["properties"]["provisioningState"] == "Succeeded"
    assert len([1 for m, h, b in endpoint.requests if h.get("aeg-event-type") == "SubscriptionValidation"]) == 1


def test_delete_is_a_202_operation_then_404(sb, endpoint):
    create(sb, WS, "es1", webhook(endpoint.url))
    status, headers, _ = call(sb, "DELETE", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1")
    assert status == 202 and "Location" in headers
    assert finish(sb, headers)["status"] == "Succeeded"
    status, _, body = call(sb, "GET", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1")
    assert status == 404 and body["error"]["code"] == "ResourceNotFound"
    status, _, _ = call(sb, "DELETE", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1")
    assert status == 204


def test_lists_filter_by_scope_kind_location_and_topic_type(sb, endpoint):
    queue = {"properties": {"destination": {"endpointType": "StorageQueue", "properties": {
        "resourceId": f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/amleventsstorage", "queueName": "lesson-queue"}}}}
    create(sb, WS, "on-ws", queue)
    create(sb, RG_ID, "on-rg", queue)
    create(sb, f"/subscriptions/{defaults.SUBSCRIPTION_ID}", "on-sub", queue)
    sub = f"/subscriptions/{defaults.SUBSCRIPTION_ID}"

    def names(path):
        status, _, body = call(sb, "GET", path)
        assert status == 200, body
        return sorted(x["name"] for x in body["value"])

    eg = "/providers/Microsoft.EventGrid"
    assert names(f"{sub}{eg}/eventSubscriptions") == ["on-rg", "on-sub"]
    assert names(f"{RG_ID}{eg}/eventSubscriptions") == ["on-rg"]
    assert names(f"{sub}{eg}/locations/eastus/eventSubscriptions") == ["on-ws"]
    assert names(f"{sub}{eg}/locations/westus/eventSubscriptions") == []
    assert names(f"{sub}{eg}/topicTypes/Microsoft.MachineLearningServices.Workspaces/eventSubscriptions") == ["on-ws"]
    assert names(f"{RG_ID}{eg}/topicTypes/Microsoft.Resources.ResourceGroups/eventSubscriptions") == ["on-rg"]
    assert names(f"{WS}{eg}/eventSubscriptions") == ["on-ws"]
    status, _, page = call(sb, "GET", f"{sub}{eg}/eventSubscriptions", api=f"{API}&$top=1")
    assert len(page["value"]) == 1 and "$skiptoken=1" in page["nextLink"]
    status, _, page = call(sb, "GET", f"{sub}{eg}/eventSubscriptions", api=f"{API}&$filter=contains(name, 'sub')")
    assert [x["name"] for x in page["value"]] == ["on-sub"]
    status, _, page = call(sb, "GET", f"{sub}{eg}/eventSubscriptions", api=f"{API}&$top=500")
    assert status == 400 and "$top" in page["error"]["message"]


def test_system_topic_on_the_workspace_and_its_subscription(sb, endpoint):
    path = f"{RG_ID}/providers/Microsoft.EventGrid/systemTopics/ws-topic"
    status, headers, body = call(sb, "PUT", path, {"location": "eastus", "properties": {
        "source": WS, "topicType": "Microsoft.MachineLearningServices.Workspaces"}})
    assert status == 201 and finish(sb, headers)["status"] == "Succeeded"
    assert body["properties"]["source"] == WS and body["type"] == "Microsoft.EventGrid/systemTopics"
    status, _, body = call(sb, "PUT", f"{RG_ID}/providers/Microsoft.EventGrid/systemTopics/other", {
        "location": "eastus", "properties": {"source": WS, "topicType": "Microsoft.MachineLearningServices.Workspaces"}})
    assert status == 400 and "already has a system topic" in body["error"]["message"]
    status, _, body = call(sb, "PUT", f"{RG_ID}/providers/Microsoft.EventGrid/systemTopics/other", {
        "location": "eastus", "properties": {"source": WS, "topicType": "Microsoft.Storage.StorageAccounts"}})
    assert status == 400 and "properties.topicType" in body["error"]["message"]
    status, headers, _ = call(sb, "PUT", f"{path}/eventSubscriptions/st-sub", webhook(endpoint.url))
    assert status == 201 and finish(sb, headers)["status"] == "Succeeded"
    _, _, got = call(sb, "GET", f"{path}/eventSubscriptions/st-sub")
    assert got["type"] == "Microsoft.EventGrid/systemTopics/eventSubscriptions"
    assert got["properties"]["topic"].endswith("/systemTopics/ws-topic")
    # a workspace event reaches the system topic's subscription
    sb.backends["eventgrid"].fire("ModelRegistered", modelName="m", modelVersion="1")
    sb.service("delivery").pump()
    assert [b[0]["subject"] for b in endpoint.notifications()] == ["models/m:1"]
    status, headers, _ = call(sb, "DELETE", path)
    assert status == 202
    finish(sb, headers)
    assert call(sb, "GET", f"{path}/eventSubscriptions/st-sub")[0] == 404


def test_publish_matches_filters_and_scopes(sb, endpoint):
    create(sb, WS, "models", webhook(endpoint.url, includedEventTypes=[MODEL_REGISTERED],
                                     subjectBeginsWith="models/mymodelname"))
    backend = sb.backends["eventgrid"]
    hit = backend.fire("ModelRegistered", modelName="mymodelname", modelVersion="2")
    backend.fire("ModelRegistered", modelName="othermodel", modelVersion="1")
    backend.fire("RunCompleted", experimentId="e1", experimentName="x", runId="r1", runType="command")
    other_ws = WS.replace("amlevents-ws", "elsewhere")
    backend.fire("ModelRegistered", modelName="mymodelname", modelVersion="3", topic=other_ws)
    sb.service("delivery").pump()
    assert [b[0]["id"] for b in endpoint.notifications()] == [hit["id"]]
    headers = [h for m, h, b in endpoint.requests if h.get("aeg-event-type") == "Notification"][0]
    assert headers["aeg-subscription-name"] == "MODELS"


def test_subscriptions_not_succeeded_receive_nothing(sb, endpoint):
    endpoint.mode = "no-code"
    create(sb, WS, "waiting", webhook(endpoint.url))
    assert sb.backends["eventgrid"].match(WS.lower(), [{"topic": WS, "eventType": MODEL_REGISTERED}]) == []


def test_filter_cache_follows_updates(sb, endpoint):
    create(sb, WS, "es1", webhook(endpoint.url, subjectBeginsWith="models/a"))
    backend = sb.backends["eventgrid"]
    event = {"topic": WS, "subject": "models/b:1", "eventType": MODEL_REGISTERED}
    assert backend.match(WS.lower(), [event]) == []
    status, headers, _ = call(sb, "PATCH", f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/es1",
                              {"filter": {"subjectBeginsWith": "models/b"}})
    finish(sb, headers)
    assert [ev for _, evs in backend.match(WS.lower(), [event]) for ev in evs] == [event]


def _topic(sb, name="orders"):
    status, headers, body = call(sb, "PUT", f"{RG_ID}/providers/Microsoft.EventGrid/topics/{name}",
                                 {"location": "eastus"})
    assert status == 201, body
    finish(sb, headers)
    return body


def test_custom_topic_endpoint_keys_and_publish_with_key_and_sas(sb, endpoint):
    body = _topic(sb)
    endpoint_url = body["properties"]["endpoint"]
    assert endpoint_url == f"{sb.server.base_url}/eventgrid/topics/orders/api/events"
    _, _, keys = call(sb, "POST", f"{RG_ID}/providers/Microsoft.EventGrid/topics/orders/listKeys")
    assert set(keys) == {"key1", "key2"} and keys["key1"] != keys["key2"]
    create(sb, body["id"], "all", webhook(endpoint.url))
    event = {"id": "1", "subject": "a/b", "eventType": "Contoso.Order", "eventTime": "2026-01-01T00:00:00Z",
             "data": {"n": 1}, "dataVersion": "1"}
    path = urlsplit(endpoint_url).path
    status, _, answer = sb.handle("POST", endpoint_url + "?api-version=2018-01-01",
                                  {"aeg-sas-key": "wrong"}, json.dumps([event]).encode())
    assert status == 401
    status, _, _ = sb.handle("POST", endpoint_url + "?api-version=2018-01-01",
                             {"aeg-sas-key": keys["key2"]}, json.dumps([event]).encode())
    assert status == 200
    expiry = quote(str(datetime.now(timezone.utc) + timedelta(hours=1)), safe="")
    unsigned = f"r={quote(endpoint_url + '?apiVersion=2018-01-01', safe='')}&e={expiry}"
    sig = base64.b64encode(hmac.new(base64.b64decode(keys["key1"]), unsigned.encode(), hashlib.sha256).digest())
    token = f"{unsigned}&s={quote(sig, safe='')}"
    status, _, _ = sb.handle("POST", endpoint_url, {"aeg-sas-token": token}, json.dumps([{**event, "id": "2"}]).encode())
    assert status == 200
    sb.service("delivery").pump()
    got = sorted(endpoint.notifications(), key=lambda batch: batch[0]["id"])  # Event Grid does not keep order
    assert [b[0]["id"] for b in got] == ["1", "2"]
    assert got[0][0]["topic"] == body["id"] and got[0][0]["metadataVersion"] == "1"
    _, _, new = call(sb, "POST", f"{RG_ID}/providers/Microsoft.EventGrid/topics/orders/regenerateKey",
                     {"keyName": "key2"})
    assert new["key2"] != keys["key2"] and new["key1"] == keys["key1"]
    assert sb.handle("POST", endpoint_url, {"aeg-sas-key": keys["key2"]}, json.dumps([event]).encode())[0] == 401
    assert path.startswith("/eventgrid/topics/")


def test_custom_topic_publish_errors(sb):
    body = _topic(sb)
    url = body["properties"]["endpoint"]
    _, _, keys = call(sb, "POST", f"{RG_ID}/providers/Microsoft.EventGrid/topics/orders/listKeys")
    auth = {"aeg-sas-key": keys["key1"]}
    status, _, answer = sb.handle("POST", url, auth, json.dumps([{"id": "1", "subject": "s"}]).encode())
    assert status == 400 and b"eventType" in answer
    wrong_topic = {"id": "1", "subject": "s", "eventType": "T", "eventTime": "2026-01-01T00:00:00Z",
                   "topic": "/subscriptions/x", "data": {}}
    status, _, answer = sb.handle("POST", url, auth, json.dumps([wrong_topic]).encode())
    assert status == 400 and b"[0].topic" in answer
    status, _, _ = sb.handle("POST", url, auth, b"x" * (1024 * 1024 + 1))
    assert status == 413
    status, _, answer = call(sb, "PUT", f"{RG_ID}/providers/Microsoft.EventGrid/topics/orders2",
                             {"location": "eastus", "properties": {"inputSchema": "Xml"}})
    assert status == 400 and "properties.inputSchema" in answer["error"]["message"]


def test_topic_errors_name_the_topic_and_the_field(sb):
    topic = f"{RG_ID}/providers/Microsoft.EventGrid/topics/orders"
    status, _, answer = call(sb, "PUT", topic, {"location": "eastus", "tags": {"a": 1}})
    assert status == 400 and answer["error"]["message"].startswith("Invalid topic request: tags:")
    _topic(sb)
    for properties in ("a string", [1], 5):
        status, _, answer = call(sb, "PATCH", topic, {"properties": properties})
        assert status == 400, answer
        assert answer["error"]["message"].startswith("Invalid topic request: properties: expected a JSON object")
    status, _, answer = call(sb, "PUT", f"{RG_ID}/providers/Microsoft.EventGrid/systemTopics/sys-topic",
                             {"location": "global", "properties": "x"})
    assert status == 400 and answer["error"]["message"].startswith("Invalid system topic request: properties:")


@pytest.mark.parametrize("schema", ["EventGridSchema", "CustomEventSchema"])
def test_publish_refuses_what_is_not_json_text_and_odd_credentials(sb, schema):
    status, headers, body = call(sb, "PUT", f"{RG_ID}/providers/Microsoft.EventGrid/topics/odd",
                                 {"location": "eastus", "properties": {"inputSchema": schema}})
    assert status == 201, body
    url = body["properties"]["endpoint"]
    _, _, keys = call(sb, "POST", f"{RG_ID}/providers/Microsoft.EventGrid/topics/odd/listKeys")
    event = {"id": "1", "subject": "s", "eventType": "T", "eventTime": "2026-01-01T00:00:00Z", "data": {}}
    auth = {"aeg-sas-key": keys["key1"]}
    status, _, answer = sb.handle("POST", url, auth, json.dumps([{**event, "subject": "\ud800"}]).encode())
    assert status == 400 and b"[0].subject" in answer and b"lone surrogate" in answer
    status, _, answer = sb.handle("POST", url, auth, b'{"a": ' * 100 + b"1" + b"}" * 100)
    assert status == 400 and b"nested more than 64 levels" in answer
    for header, value in [("aeg-sas-key", "\u00fc" + keys["key1"][1:]), ("aeg-sas-token", "r=\u00fc&e=x&s=y")]:
        status, _, answer = sb.handle("POST", url, {header: value}, json.dumps([event]).encode())
        assert status == 401, answer


def test_topic_types_list_the_workspace_events(sb):
    status, _, body = call(sb, "GET", "/providers/Microsoft.EventGrid/topicTypes/"
                                      "Microsoft.MachineLearningServices.Workspaces/eventTypes")
    assert status == 200
    assert MODEL_REGISTERED in [x["name"] for x in body["value"]]
    assert len(body["value"]) == 5


def test_publish_refuses_malformed_events_naming_them(sb):
    backend = sb.backends["eventgrid"]
    good = backend.fire("ModelRegistered", modelName="m", modelVersion="1")
    assert good["eventType"] == MODEL_REGISTERED and good["topic"] == WS
    with pytest.raises(ValueError) as err:
        backend.publish([good, {"topic": WS, "eventType": MODEL_REGISTERED, "subject": "models/x:1"}])
    assert "events[1]" in str(err.value) and "id" in str(err.value)
    with pytest.raises(ValueError) as err:
        backend.fire("ModelRegistered", modelName="only-a-name")
    assert "modelVersion" in str(err.value)


def test_cloudevents_topics_deliver_cloudevents_by_default_and_never_the_event_grid_schema(sb, endpoint):
    status, headers, body = call(sb, "PUT", f"{RG_ID}/providers/Microsoft.EventGrid/topics/ce-topic",
                                 {"location": "eastus", "properties": {"inputSchema": "CloudEventSchemaV1_0"}})
    assert status == 201
    finish(sb, headers)
    _, _, got, _ = create(sb, body["id"], "ce-default", webhook(endpoint.url))
    assert got["properties"]["eventDeliverySchema"] == "CloudEventSchemaV1_0"
    as_eg = webhook(endpoint.url)
    as_eg["properties"]["eventDeliverySchema"] = "EventGridSchema"
    status, _, answer = call(sb, "PUT", f"{body['id']}/providers/Microsoft.EventGrid/eventSubscriptions/ce-as-eg", as_eg)
    assert status == 400 and "properties.eventDeliverySchema" in answer["error"]["message"]


def test_fire_and_publish_name_what_is_wrong(sb):
    backend = sb.backends["eventgrid"]
    with pytest.raises(TypeError, match="event_type"):
        backend.fire(5)
    with pytest.raises(TypeError, match="data"):
        backend.fire("ModelRegistered", data=["not", "a", "dict"])
    with pytest.raises(ValueError, match="data.modelName: contains a lone surrogate"):
        backend.fire("ModelRegistered", modelName="\ud800", modelVersion="1")
    with pytest.raises(TypeError, match="events must be a list"):
        backend.publish(None)

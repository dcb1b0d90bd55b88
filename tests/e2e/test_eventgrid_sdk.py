"""Microsoft.EventGrid through the real azure-mgmt-eventgrid client, in-process and over HTTPS.

Shapes are checked against Azure's published examples (/work/shared/fixtures/arm/eventgrid): every
field an example answer has, the sandbox's answer has too. Webhooks are a stdlib HTTP server on
127.0.0.1 that completes the validation handshake, so the delivery engine posts to it for real.
"""

from __future__ import annotations

import io
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.core.credentials import AzureKeyCredential, AzureSasCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.eventgrid import EventGridEvent, EventGridPublisherClient, generate_sas
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import (
    DeliveryAttributeMapping, EventSubscription, EventSubscriptionFilter, EventSubscriptionUpdateParameters,
    NumberGreaterThanOrEqualsAdvancedFilter, RetryPolicy, StaticDeliveryAttributeMapping,
    StorageBlobDeadLetterDestination, StorageQueueEventSubscriptionDestination, StringInAdvancedFilter, SystemTopic,
    Topic, TopicRegenerateKeyRequest, WebHookEventSubscriptionDestination)

from amlevents_kit import connect, events

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
RAW = lambda pipeline_response, deserialized, headers: pipeline_response.http_response.json()  # noqa: E731


class Endpoint:
    """A webhook on 127.0.0.1 that echoes the validation code and records what it receives."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict, list]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                endpoint.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                out = b""
                if self.headers.get("aeg-event-type") == "SubscriptionValidation":
                    out = json.dumps({"validationResponse": body[0]["data"]["validationCode"]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/events"

    def notifications(self) -> list[dict]:
        return [ev for h, body in self.posts if h.get("aeg-event-type") == "Notification" for ev in body]


@pytest.fixture
def endpoint():
    e = Endpoint()
    yield e
    e.server.shutdown()


def missing_fields(expected, actual, path="") -> list[str]:
    """Paths present in Azure's example answer but absent (or of another JSON type) in ours."""
    out = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path} (not an object)"]
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}")
            elif value is not None and actual[key] is not None:
                out += missing_fields(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list) and expected:
        if not isinstance(actual, list):
            return [f"{path} (not an array)"]
        if actual:
            out += missing_fields(expected[0], actual[0], f"{path}[0]")
    elif expected is not None and type(expected) is not type(actual) and not (
            isinstance(expected, (int, float)) and isinstance(actual, (int, float))):
        out.append(f"{path} ({type(actual).__name__}, Azure: {type(expected).__name__})")
    return out


def example(fixtures_dir, name: str) -> dict:
    for version in ("2025-02-15", "2022-06-15", "2021-12-01"):
        path = fixtures_dir / "arm/eventgrid" / version / f"{name}.json"
        if path.exists():
            return json.loads(path.read_text())
    raise FileNotFoundError(name)


def guide_subscription(url: str) -> EventSubscription:
    """The guide's own subscription: ModelRegistered, subject begins with models/mymodelname."""
    return EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=url),
        filter=EventSubscriptionFilter(included_event_types=[MODEL_REGISTERED], subject_begins_with="models/mymodelname"))


# -- in-process ----------------------------------------------------------------------------------------

def test_guide_subscription_is_validated_and_delivers_only_matching_events(target, eg, endpoint):
    result = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "model-registered",
                                                           guide_subscription(endpoint.url)).result()
    assert result.provisioning_state == "Succeeded"
    assert result.topic == target.workspace_id
    assert result.destination.endpoint_base_url == endpoint.url
    assert [h["aeg-event-type"] for h, _ in endpoint.posts] == ["SubscriptionValidation"]
    backend = target.sandbox.backends["eventgrid"]
    wanted = backend.fire("ModelRegistered", modelName="mymodelname", modelVersion="1", modelTags={"stage": "prod"})
    backend.fire("ModelRegistered", modelName="another", modelVersion="1")
    target.sandbox.service("delivery").pump()
    got = endpoint.notifications()
    assert [e["id"] for e in got] == [wanted["id"]]
    headers = [h for h, _ in endpoint.posts if h["aeg-event-type"] == "Notification"][0]
    assert headers["aeg-subscription-name"] == "MODEL-REGISTERED"
    assert headers["content-type"].startswith("application/json")
    assert got[0]["topic"] == target.workspace_id and got[0]["subject"] == "models/mymodelname:1"


def test_advanced_filters_retry_dead_letter_and_headers_round_trip(target, eg, endpoint):
    storage = (f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
               "/providers/Microsoft.Storage/storageAccounts/amleventsstorage")
    sub = EventSubscription(
        destination=WebHookEventSubscriptionDestination(
            endpoint_url=endpoint.url, max_events_per_batch=10, preferred_batch_size_in_kilobytes=128,
            delivery_attribute_mappings=[StaticDeliveryAttributeMapping(name="x-team", value="ml", is_secret=False)]),
        filter=EventSubscriptionFilter(
            included_event_types=[MODEL_REGISTERED, "Microsoft.MachineLearningServices.DatasetDriftDetected"],
            advanced_filters=[StringInAdvancedFilter(key="data.modelTags.stage", values=["production"]),
                              NumberGreaterThanOrEqualsAdvancedFilter(key="data.driftCoefficient", value=0.5)]),
        retry_policy=RetryPolicy(max_delivery_attempts=5, event_time_to_live_in_minutes=60),
        dead_letter_destination=StorageBlobDeadLetterDestination(resource_id=storage, blob_container_name="deadletters"),
        labels=["lesson", "prod"])
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "advanced", sub).result()
    got = eg.event_subscriptions.get(target.workspace_id, "advanced")
    assert got.retry_policy.max_delivery_attempts == 5 and got.retry_policy.event_time_to_live_in_minutes == 60
    assert got.dead_letter_destination.blob_container_name == "deadletters"
    assert [f.operator_type for f in got.filter.advanced_filters] == ["StringIn", "NumberGreaterThanOrEquals"]
    assert got.destination.max_events_per_batch == 10 and got.labels == ["lesson", "prod"]
    attrs = eg.event_subscriptions.get_delivery_attributes(target.workspace_id, "advanced")
    assert [(a.name, a.value) for a in attrs.value] == [("x-team", "ml")]
    updated = eg.event_subscriptions.begin_update(
        target.workspace_id, "advanced", EventSubscriptionUpdateParameters(labels=["changed"])).result()
    assert updated.labels == ["changed"] and updated.retry_policy.max_delivery_attempts == 5


def test_errors_reach_the_sdk_with_status_and_code(target, eg, endpoint):
    bad = guide_subscription(endpoint.url)
    bad.retry_policy = RetryPolicy(max_delivery_attempts=40)
    with pytest.raises(HttpResponseError) as err:
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, "bad", bad)
    assert err.value.status_code == 400 and err.value.error.code == "InvalidRequest"
    assert "properties.retryPolicy.maxDeliveryAttempts" in err.value.error.message
    with pytest.raises(HttpResponseError) as err:
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, "public",
                                                      guide_subscription("https://example.com/hook"))
    assert err.value.status_code == 400 and "127.0.0.1" in err.value.error.message
    with pytest.raises(ResourceNotFoundError):
        eg.event_subscriptions.get(target.workspace_id, "nothing-here")


def test_failed_handshake_fails_the_poller(target, eg):
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there any more
    poller = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "dead",
                                                           guide_subscription(f"http://127.0.0.1:{port}/x"))
    with pytest.raises(HttpResponseError) as err:
        poller.result()
    assert "Webhook validation handshake failed" in str(err.value)
    assert eg.event_subscriptions.get(target.workspace_id, "dead").provisioning_state == "Failed"


def test_delete_and_lists(target, eg, endpoint):
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "one", guide_subscription(endpoint.url)).result()
    eg.event_subscriptions.begin_create_or_update(
        f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}", "on-group",
        guide_subscription(endpoint.url).__class__(
            destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint.url))).result()
    by_ws = eg.event_subscriptions.list_by_resource(target.resource_group, "Microsoft.MachineLearningServices",
                                                    "workspaces", target.workspace_name)
    assert [s.name for s in by_ws] == ["one"]
    assert [s.name for s in eg.event_subscriptions.list_global_by_resource_group(target.resource_group)] == ["on-group"]
    assert [s.name for s in eg.event_subscriptions.list_regional_by_subscription(target.location)] == ["one"]
    assert [s.name for s in eg.event_subscriptions.list_global_by_subscription_for_topic_type(
        "Microsoft.Resources.ResourceGroups")] == ["on-group"]
    eg.event_subscriptions.begin_delete(target.workspace_id, "one").result()
    assert [s.name for s in eg.event_subscriptions.list_by_resource(
        target.resource_group, "Microsoft.MachineLearningServices", "workspaces", target.workspace_name)] == []


def test_system_topic_for_the_workspace(target, eg, endpoint):
    topic = eg.system_topics.begin_create_or_update(
        target.resource_group, "ws-events",
        SystemTopic(location=target.location, source=target.workspace_id,
                    topic_type="Microsoft.MachineLearningServices.Workspaces")).result()
    assert topic.source == target.workspace_id and topic.provisioning_state == "Succeeded"
    eg.system_topic_event_subscriptions.begin_create_or_update(
        target.resource_group, "ws-events", "via-topic", guide_subscription(endpoint.url)).result()
    subs = eg.system_topic_event_subscriptions.list_by_system_topic(target.resource_group, "ws-events")
    assert [s.name for s in subs] == ["via-topic"]
    url = eg.system_topic_event_subscriptions.get_full_url(target.resource_group, "ws-events", "via-topic")
    assert url.endpoint_url == endpoint.url
    target.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="mymodelname", modelVersion="7")
    target.sandbox.service("delivery").pump()
    assert [e["subject"] for e in endpoint.notifications()] == ["models/mymodelname:7"]
    eg.system_topics.begin_delete(target.resource_group, "ws-events").result()
    assert [t.name for t in eg.system_topics.list_by_resource_group(target.resource_group)] == []


# -- shapes against Azure's examples ---------------------------------------------------------------------

def test_answers_have_the_fields_of_azures_examples(target, eg, endpoint, fixtures_dir):
    ws, rg, sub_scope = target.workspace_id, target.resource_group, f"/subscriptions/{target.subscription_id}"
    eg.event_subscriptions.begin_create_or_update(ws, "examplesubscription10", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint.url),
        filter=EventSubscriptionFilter(subject_begins_with="ExamplePrefix", subject_ends_with="ExampleSuffix"))).result()
    eg.event_subscriptions.begin_create_or_update(sub_scope, "examplesubscription3", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint.url), labels=["label1"])).result()
    eg.event_subscriptions.begin_create_or_update(f"{sub_scope}/resourceGroups/{rg}", "examplesubscription2",
        EventSubscription(destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint.url))).result()
    eg.topics.begin_create_or_update(rg, "exampletopic1", Topic(location=target.location)).result()
    topic_id = eg.topics.get(rg, "exampletopic1").id
    queue = StorageQueueEventSubscriptionDestination(
        resource_id=f"{sub_scope}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/contosostg",
        queue_name="queue1")
    dead = StorageBlobDeadLetterDestination(
        resource_id=f"{sub_scope}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/contosostg",
        blob_container_name="contosocontainer")
    eg.event_subscriptions.begin_create_or_update(topic_id, "examplesubscription1", EventSubscription(
        destination=queue, dead_letter_destination=dead, labels=["label1", "label2"])).result()
    eg.system_topics.begin_create_or_update(rg, "exampleSystemTopic2", SystemTopic(
        location=target.location, source=ws, topic_type="Microsoft.MachineLearningServices.Workspaces")).result()
    eg.system_topic_event_subscriptions.begin_create_or_update(rg, "exampleSystemTopic2", "examplesubscription1",
        EventSubscription(destination=queue, labels=["label1"],
                          filter=EventSubscriptionFilter(included_event_types=[MODEL_REGISTERED]))).result()

    answers = {
        "EventSubscriptions_CreateOrUpdateForResource": eg.event_subscriptions.get(ws, "examplesubscription10", cls=RAW),
        "EventSubscriptions_GetForSubscription": eg.event_subscriptions.get(sub_scope, "examplesubscription3", cls=RAW),
        "EventSubscriptions_CreateOrUpdateForSubscription":
            eg.event_subscriptions.get(sub_scope, "examplesubscription3", cls=RAW),
        "EventSubscriptions_CreateOrUpdateForCustomTopic_StorageQueueDestination":
            eg.event_subscriptions.get(topic_id, "examplesubscription1", cls=RAW),
        "EventSubscriptions_GetFullUrlForResourceGroup":
            eg.event_subscriptions.get_full_url(f"{sub_scope}/resourceGroups/{rg}", "examplesubscription2", cls=RAW),
        "SystemTopics_Get": eg.system_topics.get(rg, "exampleSystemTopic2", cls=RAW),
        "SystemTopicEventSubscriptions_Get": eg.system_topic_event_subscriptions.get(
            rg, "exampleSystemTopic2", "examplesubscription1", cls=RAW),
    }
    eg.event_subscriptions.begin_create_or_update(topic_id, "examplesubscription2", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint.url))).result()
    listed = eg.event_subscriptions.list_by_resource(rg, "Microsoft.EventGrid", "topics", "exampletopic1")
    assert [s.name for s in listed] == ["examplesubscription1", "examplesubscription2"]
    answers["EventSubscriptions_ListByResource"] = {
        "value": [eg.event_subscriptions.get(topic_id, "examplesubscription2", cls=RAW)]}
    for name, ours in answers.items():
        azure = example(fixtures_dir, name)["responses"]
        expected = azure.get("200", azure.get("201"))["body"]
        assert missing_fields(expected, ours) == [], name
    assert answers["SystemTopics_Get"]["properties"]["topicType"] == "Microsoft.MachineLearningServices.Workspaces"


def test_list_answers_have_the_fields_of_azures_examples(target, eg, endpoint, fixtures_dir, sandbox):
    rg_scope = f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
    eg.event_subscriptions.begin_create_or_update(rg_scope, "examplesubscription2", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint.url))).result()
    raw = {}
    for op, path in (("EventSubscriptions_ListGlobalBySubscription",
                      f"/subscriptions/{target.subscription_id}/providers/Microsoft.EventGrid/eventSubscriptions"),
                     ("EventSubscriptions_ListGlobalByResourceGroup",
                      f"{rg_scope}/providers/Microsoft.EventGrid/eventSubscriptions"),
                     ("EventSubscriptions_ListGlobalByResourceGroupForTopicType",
                      f"{rg_scope}/providers/Microsoft.EventGrid/topicTypes/Microsoft.Resources.ResourceGroups/"
                      "eventSubscriptions")):
        status, _, body = sandbox.handle("GET", f"https://management.azure.com{path}?api-version=2025-02-15", {}, b"")
        assert status == 200
        raw[op] = json.loads(body)
    for name, ours in raw.items():
        expected = example(fixtures_dir, name)["responses"]["200"]["body"]
        assert missing_fields(expected, ours) == [], name
    assert [s.name for s in eg.event_subscriptions.list_global_by_subscription()] == ["examplesubscription2"]


# -- over the sandbox's HTTPS server ------------------------------------------------------------------

def test_over_https_same_calls_same_answers(target, eg, endpoint):
    info = target.serve()
    remote = connect(url=info["base_url"], ca_path=info["ca_path"]).client(EventGridManagementClient)
    created = remote.event_subscriptions.begin_create_or_update(
        target.workspace_id, "over-https", guide_subscription(endpoint.url)).result()
    assert created.provisioning_state == "Succeeded"
    assert eg.event_subscriptions.get(target.workspace_id, "over-https").id == created.id
    with pytest.raises(HttpResponseError) as err:
        remote.event_subscriptions.begin_create_or_update(target.workspace_id, "bad-type", EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint.url),
            filter=EventSubscriptionFilter(included_event_types=["Not.A.Type"])))
    assert err.value.status_code == 400 and "properties.filter.includedEventTypes" in err.value.error.message
    remote.event_subscriptions.begin_delete(target.workspace_id, "over-https").result()
    assert [s.name for s in remote.event_subscriptions.list_regional_by_subscription(target.location)] == []


def test_publisher_client_sends_to_a_custom_topic_with_key_and_sas(target, eg, endpoint):
    topic = eg.topics.begin_create_or_update(target.resource_group, "lesson-orders",
                                             Topic(location=target.location)).result()
    ca = target.serve()["ca_path"]
    assert topic.endpoint.startswith("https://127.0.0.1:") and topic.endpoint.endswith("/api/events")
    eg.event_subscriptions.begin_create_or_update(topic.id, "all-orders", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint.url),
        filter=EventSubscriptionFilter(subject_begins_with="orders/"))).result()
    keys = eg.topics.list_shared_access_keys(target.resource_group, "lesson-orders")
    client = EventGridPublisherClient(topic.endpoint, AzureKeyCredential(keys.key1))
    client.send([EventGridEvent(subject="orders/1", event_type="Contoso.OrderPlaced", data={"n": 1},
                                data_version="1.0"),
                 EventGridEvent(subject="refunds/1", event_type="Contoso.Refund", data={}, data_version="1.0")],
                connection_verify=ca)
    sas = generate_sas(topic.endpoint, keys.key2, datetime.now(timezone.utc) + timedelta(hours=1))
    EventGridPublisherClient(topic.endpoint, AzureSasCredential(sas)).send(
        [EventGridEvent(subject="orders/2", event_type="Contoso.OrderPlaced", data={}, data_version="1.0")],
        connection_verify=ca)
    target.sandbox.service("delivery").pump()
    assert [e["subject"] for e in endpoint.notifications()] == ["orders/1", "orders/2"]
    assert endpoint.notifications()[0]["topic"] == topic.id
    eg.topics.begin_regenerate_key(target.resource_group, "lesson-orders",
                                   TopicRegenerateKeyRequest(key_name="key1")).result()
    with pytest.raises(HttpResponseError) as err:
        client.send([EventGridEvent(subject="orders/3", event_type="T", data={}, data_version="1")],
                    connection_verify=ca)
    assert err.value.status_code == 401


def test_custom_topic_subscriptions_in_the_nested_form_and_topic_updates(target, eg, endpoint):
    from azure.mgmt.eventgrid.models import TopicUpdateParameters
    topic = eg.topics.begin_create_or_update(target.resource_group, "lesson-nested", Topic(
        location=target.location, tags={"a": "1"})).result()
    created = eg.topic_event_subscriptions.begin_create_or_update(
        target.resource_group, "lesson-nested", "nested-sub", EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint.url))).result()
    assert created.id == f"{topic.id}/eventSubscriptions/nested-sub"
    assert created.type == "Microsoft.EventGrid/topics/eventSubscriptions"
    # the same subscription, seen through the scope form
    assert eg.event_subscriptions.get(topic.id, "nested-sub").topic == topic.id
    listed = eg.topic_event_subscriptions.list(target.resource_group, "lesson-nested")
    assert [s.name for s in listed] == ["nested-sub"]
    assert eg.topic_event_subscriptions.get_full_url(target.resource_group, "lesson-nested",
                                                     "nested-sub").endpoint_url == endpoint.url
    updated = eg.topics.begin_update(target.resource_group, "lesson-nested",
                                     TopicUpdateParameters(tags={"b": "2"})).result()
    assert updated.tags == {"b": "2"} and updated.endpoint == topic.endpoint
    eg.topic_event_subscriptions.begin_delete(target.resource_group, "lesson-nested", "nested-sub").result()
    assert [s.name for s in eg.topic_event_subscriptions.list(target.resource_group, "lesson-nested")] == []
    eg.topics.begin_delete(target.resource_group, "lesson-nested").result()
    assert [t.name for t in eg.topics.list_by_resource_group(target.resource_group)] == []


def test_topic_types_through_the_sdk(eg):
    names = [t.name for t in eg.topic_types.list()]
    assert "Microsoft.MachineLearningServices.Workspaces" in names
    types = [t.name for t in eg.topic_types.list_event_types("Microsoft.MachineLearningServices.Workspaces")]
    assert types == list(events.ALL_AML_EVENT_TYPES)

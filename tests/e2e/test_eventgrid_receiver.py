"""The EventGrid provider with the kit's own receiver: both handshakes, CloudEvents output, AzureFunction
destinations, queues, the workflow a learner follows in lesson 02 (through EventGridManagementClient)."""

from __future__ import annotations

from azure.mgmt.eventgrid.models import (AzureFunctionEventSubscriptionDestination, EventSubscription,
                                         EventSubscriptionFilter, StorageQueueEventSubscriptionDestination,
                                         WebHookEventSubscriptionDestination)

from amlevents_kit import events
from amlevents_kit.receiver import Receiver


def test_cloudevents_subscription_uses_the_options_handshake_and_delivers_cloudevents(target, eg, receiver):
    seen = []
    receiver.on(events.MODEL_REGISTERED)(lambda event: seen.append((event.schema, event.source, event.subject)))
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "as-cloudevents", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
        event_delivery_schema="CloudEventSchemaV1_0")).result()
    assert [d.kind for d in receiver.deliveries] == ["OPTIONS"]
    target.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="m", modelVersion="1")
    target.sandbox.service("delivery").pump()
    assert seen == [(events.CLOUDEVENT_SCHEMA, target.workspace_id, "models/m:1")]
    assert receiver.notifications()[0].headers["content-type"].startswith("application/cloudevents+json")


def test_manual_validation_then_delivery(target, eg):
    manual = Receiver(auto_validate=False).start()
    try:
        created = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "manual", EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=manual.url))).result()
        assert created.provisioning_state == "AwaitingManualAction"
        target.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="early", modelVersion="1")
        target.sandbox.service("delivery").pump()
        assert manual.notifications() == []  # no event reaches an endpoint that has not validated
        import requests
        answer = requests.get(manual.validation_urls[0], verify=target.serve()["ca_path"], timeout=10)
        assert answer.status_code == 200
        assert eg.event_subscriptions.get(target.workspace_id, "manual").provisioning_state == "Succeeded"
        target.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="late", modelVersion="1")
        target.sandbox.service("delivery").pump()
        assert [e.subject for d in manual.notifications() for e in d.events] == ["models/late:1"]
    finally:
        manual.stop()


def test_azure_function_destination_reaches_the_registered_local_function(target, eg, receiver):
    function_id = (f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
                   "/providers/Microsoft.Web/sites/lesson-app/functions/on_model")
    receiver.register_function(target, function_id)
    created = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "to-function", EventSubscription(
        destination=AzureFunctionEventSubscriptionDestination(resource_id=function_id))).result()
    assert created.provisioning_state == "Succeeded" and created.destination.resource_id == function_id
    target.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="f", modelVersion="1")
    target.sandbox.service("delivery").pump()
    assert [e.subject for d in receiver.notifications() for e in d.events] == ["models/f:1"]


def test_storage_queue_destination_needs_no_handshake_and_fills_a_local_queue(target, eg):
    account = (f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
               "/providers/Microsoft.Storage/storageAccounts/amleventsstorage")
    created = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "to-queue", EventSubscription(
        destination=StorageQueueEventSubscriptionDestination(resource_id=account, queue_name="model-events"),
        filter=EventSubscriptionFilter(included_event_types=[events.MODEL_REGISTERED]))).result()
    assert created.provisioning_state == "Succeeded"
    fired = target.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="q", modelVersion="1")
    target.sandbox.service("delivery").pump()
    messages = target.sandbox.service("delivery").queue_messages("model-events")
    assert len(messages) == 1 and fired["id"] in str(messages[0])


def test_deleting_drops_pending_deliveries(target, eg, receiver):
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "short-lived", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url))).result()
    receiver.fail_with(500)
    fired = target.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="x", modelVersion="1")
    engine = target.sandbox.service("delivery")
    engine.pump()
    assert engine.deliveries(event_id=fired["id"])[0]["state"] == "pending"
    eg.event_subscriptions.begin_delete(target.workspace_id, "short-lived").result()
    d = engine.deliveries(event_id=fired["id"])[0]
    assert (d["state"], d["reason"]) == ("dropped", "subscription deleted")


def test_cloudevents_topic_takes_cloudevents_from_the_publisher_client(target, eg, receiver):
    from azure.core.credentials import AzureKeyCredential
    from azure.core.messaging import CloudEvent
    from azure.eventgrid import EventGridPublisherClient
    from azure.mgmt.eventgrid.models import Topic
    seen = []
    receiver.on("Contoso.Retrain")(lambda event: seen.append((event.schema, event.source, event.subject)))
    topic = eg.topics.begin_create_or_update(target.resource_group, "lesson-ce", Topic(
        location=target.location, input_schema="CloudEventSchemaV1_0")).result()
    eg.event_subscriptions.begin_create_or_update(topic.id, "ce-out", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
        event_delivery_schema="CloudEventSchemaV1_0")).result()
    key = eg.topics.list_shared_access_keys(target.resource_group, "lesson-ce").key1
    EventGridPublisherClient(topic.endpoint, AzureKeyCredential(key)).send(
        [CloudEvent(source="/contoso/retrainer", type="Contoso.Retrain", subject="models/churn", data={"why": "drift"})],
        connection_verify=target.serve()["ca_path"])
    target.sandbox.service("delivery").pump()
    assert seen == [(events.CLOUDEVENT_SCHEMA, "/contoso/retrainer", "models/churn")]

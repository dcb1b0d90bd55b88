"""The delivery engine follows the subscription as it is now, through the real EventGridManagementClient.

- Waiting deliveries follow the subscription as it is now: its endpoint, retry policy and validation,
  and end as dropped when the subscription is gone.
- An Azure-resource destination's 401 waits at least 5 minutes (a webhook's is never retried).
- A delivery taken back after a crash counts the interrupted attempt.
- Local queues are told apart by their destination's resource id, not by their bare name.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.eventgrid.models import (AzureFunctionEventSubscriptionDestination, EventHubEventSubscriptionDestination,
                                         EventSubscription, EventSubscriptionFilter, EventSubscriptionUpdateParameters, RetryPolicy,
                                         StorageQueueEventSubscriptionDestination,
                                         WebHookEventSubscriptionDestination)
from azure.mgmt.resource.resources import ResourceManagementClient

from amlevents_kit import events
from amlevents_kit.receiver import Receiver
from amlevents_kit.sandbox.delivery import policy
from amlevents_kit.sandbox.delivery.engine import HELD_REASON


@pytest.fixture
def second():
    """Another webhook receiver: the endpoint a subscription is moved to."""
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def engine(target, eg):
    target.sandbox.clock.freeze()
    return target.sandbox.service("delivery")


def webhook(url: str, **kwargs) -> EventSubscription:
    return EventSubscription(destination=WebHookEventSubscriptionDestination(endpoint_url=url), **kwargs)


def fire(target, name: str = "churn") -> dict:
    return target.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName=name, modelVersion="1")


def advance(target, engine, seconds: float) -> None:
    target.sandbox.clock.advance(seconds=seconds)
    engine.pump()


def entry(engine, event: dict) -> dict:
    (found,) = engine.deliveries(event_id=event["id"])
    return found


# -- 1. waiting deliveries follow the subscription as it is now --------------------------------------------

def test_a_retry_goes_to_the_endpoint_the_subscription_has_now(target, eg, engine, receiver, second):
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "moved", webhook(receiver.url)).result()
    receiver.fail_with(500)
    event = fire(target)
    engine.pump()
    assert len(receiver.notifications()) == 1
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "moved", webhook(second.url)).result()
    advance(target, engine, 10)
    assert len(receiver.notifications()) == 1, "the old endpoint was called again"
    assert [e.id for e in second.received] == [event["id"]]
    assert [a["attempt"] for a in engine.log(event_id=event["id"])] == [1, 2]


def test_a_retry_follows_the_retry_policy_the_subscription_has_now(target, eg, engine, receiver):
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "policy", webhook(receiver.url)).result()
    receiver.fail_with(500)
    event = fire(target)
    engine.pump()
    eg.event_subscriptions.begin_update(target.workspace_id, "policy", EventSubscriptionUpdateParameters(
        retry_policy=RetryPolicy(max_delivery_attempts=2, event_time_to_live_in_minutes=1440))).result()
    advance(target, engine, 10)
    found = entry(engine, event)
    assert (found["state"], found["delivery_attempts"], found["reason"]) == ("dropped", 2, policy.MAX_ATTEMPTS_EXCEEDED)
    advance(target, engine, 3600)
    assert len(receiver.notifications()) == 2


def test_a_retry_waits_while_the_new_endpoint_is_validated_then_goes_there(target, eg, engine, receiver):
    manual = Receiver(auto_validate=False).start()
    try:
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, "manual", webhook(receiver.url)).result()
        receiver.fail_with(500)
        event = fire(target)
        engine.pump()
        moved = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "manual",
                                                              webhook(manual.url)).result()
        assert moved.provisioning_state == "AwaitingManualAction"
        advance(target, engine, 10)
        found = entry(engine, event)
        assert (found["state"], found["delivery_attempts"], found["reason"]) == ("pending", 1, HELD_REASON)
        assert manual.notifications() == [] and len(receiver.notifications()) == 1
        (validation,) = [d for d in manual.deliveries if d.kind == "SubscriptionValidation"]
        assert target.sandbox.handle("GET", validation.events[0].data.validation_url, {}, b"")[0] == 200
        engine.pump()  # validated: the waiting delivery goes at once, to the new endpoint
        assert [e.id for e in manual.received] == [event["id"]]
        found = entry(engine, event)
        assert (found["state"], found["delivery_attempts"], found["reason"]) == ("delivered", 2, None)
    finally:
        manual.stop()


def test_a_retry_is_dropped_when_the_new_endpoint_fails_the_handshake(target, eg, engine, receiver):
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "broken", webhook(receiver.url)).result()
    receiver.fail_with(500)
    event = fire(target)
    engine.pump()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/api/events"
    with pytest.raises(HttpResponseError, match="Webhook validation handshake failed"):
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, "broken", webhook(closed)).result()
    advance(target, engine, 10)
    found = entry(engine, event)
    assert found["state"] == "dropped" and found["reason"].startswith("EndpointNotValidated"), found["reason"]
    assert len(receiver.notifications()) == 1


def test_a_retry_for_a_subscription_deleted_with_its_resource_group_is_dropped(target, eg, engine, receiver):
    rm = target.client(ResourceManagementClient)
    rm.resource_groups.create_or_update("lesson-temp-rg", {"location": target.location})
    group = f"/subscriptions/{target.subscription_id}/resourceGroups/lesson-temp-rg"
    eg.event_subscriptions.begin_create_or_update(group, "on-group", webhook(receiver.url)).result()
    receiver.fail_with(500)
    event = events.build_event("Microsoft.Resources.ResourceWriteSuccess", topic=group, subject="/whatever",
                               data={"operationName": "Microsoft.Storage/storageAccounts/write"})
    target.sandbox.publish([event])
    engine.pump()
    assert len(receiver.notifications()) == 1
    rm.resource_groups.begin_delete("lesson-temp-rg").result()
    advance(target, engine, 10)
    found = entry(engine, event)
    assert found["state"] == "dropped" and found["reason"].startswith("subscription deleted"), found["reason"]
    assert len(receiver.notifications()) == 1
    assert engine.stats()["pending"] == 0


# -- 6. an Azure resource's 401 waits 5 minutes --------------------------------------------------------------

def test_policy_retries_an_azure_resources_401_after_5_minutes_and_never_a_webhooks():
    function = policy.Settings(id="/x", name="x", destination_type="AzureFunction")
    webhook_ = policy.Settings(id="/x", name="x", destination_type="WebHook")
    assert policy.decide(function, 1, 401, None, 1000.0, 1000.0) == policy.Decision("retry", at=1300.0)
    assert policy.decide(webhook_, 1, 401, None, 1000.0, 1000.0).kind == "give_up"
    assert policy.retry_delay(1, 401, "AzureFunction") == 300 and policy.retry_delay(6, 401, "AzureFunction") == 1800
    assert policy.retry_delay(1, 500, "AzureFunction") == 10


def test_an_azure_function_answering_401_is_tried_again_after_5_minutes(target, eg, engine, receiver):
    function_id = (f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
                   "/providers/Microsoft.Web/sites/lesson-app/functions/on_event")
    receiver.register_function(target, function_id)
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "function", EventSubscription(
        destination=AzureFunctionEventSubscriptionDestination(resource_id=function_id))).result()
    receiver.fail_with(401)
    event = fire(target)
    engine.pump()
    advance(target, engine, 10)
    advance(target, engine, 280)
    assert len(receiver.notifications()) == 1, "retried before 5 minutes"
    assert entry(engine, event)["state"] == "pending"
    receiver.recover()
    advance(target, engine, 10)
    assert [e.id for e in receiver.received] == [event["id"]]
    assert [a["status"] for a in engine.log(event_id=event["id"])] == [401, 200]


# -- 8. a delivery taken back after a crash counts the interrupted attempt ------------------------------------

def dead_owner() -> str:
    """A lease owner on this machine whose process has exited."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return f"{socket.gethostname()}:{int(proc.stdout)}:dead0000"


def test_the_resend_after_a_crash_is_a_later_attempt_with_a_higher_delivery_count(target, eg, engine, receiver):
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "crash", webhook(receiver.url)).result()
    engine.stop()  # no background worker: this test plays the engine that died
    event = fire(target)
    items, _ = engine.outbox.claim(dead_owner(), target.sandbox.clock.now(), 60, 10)
    assert [i.event_id for i in items] == [event["id"]]
    assert engine.outbox.recover(engine.owner, target.sandbox.clock.now()) == 1
    engine.pump()
    log = engine.log(event_id=event["id"])
    assert [(a["attempt"], a["outcome"]) for a in log] == [(1, "Interrupted"), (2, "Delivered")]
    (delivery,) = receiver.notifications()
    assert delivery.headers["aeg-delivery-count"] == "1"  # the attempts made before this one
    assert entry(engine, event)["delivery_attempts"] == 2
    assert engine.stats()["duplicates"] == 1


# -- 9. local queues are keyed by the destination's resource id ---------------------------------------------

def storage_queue(target, account: str, queue: str) -> StorageQueueEventSubscriptionDestination:
    return StorageQueueEventSubscriptionDestination(
        resource_id=f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}/providers"
                    f"/Microsoft.Storage/storageAccounts/{account}", queue_name=queue)


def test_same_named_queues_in_two_accounts_stay_apart(target, eg, engine):
    for n, account in enumerate(("accountone", "accounttwo")):
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, f"queue-{n}", EventSubscription(
            destination=storage_queue(target, account, "events"))).result()
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "queue-other", EventSubscription(
        destination=storage_queue(target, "accountone", "others"))).result()
    event = fire(target)
    engine.pump()
    one = storage_queue(target, "accountone", "events").resource_id + "/queueServices/default/queues/events"
    two = storage_queue(target, "accounttwo", "events").resource_id + "/queueServices/default/queues/events"
    with pytest.raises(ValueError, match="names 2 queues") as err:
        engine.queue_messages("events")
    assert one in str(err.value) and two in str(err.value)
    (msg,) = engine.queue_messages(one)
    assert msg["body"]["id"] == event["id"] and msg["destination_id"] == one and msg["queue"] == "events"
    assert [m["destination_id"] for m in engine.queue_messages(two.upper())] == [two]  # ARM ids ignore case
    assert len(engine.queue_messages("others")) == 1  # a name only one queue has still reads it
    locations = {d["subscription"]: d["location"] for d in engine.deliveries(event_id=event["id"])}
    assert locations["queue-0"] == f"StorageQueue:{one}" and locations["queue-1"] == f"StorageQueue:{two}"


def test_same_named_event_hubs_in_two_namespaces_stay_apart(target, eg, engine):
    hubs = [f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}/providers"
            f"/Microsoft.EventHub/namespaces/{ns}/eventhubs/aml" for ns in ("ns-one", "ns-two")]
    for n, hub in enumerate(hubs):
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, f"hub-{n}", EventSubscription(
            destination=EventHubEventSubscriptionDestination(resource_id=hub))).result()
    fire(target)
    engine.pump()
    assert [len(engine.queue_messages(hub)) for hub in hubs] == [1, 1]
    with pytest.raises(ValueError, match="names 2 queues"):
        engine.queue_messages("aml")


def test_events_no_subscription_wants_are_counted_as_unmatched(target, eg, engine, receiver):
    """Event Grid's 'Unmatched Events': accepted, delivered nowhere, and still accounted for."""
    assert engine.stats()["unmatched"] == 0
    fire(target)  # no subscription yet
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "only-deployed", webhook(
        receiver.url, filter=EventSubscriptionFilter(included_event_types=[events.MODEL_DEPLOYED]))).result()
    fire(target)  # still nobody wants ModelRegistered
    target.sandbox.backends["eventgrid"].fire("ModelDeployed", serviceName="ep", modelIds="m:1",
                                              serviceComputeType="Managed")
    engine.pump()
    stats = engine.stats()
    assert (stats["unmatched"], stats["published"], stats["delivered"]) == (2, 1, 1)
    one = engine.stats(f"{target.workspace_id}/providers/Microsoft.EventGrid/eventSubscriptions/only-deployed")
    assert "unmatched" not in one and one["delivered"] == 1

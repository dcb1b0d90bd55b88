"""Review fixes in the delivery engine, through the real EventGridManagementClient.

- An Azure-resource destination's 401 waits at least 5 minutes (a webhook's is never retried).
- A delivery taken back after a crash counts the interrupted attempt.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.eventgrid.models import (AzureFunctionEventSubscriptionDestination, EventHubEventSubscriptionDestination,
                                         EventSubscription, EventSubscriptionUpdateParameters, RetryPolicy,
                                         StorageQueueEventSubscriptionDestination,
                                         WebHookEventSubscriptionDestination)
from azure.mgmt.resource.resources import ResourceManagementClient

from amlevents_kit import events
from amlevents_kit.receiver import Receiver
from amlevents_kit.sandbox.delivery import policy


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

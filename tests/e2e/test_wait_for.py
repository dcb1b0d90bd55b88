"""``Target.wait_for``: the lessons' one way to wait for something an event causes, on both targets."""

from __future__ import annotations

import time

import pytest
from azure.mgmt.eventgrid.models import EventSubscription, EventSubscriptionFilter, WebHookEventSubscriptionDestination

from amlevents_kit import events, fire
from amlevents_kit.target import AzureTarget


def test_sandbox_wait_for_drives_the_delivery_engine(target, eg, rx):
    received = []
    rx.on(events.MODEL_REGISTERED)(lambda e: received.append(e.subject))
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "waits", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=rx.url),
        filter=EventSubscriptionFilter(included_event_types=[events.MODEL_REGISTERED]))).result()
    # With the background worker stopped, only wait_for's own pumping can deliver the event.
    target.sandbox.service("delivery").stop()
    fire(target, "ModelRegistered", modelName="m", modelVersion="1")
    time.sleep(0.3)
    assert received == []
    assert target.wait_for(lambda: received, timeout=30) == ["models/m:1"]


def test_wait_for_returns_the_first_true_value_and_times_out_with_a_clear_error(target):
    looks = iter([None, [], {"found": 1}])
    assert target.wait_for(lambda: next(looks), timeout=5) == {"found": 1}
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"wait_for: nothing came within 0.2 s"):
        target.wait_for(lambda: False, timeout=0.2)
    assert time.monotonic() - started < 5


def test_azure_wait_for_only_polls_at_its_interval():
    """No Azure tenant here: an AzureTarget with no credential is enough, wait_for makes no call."""
    azure = AzureTarget(kind="azure", credential=None, subscription_id="s", resource_group="rg", workspace_name="ws")
    calls = []
    started = time.monotonic()
    assert azure.wait_for(lambda: calls.append(time.monotonic()) or len(calls) == 3, interval=0.1) is True
    assert len(calls) == 3 and time.monotonic() - started >= 0.2

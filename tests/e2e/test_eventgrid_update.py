"""Updating a subscription the way `az eventgrid event-subscription update` does, and event-type casing."""

from __future__ import annotations

import pytest
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import (EventSubscription, EventSubscriptionFilter,
                                         EventSubscriptionUpdateParameters, WebHookEventSubscriptionDestination)

from amlevents_kit import ensure_providers, fire


@pytest.fixture
def eg(target):
    """Unlike the shared ``eg``: registers both providers the way a lesson does (ensure_providers)."""
    ensure_providers(target, quiet=True)
    return target.client(EventGridManagementClient)


def test_patch_without_endpoint_url_keeps_the_stored_one(target, eg, receiver):
    """GET hides endpointUrl, so a client that sends the destination back cannot include it."""
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "patched", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url))).result()
    update = EventSubscriptionUpdateParameters(
        destination=WebHookEventSubscriptionDestination(max_events_per_batch=1, preferred_batch_size_in_kilobytes=64),
        filter=EventSubscriptionFilter(subject_begins_with="models/keep"))
    updated = eg.event_subscriptions.begin_update(target.workspace_id, "patched", update).result()
    assert updated.filter.subject_begins_with == "models/keep"
    assert eg.event_subscriptions.get_full_url(target.workspace_id, "patched").endpoint_url == receiver.url
    fire(target, "ModelRegistered", modelName="keep-me", modelVersion="1")
    fire(target, "ModelRegistered", modelName="other", modelVersion="1")
    target.sandbox.service("delivery").pump()
    assert [e.subject for d in receiver.notifications() for e in d.events] == ["models/keep-me:1"]


def test_event_types_are_stored_as_azure_spells_them(target, eg, receiver):
    created = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "lowercase", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
        filter=EventSubscriptionFilter(included_event_types=["microsoft.machinelearningservices.modelregistered"]),
    )).result()
    assert created.filter.included_event_types == ["Microsoft.MachineLearningServices.ModelRegistered"]
    fire(target, "ModelRegistered", modelName="m", modelVersion="1")
    target.sandbox.service("delivery").pump()
    assert len(receiver.notifications()) == 1

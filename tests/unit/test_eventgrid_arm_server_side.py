"""Microsoft.EventGrid server-side behaviour, through the real SDK clients.

- The validation handshake starts when a PUT/PATCH is accepted, as on Azure: a client that never polls
  the operation (curl, ``az rest``, ``polling=False``) still gets a validated subscription.
- NaN and Infinity in a request body are a 400 naming the field.
- A bearer token on a custom topic publish is 501 SandboxNotImplemented, not a 401 asking for a key.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from azure.core.credentials import AccessToken, AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.eventgrid import EventGridEvent, EventGridPublisherClient
from azure.mgmt.eventgrid.models import (EventSubscription, EventSubscriptionFilter, EventSubscriptionUpdateParameters,
                                         NumberGreaterThanAdvancedFilter, NumberInAdvancedFilter, Topic,
                                         WebHookEventSubscriptionDestination)

from amlevents_kit.sandbox.providers.eventgrid.models import SANDBOX_KEY

API = "2025-02-15"


def webhook(url: str, **kwargs) -> EventSubscription:
    return EventSubscription(destination=WebHookEventSubscriptionDestination(endpoint_url=url), **kwargs)


def settled(eg, scope: str, name: str, timeout: float = 15.0):
    """GET the subscription until it leaves Creating/Updating (the handshake runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        got = eg.event_subscriptions.get(scope, name)
        if got.provisioning_state not in ("Creating", "Updating") or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/api/events"


# -- 3. the handshake starts server-side --------------------------------------------------------------------

def test_a_put_that_is_never_polled_is_still_validated(target, eg, receiver):
    poller = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "raw-put", webhook(receiver.url),
                                                           polling=False)
    assert poller.done()  # no polling at all: the PUT's answer is all the client sees
    got = settled(eg, target.workspace_id, "raw-put")
    assert got.provisioning_state == "Succeeded"
    assert [d.kind for d in receiver.deliveries] == ["SubscriptionValidation"]
    target.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="m", modelVersion="1")
    target.sandbox.service("delivery").pump()
    assert len(receiver.received) == 1


def test_a_patch_that_is_never_polled_revalidates_the_new_endpoint(target, eg, receiver):
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "raw-patch", webhook(closed_port_url()),
                                                  polling=False)
    assert settled(eg, target.workspace_id, "raw-patch").provisioning_state == "Failed"
    eg.event_subscriptions.begin_update(target.workspace_id, "raw-patch", EventSubscriptionUpdateParameters(
        destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url)), polling=False)
    assert settled(eg, target.workspace_id, "raw-patch").provisioning_state == "Succeeded"


def test_a_raw_put_over_the_wire_is_validated_without_polling(target, sandbox, receiver):
    target.sandbox.backends["resources"].register(target.subscription_id, "Microsoft.EventGrid")
    sandbox.clock.advance(seconds=5)
    url = (f"https://management.azure.com{target.workspace_id}/providers/Microsoft.EventGrid/eventSubscriptions/"
           f"curl-put?api-version={API}")
    body = {"properties": {"destination": {"endpointType": "WebHook", "properties": {"endpointUrl": receiver.url}}}}
    status, _, raw = sandbox.handle("PUT", url, {"Content-Type": "application/json"}, json.dumps(body).encode())
    assert status == 201 and json.loads(raw)["properties"]["provisioningState"] == "Creating"
    deadline = time.monotonic() + 15
    while True:
        state = json.loads(sandbox.handle("GET", url, {}, b"")[2])["properties"]["provisioningState"]
        if state != "Creating" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert state == "Succeeded"


def test_the_sdk_still_gets_201_polling_and_the_failed_handshake_error(target, eg):
    with pytest.raises(HttpResponseError) as err:
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, "sdk-fails",
                                                      webhook(closed_port_url())).result()
    assert "Webhook validation handshake failed" in str(err.value)
    assert eg.event_subscriptions.get(target.workspace_id, "sdk-fails").provisioning_state == "Failed"


def test_a_subscription_left_creating_by_a_stopped_process_is_validated_when_read(target, eg, receiver):
    """The process that accepted the PUT died before its handshake ended: a GET starts one again."""
    created = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "orphan",
                                                            webhook(receiver.url)).result()
    store = target.sandbox.store
    body = store.get(created.id)
    body["properties"]["provisioningState"] = "Creating"
    body[SANDBOX_KEY]["acceptedAt"] = time.time() - 600
    store.put(created.id, body["type"], body, parent=target.workspace_id)
    assert settled(eg, target.workspace_id, "orphan").provisioning_state == "Succeeded"
    assert [d.kind for d in receiver.deliveries] == ["SubscriptionValidation", "SubscriptionValidation"]


# -- 5. NaN and Infinity are refused ------------------------------------------------------------------------

@pytest.mark.parametrize("clause, field", [
    ('{"operatorType": "NumberIn", "key": "data.x", "values": [1, 1e400]}',
     "properties.filter.advancedFilters[0].values[1]"),
    ('{"operatorType": "NumberGreaterThan", "key": "data.x", "value": NaN}',
     "properties.filter.advancedFilters[0].value"),
    ('{"operatorType": "NumberInRange", "key": "data.x", "values": [[-Infinity, 0]]}',
     "properties.filter.advancedFilters[0].values[0][0]"),
])
def test_non_finite_numbers_in_a_raw_body_are_a_400_naming_the_field(target, sandbox, receiver, clause, field):
    target.sandbox.backends["resources"].register(target.subscription_id, "Microsoft.EventGrid")
    sandbox.clock.advance(seconds=5)
    url = (f"https://management.azure.com{target.workspace_id}/providers/Microsoft.EventGrid/eventSubscriptions/"
           f"not-finite?api-version={API}")
    body = ('{"properties": {"destination": {"endpointType": "WebHook", "properties": {"endpointUrl": "%s"}}, '
            '"filter": {"advancedFilters": [%s]}}}' % (receiver.url, clause)).encode()
    status, _, raw = sandbox.handle("PUT", url, {"Content-Type": "application/json"}, body)
    answer = json.loads(raw)
    assert status == 400, answer
    assert answer["error"]["code"] == "InvalidRequest" and field in answer["error"]["message"]
    assert sandbox.handle("GET", url, {}, b"")[0] == 404


def test_non_finite_numbers_from_the_sdk_are_refused_on_create_and_update(target, eg, receiver):
    with pytest.raises(HttpResponseError) as err:
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, "sdk-inf", webhook(
            receiver.url, filter=EventSubscriptionFilter(advanced_filters=[
                NumberInAdvancedFilter(key="data.x", values=[float("inf")])]))).result()
    assert err.value.status_code == 400 and "advancedFilters[0].values[0]" in str(err.value)
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "sdk-nan", webhook(receiver.url)).result()
    with pytest.raises(HttpResponseError) as err:
        eg.event_subscriptions.begin_update(target.workspace_id, "sdk-nan", EventSubscriptionUpdateParameters(
            filter=EventSubscriptionFilter(advanced_filters=[
                NumberGreaterThanAdvancedFilter(key="data.x", value=float("nan"))]))).result()
    assert err.value.status_code == 400 and "filter.advancedFilters[0].value" in str(err.value)
    got = eg.event_subscriptions.get(target.workspace_id, "sdk-nan")
    assert not got.filter.advanced_filters


# -- 7. bearer tokens on a custom topic -----------------------------------------------------------------------

class FakeToken:
    """A TokenCredential: the publisher sends 'Authorization: Bearer ...' with it (Entra ID auth)."""

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        return AccessToken("not-a-real-token", int(time.time()) + 3600)


def test_a_bearer_token_on_a_custom_topic_is_501_and_a_bad_key_still_401(target, eg, receiver):
    topic = eg.topics.begin_create_or_update(target.resource_group, "bearer-orders",
                                             Topic(location=target.location)).result()
    ca = target.serve()["ca_path"]
    event = EventGridEvent(subject="orders/1", event_type="Contoso.OrderPlaced", data={}, data_version="1.0")
    with pytest.raises(HttpResponseError) as err:
        EventGridPublisherClient(topic.endpoint, FakeToken()).send([event], connection_verify=ca)
    assert err.value.status_code == 501
    assert "SandboxNotImplemented" in str(err.value) and "Entra" in str(err.value)
    with pytest.raises(HttpResponseError) as err:
        EventGridPublisherClient(topic.endpoint, AzureKeyCredential("wrong")).send([event], connection_verify=ca)
    assert err.value.status_code == 401
    keys = eg.topics.list_shared_access_keys(target.resource_group, "bearer-orders")
    EventGridPublisherClient(topic.endpoint, AzureKeyCredential(keys.key1)).send([event], connection_verify=ca)

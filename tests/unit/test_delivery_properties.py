"""Hostile input to the delivery engine's and the receiver's public surfaces: clear errors, never a crash."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlevents_kit.receiver import Receiver
from amlevents_kit.sandbox.delivery import policy

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)

bodies = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=30), st.just("/subscriptions/x/providers/Microsoft.EventGrid/eventSubscriptions/s")),
     "properties": st.one_of(json_values, st.fixed_dictionaries({
         "destination": st.one_of(json_values, st.fixed_dictionaries({
             "endpointType": st.sampled_from(["WebHook", "AzureFunction", "StorageQueue", "EventHub", "Nope"]),
             "properties": json_values})),
         "retryPolicy": json_values, "eventDeliverySchema": json_values, "deadLetterDestination": json_values}))})


@settings(max_examples=150, deadline=None)
@given(bodies)
def test_subscription_bodies_give_settings_or_a_settings_error(body):
    try:
        s = policy.settings_from_body(body)
    except policy.SettingsError as exc:
        assert str(exc)  # names the field
    else:
        assert s.destination_type in policy.HTTP_DESTINATIONS + policy.QUEUE_DESTINATIONS
        assert 1 <= s.max_attempts <= 30 and 1 <= s.ttl_minutes <= 1440


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_endpoint_check_accepts_only_loopback_or_raises_value_error(url):
    try:
        policy.check_endpoint(url)
    except ValueError as exc:
        assert "endpointUrl" in str(exc)
    else:
        assert policy.is_loopback((httpx.URL(url).host or "").lower())


@pytest.fixture(scope="module")
def rx():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)))
def test_receiver_answers_hostile_bodies_with_200_or_400(rx, body):
    status = httpx.post(rx.url, content=body).status_code
    assert status in (200, 400)

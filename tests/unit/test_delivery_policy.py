"""Event Grid's delivery rules (spec/eventgrid.md §4) as pure functions: schedule, TTL, codes, batching."""

from __future__ import annotations

import json

import pytest

from amlevents_kit import events
from amlevents_kit.sandbox.delivery import policy

WS = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
SUB_ID = WS + "/providers/Microsoft.EventGrid/eventSubscriptions/My-Sub"


def body(**props) -> dict:
    destination = props.pop("destination", {"endpointType": "WebHook",
                                            "properties": {"endpointUrl": "http://127.0.0.1:9/api"}})
    return {"id": SUB_ID, "name": "My-Sub", "properties": {"destination": destination, **props}}


def test_retry_schedule_is_azures_then_every_12_hours():
    delays = [policy.retry_delay(n) for n in range(1, 14)]
    assert delays == [10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 43200, 43200, 43200]


@pytest.mark.parametrize("status,first_delay", [(503, 30), (408, 120), (404, 300), (500, 10), (429, 10)])
def test_per_status_minimum_delays(status, first_delay):
    assert policy.retry_delay(1, status) == first_delay
    assert policy.retry_delay(6, status) == 1800  # the schedule wins once it is longer


@pytest.mark.parametrize("status", [200, 201, 202, 203, 204])
def test_success_codes(status):
    s = policy.settings_from_body(body())
    assert policy.decide(s, 1, status, None, now=100, publish_time=0).kind == "delivered"


@pytest.mark.parametrize("status", [205, 206, 301, 302, 404, 429, 500, 503])
def test_other_codes_are_retried(status):
    s = policy.settings_from_body(body())
    d = policy.decide(s, 1, status, None, now=100, publish_time=0)
    assert d.kind == "retry" and d.at == 100 + policy.retry_delay(1, status)


@pytest.mark.parametrize("status,reason", [(400, "UndeliverableDueToHttpBadRequest"),
                                           (401, "UndeliverableDueToHttpUnauthorized"),
                                           (403, "UndeliverableDueToHttpForbidden"),
                                           (413, "UndeliverableDueToHttpPayloadTooLarge")])
def test_never_retried_codes_give_up_at_once_for_webhooks(status, reason):
    s = policy.settings_from_body(body())
    d = policy.decide(s, 1, status, None, now=5, publish_time=0)
    assert (d.kind, d.reason) == ("give_up", reason)


def test_401_is_retried_for_azure_resource_destinations():
    s = policy.settings_from_body(body(destination={
        "endpointType": "AzureFunction",
        "properties": {"resourceId": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/app/functions/f"}}))
    assert policy.decide(s, 1, 401, None, now=0, publish_time=0).kind == "retry"
    assert policy.decide(s, 1, 403, None, now=0, publish_time=0).kind == "give_up"


def test_network_errors_are_retried_and_named():
    s = policy.settings_from_body(body())
    assert policy.decide(s, 1, None, "timeout", now=0, publish_time=0).kind == "retry"
    assert policy.outcome_for(None, "timeout") == "TimedOut"
    assert policy.outcome_for(None, "connect") == "SocketError"
    assert policy.outcome_for(400) == "BadRequest"
    assert policy.outcome_for(503) == "Busy"


def test_max_delivery_attempts_ends_retries():
    s = policy.settings_from_body(body(retryPolicy={"maxDeliveryAttempts": 3}))
    assert policy.decide(s, 2, 500, None, now=0, publish_time=0).kind == "retry"
    d = policy.decide(s, 3, 500, None, now=0, publish_time=0)
    assert (d.kind, d.reason) == ("give_up", "MaxDeliveryAttemptsExceeded")


def test_ttl_30_minutes_with_10_attempts_allows_6_attempts():
    """AD-RETRY's own example: the TTL is checked when the next attempt is due."""
    s = policy.settings_from_body(body(retryPolicy={"maxDeliveryAttempts": 10, "eventTimeToLiveInMinutes": 30}))
    now, made = 0.0, 0
    while not policy.expired(s, 0.0, now):
        made += 1
        d = policy.decide(s, made, 500, None, now=now, publish_time=0.0)
        assert d.kind == "retry"
        now = d.at
    assert made == 6


def test_settings_defaults_and_upper_case_header_name():
    s = policy.settings_from_body(body())
    assert (s.max_attempts, s.ttl_minutes, s.max_events_per_batch, s.preferred_batch_kb) == (30, 1440, 1, 64)
    assert s.schema == "EventGridSchema" and s.header_name == "MY-SUB"


@pytest.mark.parametrize("props,field", [
    ({"retryPolicy": {"maxDeliveryAttempts": 31}}, "maxDeliveryAttempts"),
    ({"retryPolicy": {"eventTimeToLiveInMinutes": 0}}, "eventTimeToLiveInMinutes"),
    ({"eventDeliverySchema": "Avro"}, "eventDeliverySchema"),
    ({"destination": {"endpointType": "Carrier", "properties": {}}}, "endpointType"),
    ({"destination": {"endpointType": "WebHook", "properties": {}}}, "endpointUrl"),
    ({"destination": {"endpointType": "WebHook", "properties": {"endpointUrl": "http://127.0.0.1/",
                                                                 "maxEventsPerBatch": 5001}}}, "maxEventsPerBatch"),
    ({"deadLetterDestination": {"endpointType": "StorageBlob", "properties": {}}}, "blobContainerName"),
])
def test_bad_subscription_bodies_name_the_field(props, field):
    with pytest.raises(policy.SettingsError, match=field):
        policy.settings_from_body(body(**props))


def test_identity_destinations_are_read():
    b = {"id": SUB_ID, "name": "s", "properties": {
        "deliveryWithResourceIdentity": {"identity": {"type": "SystemAssigned"}, "destination": {
            "endpointType": "StorageQueue",
            "properties": {"resourceId": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
                           "queueName": "q1"}}},
        "deadLetterWithResourceIdentity": {"deadLetterDestination": {
            "endpointType": "StorageBlob", "properties": {"resourceId": "/subscriptions/x/.../storageAccounts/acct",
                                                          "blobContainerName": "dl"}}}}}
    s = policy.settings_from_body(b)
    assert (s.destination_type, s.queue_name, s.dead_letter_container, s.dead_letter_account) == (
        "StorageQueue", "q1", "dl", "acct")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x", "https://localhost/x", "http://[::1]:80/", "http://127.0.0.2/"])
def test_loopback_endpoints_are_accepted(url):
    policy.check_endpoint(url)


@pytest.mark.parametrize("url", ["https://example.com/api", "http://10.0.0.1/", "ftp://127.0.0.1/", "http://0.0.0.0/"])
def test_other_endpoints_are_refused_with_a_clear_error(url):
    with pytest.raises(ValueError, match="endpointUrl"):
        policy.check_endpoint(url)


def test_http_gets_a_notice_https_does_not():
    assert "https" in policy.check_endpoint("http://127.0.0.1/x")
    assert policy.check_endpoint("https://127.0.0.1/x") is None


def test_batches_respect_count_and_soft_size_ceiling():
    assert policy.make_batches([100] * 7, 3, 64) == [[0, 1, 2], [3, 4, 5], [6]]
    # 1 KB ceiling: two 600-byte events do not fit together; a 5 KB event still goes, alone.
    assert policy.make_batches([600, 600, 5000, 100, 100], 10, 1) == [[0], [1], [2], [3, 4]]
    assert policy.make_batches([], 10, 64) == []


def test_headers_for_event_grid_schema():
    s = policy.settings_from_body(body(destination={"endpointType": "WebHook", "properties": {
        "endpointUrl": "http://127.0.0.1/x",
        "deliveryAttributeMappings": [
            {"name": "x-static", "type": "Static", "properties": {"value": "v", "isSecret": False}},
            {"name": "x-model", "type": "Dynamic", "properties": {"sourceField": "data.modelName"}},
            {"name": "aeg-reserved", "type": "Static", "properties": {"value": "no"}}]}}))
    ev = events.model_registered(topic=WS, model_name="churn", model_version="3")
    h = policy.delivery_headers(s, [ev], 2)
    assert h["aeg-event-type"] == "Notification" and h["aeg-subscription-name"] == "MY-SUB"
    assert h["aeg-delivery-count"] == "2" and h["aeg-data-version"] == "2" and h["aeg-metadata-version"] == "1"
    assert h["Content-Type"] == "application/json; charset=utf-8"
    assert h["x-static"] == "v" and h["x-model"] == "churn" and "aeg-reserved" not in h
    assert json.loads(policy.delivery_body(s, [ev])) == [ev]


def test_cloudevents_delivery_is_structured_unless_batched():
    ev = policy.to_delivery_schema(events.model_registered(topic=WS, model_name="m", model_version="1"),
                                   "CloudEventSchemaV1_0")
    assert ev["specversion"] == "1.0" and ev["source"] == WS and "eventType" not in ev
    single = policy.settings_from_body(body(eventDeliverySchema="CloudEventSchemaV1_0"))
    h = policy.delivery_headers(single, [ev], 0)
    assert h["Content-Type"] == "application/cloudevents+json; charset=utf-8" and "aeg-data-version" not in h
    assert json.loads(policy.delivery_body(single, [ev])) == ev
    batched = policy.settings_from_body(body(eventDeliverySchema="CloudEventSchemaV1_0", destination={
        "endpointType": "WebHook", "properties": {"endpointUrl": "http://127.0.0.1/", "maxEventsPerBatch": 10}}))
    assert policy.delivery_headers(batched, [ev], 0)["Content-Type"].startswith("application/cloudevents-batch+json")
    assert json.loads(policy.delivery_body(batched, [ev])) == [ev]


def test_dead_letter_record_fields_and_blob_path():
    ev = events.model_registered(topic=WS, model_name="m", model_version="1")
    rec = policy.dead_letter_record(ev, "EventGridSchema", reason="MaxDeliveryAttemptsExceeded", attempts=3,
                                    outcome="Busy", status=500, publish_time=0.0, last_attempt_time=40.0)
    assert rec["id"] == ev["id"] and rec["data"] == ev["data"]
    assert (rec["deadLetterReason"], rec["deliveryAttempts"], rec["lastDeliveryOutcome"], rec["lastHttpStatusCode"]) == (
        "MaxDeliveryAttemptsExceeded", 3, "Busy", 500)
    assert rec["publishTime"] == "1970-01-01T00:00:00.000000Z"
    assert rec["lastDeliveryAttemptTime"] == "1970-01-01T00:00:40.000000Z"
    ce = policy.dead_letter_record(policy.to_delivery_schema(ev, "CloudEventSchemaV1_0"), "CloudEventSchemaV1_0",
                                   reason="TimeToLiveExceeded", attempts=0, outcome=None, status=None,
                                   publish_time=0.0, last_attempt_time=None)
    assert ce["deadletterreason"] == "TimeToLiveExceeded" and "deadLetterReason" not in ce
    # Azure: <container>/<SUBSCRIPTION NAME IN UPPER CASE>/YYYY/M/D/H/<id>.json, not zero-padded.
    assert policy.dead_letter_blob_path("dl", "My-Sub", 1565240400.0, "abc") == "dl/MY-SUB/2019/8/8/5/abc.json"
    assert policy.dead_letter_blob_path("dl", "../x", 0.0, "a").startswith("dl/___X/")  # stays in the container

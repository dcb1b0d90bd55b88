"""The delivery engine on a frozen sandbox clock: retries, TTL, dead letters, batches, queues, handshakes.

A real receiver on 127.0.0.1 answers; time only moves with ``clock.advance`` and ``engine.pump()``
delivers what is due, so nothing here sleeps. Every test that delivers ends with its reconciliation
(published = delivered + dead-lettered + dropped + pending), which goes to the run's fault report
(tests/e2e/fault_report.py) with the end-to-end fault suite's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from amlevents_kit import events
from amlevents_kit.receiver import Receiver
from amlevents_kit.sandbox.delivery import install

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import fault_report  # noqa: E402  (shared with tests/e2e: one table for the run)

WS = events.workspace_topic("5f7e3b2a-8c1d-4e6f-9a0b-1c2d3e4f5a6b", "amlevents-rg", "amlevents-ws")
STORAGE = "/subscriptions/5f7e3b2a-8c1d-4e6f-9a0b-1c2d3e4f5a6b/resourceGroups/amlevents-rg/providers/Microsoft.Storage/storageAccounts/deadletters"


@pytest.fixture(scope="module")
def receiver():
    rx = Receiver().start()
    yield rx
    rx.stop()


@pytest.fixture
def rx(receiver):
    receiver.clear()
    receiver.recover()
    receiver.auto_validate = True
    return receiver


@pytest.fixture(autouse=True, scope="module")
def _fault_report(request):
    """Print the reconciliations at the end of the run, also when tests/e2e is not collected."""
    fault_report.install(request.config)


def reconciled(engine, subscription_id: str | None = None, **expected: int) -> dict:
    """The engine's reconciliation (for one subscription or all): recorded for the report, checked, returned."""
    stats = fault_report.record(engine.stats(subscription_id), scope=subscription_id and subscription_id.rsplit("/", 1)[-1])
    assert fault_report.reconciles(stats), stats
    assert {k: stats[k] for k in expected} == expected, stats
    return stats


@pytest.fixture
def engine(sandbox):
    install(sandbox)
    sandbox.clock.freeze()
    eng = sandbox.service("delivery")
    eng.response_timeout = 0.5
    return eng


def subscription(name: str, url: str | None = None, *, dead_letter: bool = False, destination: dict | None = None,
                 **props) -> dict:
    dest = destination or {"endpointType": "WebHook", "properties": {"endpointUrl": url}}
    if "batch" in props:
        dest["properties"]["maxEventsPerBatch"] = props.pop("batch")
    if "batch_kb" in props:
        dest["properties"]["preferredBatchSizeInKilobytes"] = props.pop("batch_kb")
    body = {"id": f"{WS}/providers/Microsoft.EventGrid/eventSubscriptions/{name}", "name": name,
            "type": "Microsoft.EventGrid/eventSubscriptions", "properties": {"destination": dest, **props}}
    if dead_letter:
        body["properties"]["deadLetterDestination"] = {
            "endpointType": "StorageBlob", "properties": {"resourceId": STORAGE, "blobContainerName": "dead"}}
    return body


def model_event(version: int = 1, name: str = "churn") -> dict:
    return events.model_registered(topic=WS, model_name=name, model_version=str(version))


def validated(engine, body: dict) -> dict:
    result = engine.validate(body)
    assert result.status == "Succeeded", result.message
    return body


def test_delivered_with_azure_headers_and_body(engine, rx):
    seen = []
    rx.on(events.MODEL_REGISTERED)(lambda e: seen.append(e.data.model_name))
    sub = validated(engine, subscription("ok-sub", rx.url))
    ev = model_event()
    assert engine.submit([ev], [(sub, [ev])]) == 1
    engine.pump()
    (delivery,) = rx.notifications()
    h = delivery.headers
    assert (h["aeg-event-type"], h["aeg-subscription-name"], h["aeg-delivery-count"]) == ("Notification", "OK-SUB", "0")
    assert h["aeg-data-version"] == "2" and h["aeg-metadata-version"] == "1"
    assert h["content-type"] == "application/json; charset=utf-8"
    assert json.loads(delivery.body) == [ev]
    assert seen[-1] == "churn"
    assert reconciled(engine) == {"published": 1, "delivered": 1, "dead_lettered": 0, "dropped": 0, "pending": 0,
                                  "duplicates": 0, "unmatched": 0}
    (entry,) = engine.deliveries(event_id=ev["id"])
    assert entry["state"] == "delivered" and entry["attempts"][0]["status"] == 200


def test_500_is_retried_on_azures_schedule_then_recovers(engine, rx, sandbox):
    sub = validated(engine, subscription("flaky", rx.url))
    ev = model_event()
    rx.fail_with(500)
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    sandbox.clock.advance(9)
    engine.pump()
    assert len(rx.notifications()) == 1  # not due before 10 s
    for delay in (1, 30):
        sandbox.clock.advance(delay)
        engine.pump()
    assert len(rx.notifications()) == 3
    rx.recover()
    sandbox.clock.advance(60)
    engine.pump()
    log = engine.log(event_id=ev["id"])
    assert [a["status"] for a in log] == [500, 500, 500, 200]
    assert [a["outcome"] for a in log] == ["Busy", "Busy", "Busy", "Delivered"]
    counts = [d.headers["aeg-delivery-count"] for d in rx.notifications()]
    assert counts == ["0", "1", "2", "3"]
    reconciled(engine, published=1, delivered=1, duplicates=0)
    assert len(rx.received) == 1


def test_max_attempts_then_dead_letter_file_in_azures_format(engine, rx, sandbox):
    sub = validated(engine, subscription("dl-sub", rx.url, dead_letter=True,
                                         retryPolicy={"maxDeliveryAttempts": 2, "eventTimeToLiveInMinutes": 60}))
    ev = model_event()
    rx.fail_with(503)
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    sandbox.clock.advance(30)  # 503 waits at least 30 s
    engine.pump()
    (entry,) = engine.deliveries(event_id=ev["id"])
    assert entry["state"] == "dead_lettered" and entry["reason"] == "MaxDeliveryAttemptsExceeded"
    path = sandbox.folder / "deadletter" / entry["location"]
    assert entry["location"].startswith("dead/DL-SUB/")
    (record,) = json.loads(path.read_text())
    assert record["id"] == ev["id"] and record["data"] == ev["data"]
    assert record["deadLetterReason"] == "MaxDeliveryAttemptsExceeded" and record["deliveryAttempts"] == 2
    assert record["lastDeliveryOutcome"] == "Busy" and record["lastHttpStatusCode"] == 503
    assert engine.dead_letters() == [record]
    reconciled(engine, published=1, dead_lettered=1, delivered=0, pending=0)


def test_ttl_expiry_without_dead_letter_is_dropped_with_its_record(engine, rx, sandbox):
    sub = validated(engine, subscription("ttl-sub", rx.url, retryPolicy={"eventTimeToLiveInMinutes": 1}))
    ev = model_event()
    rx.fail_with(500)
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    sandbox.clock.advance(10)
    engine.pump()
    sandbox.clock.advance(30)
    engine.pump()
    assert len(rx.notifications()) == 3
    sandbox.clock.advance(60)  # next attempt due after the 1-minute TTL: given up without an attempt
    engine.pump()
    (entry,) = engine.deliveries(event_id=ev["id"])
    assert (entry["state"], entry["reason"], entry["delivery_attempts"]) == ("dropped", "TimeToLiveExceeded", 3)
    assert entry["event"] == ev
    assert len(rx.notifications()) == 3
    reconciled(engine, published=1, dropped=1, delivered=0, pending=0)


def test_400_is_dead_lettered_at_once(engine, rx):
    sub = validated(engine, subscription("bad-sub", rx.url, dead_letter=True))
    ev = model_event()
    rx.fail_with(400)
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    (entry,) = engine.deliveries(event_id=ev["id"])
    assert (entry["state"], entry["reason"]) == ("dead_lettered", "UndeliverableDueToHttpBadRequest")
    assert len(entry["attempts"]) == 1
    reconciled(engine, published=1, dead_lettered=1)


def test_batches_are_all_or_none(engine, rx, sandbox):
    sub = validated(engine, subscription("batch-sub", rx.url, batch=3))
    evs = [model_event(v) for v in range(1, 8)]
    rx.fail_with(500, times=1)
    engine.submit(evs, [(sub, evs)])
    engine.pump()
    sizes = sorted(len(d.events) for d in rx.notifications())
    assert sizes == [1, 3, 3]
    failed = [d for d in rx.notifications() if d.status == 500]
    assert len(failed) == 1
    sandbox.clock.advance(10)
    engine.pump()
    assert sorted(e.id for e in rx.received) == sorted(e["id"] for e in evs)
    retried = {a["batch"] for d in engine.deliveries() for a in d["attempts"] if a["status"] == 500}
    assert len(retried) == 1 or None in retried
    reconciled(engine, published=7, delivered=7, pending=0)


def test_preferred_batch_size_is_a_soft_ceiling(engine, rx):
    sub = validated(engine, subscription("kb-sub", rx.url, batch=100, batch_kb=1))
    evs = [model_event(v) for v in range(1, 4)]  # each ~460 bytes: two fit in 1 KB, not three
    engine.submit(evs, [(sub, evs)])
    engine.pump()
    assert sorted(len(d.events) for d in rx.notifications()) == [1, 2]
    reconciled(engine, published=3, delivered=3)


@pytest.mark.parametrize("kind,extra,queue", [
    ("StorageQueue", {"queueName": "aml-events"}, "aml-events"),
    ("EventHub", {}, "hub1"),
    ("ServiceBusQueue", {}, "sbq"),
])
def test_queue_destinations_deliver_into_local_queues(engine, kind, extra, queue):
    rid = {"StorageQueue": STORAGE, "EventHub": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns/eventhubs/hub1",
           "ServiceBusQueue": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/ns/queues/sbq"}[kind]
    sub = validated(engine, subscription(f"q-{kind.lower()}", destination={
        "endpointType": kind, "properties": {"resourceId": rid, **extra}}))
    ev = model_event()
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    (msg,) = engine.queue_messages(queue)
    assert msg["body"] == ev and msg["destination_type"] == kind
    reconciled(engine, published=1, delivered=1)


def test_forget_drops_pending_deliveries(engine, rx):
    sub = validated(engine, subscription("gone", rx.url))
    rx.fail_with(500)
    evs = [model_event(1), model_event(2)]
    engine.submit(evs, [(sub, evs)])
    engine.pump()
    assert engine.forget(sub["id"]) == 2
    reasons = {d["reason"] for d in engine.deliveries(subscription_id=sub["id"])}
    assert reasons == {"subscription deleted"}
    reconciled(engine, published=2, dropped=2, pending=0)


def test_unvalidated_and_off_machine_endpoints_are_never_called(engine, rx):
    not_validated = subscription("nv", rx.url)
    ev = model_event()
    engine.submit([ev], [(not_validated, [ev])])
    engine.pump()
    assert rx.notifications() == []
    (entry,) = engine.deliveries(subscription_id=not_validated["id"])
    assert entry["state"] == "dropped" and entry["reason"].startswith("EndpointNotValidated")
    far = subscription("far", "https://example.com/api/events")
    result = engine.validate(far)
    assert result.status == "Failed" and "127.0.0.1" in result.message
    engine.submit([ev], [(far, [ev])])
    (entry,) = engine.deliveries(subscription_id=far["id"])
    assert entry["state"] == "dropped" and "example.com" in entry["reason"]
    reconciled(engine, published=2, dropped=2, delivered=0)


def test_unwritable_dead_letter_folder_keeps_the_event(engine, rx, sandbox, caplog):
    sub = validated(engine, subscription("dl-broken", rx.url, dead_letter=True))
    (sandbox.folder / "deadletter").write_text("a file where the folder should be")
    ev = model_event()
    rx.fail_with(400)
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    (entry,) = engine.deliveries(event_id=ev["id"])
    assert entry["state"] == "pending" and entry["reason"] == "UndeliverableDueToHttpBadRequest"
    assert "cannot write dead letter" in caplog.text
    reconciled(engine, published=1, pending=1, dead_lettered=0)  # kept, not lost
    (sandbox.folder / "deadletter").unlink()
    sandbox.clock.advance(minutes=5)
    engine.pump()
    (entry,) = engine.deliveries(event_id=ev["id"])
    assert entry["state"] == "dead_lettered"
    assert len(rx.notifications()) == 1  # the dead letter was retried, not the delivery
    reconciled(engine, published=1, dead_lettered=1, pending=0, dropped=0)


def test_dead_letter_unavailable_for_4_hours_is_dropped_with_record(engine, rx, sandbox):
    sub = validated(engine, subscription("dl-gone", rx.url, dead_letter=True))
    (sandbox.folder / "deadletter").write_text("not a folder")
    ev = model_event()
    rx.fail_with(413)
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    for _ in range(4 * 12):
        sandbox.clock.advance(minutes=5)
        engine.pump()
    (entry,) = engine.deliveries(event_id=ev["id"])
    assert entry["state"] == "dropped" and "unavailable for 4 hours" in entry["reason"]
    assert entry["event"] == ev
    assert len(rx.notifications()) == 1  # one delivery attempt; the rest were dead-letter writes
    reconciled(engine, published=1, dropped=1, pending=0, dead_lettered=0)


def test_cloudevents_subscription_uses_options_handshake_and_structured_mode(engine, rx):
    sub = subscription("ce-sub", rx.url, eventDeliverySchema="CloudEventSchemaV1_0")
    assert engine.validate(sub).status == "Succeeded"
    assert rx.deliveries[-1].kind == "OPTIONS"
    assert rx.deliveries[-1].headers["webhook-request-origin"] == "eventgrid.azure.net"
    ev = model_event()
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    (delivery,) = rx.notifications()
    assert delivery.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    body = json.loads(delivery.body)
    assert body["specversion"] == "1.0" and body["type"] == events.MODEL_REGISTERED and body["id"] == ev["id"]
    reconciled(engine, published=1, delivered=1)


def test_manual_validation_through_the_validation_url(engine, rx, sandbox):
    rx.auto_validate = False
    sub = subscription("manual", rx.url)
    result = engine.validate(sub)
    assert result.status == "AwaitingManualAction"
    (url,) = rx.validation_urls
    assert url in result.message
    ev = model_event()
    engine.submit([ev], [(sub, [ev])])
    assert engine.deliveries(subscription_id=sub["id"])[0]["state"] == "dropped"  # not validated yet
    ca = sandbox.server.ca_path
    response = httpx.get(url, verify=str(ca))
    assert response.status_code == 200 and "successfully validated" in response.text
    assert engine.validation_state(sub["id"])["state"] == "Succeeded"
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    assert [e.id for e in rx.received] == [ev["id"]]
    reconciled(engine, published=2, delivered=1, dropped=1)  # the one sent before validation was dropped


def test_manual_validation_window_is_5_minutes(engine, rx, sandbox):
    rx.auto_validate = False
    sub = subscription("late", rx.url)
    assert engine.validate(sub).status == "AwaitingManualAction"
    sandbox.clock.advance(minutes=5, seconds=1)
    response = httpx.get(rx.validation_urls[-1], verify=str(sandbox.server.ca_path))
    assert response.status_code == 400 and response.json()["error"]["code"] == "ValidationUrlExpired"
    assert engine.validation_state(sub["id"])["state"] == "Failed"


def test_handshake_failures_give_azures_message(engine, rx):
    rx.stop()
    try:
        url = f"http://127.0.0.1:{_free_port()}/api/events"
        result = engine.validate(subscription("refused", url))
        assert result.status == "Failed"
        assert result.message.startswith(f"Webhook validation handshake failed for {url}.")
        assert "aka.ms/esvalidation" in result.message
    finally:
        rx.start()


def test_worker_delivers_when_the_clock_is_advanced(engine, rx, sandbox):
    sub = validated(engine, subscription("worker", rx.url))
    ev = model_event()
    rx.fail_with(500, times=1)
    engine.submit([ev], [(sub, [ev])])  # no pump: the background worker is woken by submit
    assert _wait(lambda: len(rx.notifications()) == 1)
    sandbox.clock.advance(10)  # ... and by the clock moving
    assert rx.wait_for(1, timeout=10)
    assert _wait(lambda: engine.deliveries(event_id=ev["id"])[0]["state"] == "delivered")
    assert [a["status"] for a in engine.log(event_id=ev["id"])] == [500, 200]
    reconciled(engine, published=1, delivered=1, pending=0)


def _wait(condition, timeout: float = 10.0) -> bool:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_azure_function_destination_waits_for_a_local_function(engine, rx, sandbox):
    fn = ("/subscriptions/5f7e3b2a-8c1d-4e6f-9a0b-1c2d3e4f5a6b/resourceGroups/amlevents-rg/providers/"
          "Microsoft.Web/sites/aml-handlers/functions/on_model")
    sub = subscription("fn-sub", destination={"endpointType": "AzureFunction", "properties": {"resourceId": fn}})
    result = engine.validate(sub)
    assert result.status == "Succeeded" and "register_function" in result.message
    ev = model_event()
    engine.submit([ev], [(sub, [ev])])
    engine.pump()
    (attempt,) = engine.log(event_id=ev["id"])
    assert attempt["outcome"] == "InvalidAzureFunctionDestination"
    rx.register_function(sandbox, fn)
    sandbox.clock.advance(minutes=9)
    engine.pump()
    assert rx.received == []  # a function that did not answer waits 10 minutes
    sandbox.clock.advance(minutes=1)
    engine.pump()
    assert [e.id for e in rx.received] == [ev["id"]]
    reconciled(engine, published=1, delivered=1)


def test_subscription_deleted_event_after_forget(engine, rx):
    sub = validated(engine, subscription("bye", rx.url))
    engine.forget(sub["id"])
    deleted = events.subscription_deleted(topic=WS, event_subscription_id=sub["id"])
    engine.submit([deleted], [(sub, [deleted])])
    engine.pump()
    (delivery,) = [d for d in rx.deliveries if d.kind == "SubscriptionDeletion"]
    assert delivery.events[0].data.event_subscription_id == sub["id"]


def test_dead_letter_delay_like_azure(engine, rx, sandbox):
    """With dead_letter_delay=300 the record is written 5 minutes after the last attempt, as on Azure."""
    engine.dead_letter_delay = 300
    try:
        sub = validated(engine, subscription("dl-later", rx.url, dead_letter=True))
        ev = model_event()
        rx.fail_with(400)
        engine.submit([ev], [(sub, [ev])])
        engine.pump()
        assert engine.deliveries(event_id=ev["id"])[0]["state"] == "pending"
        sandbox.clock.advance(minutes=5)
        engine.pump()
        (entry,) = engine.deliveries(event_id=ev["id"])
        assert entry["state"] == "dead_lettered" and entry["reason"] == "UndeliverableDueToHttpBadRequest"
        assert engine.dead_letters(sub["id"])[0]["deliveryAttempts"] == 1
        reconciled(engine, published=1, dead_lettered=1, pending=0)
    finally:
        engine.dead_letter_delay = 0

"""A kernel restart resumes pending deliveries as soon as the lesson connects again."""

from __future__ import annotations

import time

from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import EventSubscription, WebHookEventSubscriptionDestination

from amlevents_kit import connect, ensure_providers, fire
from amlevents_kit.receiver import Receiver


def test_connect_after_restart_delivers_what_was_pending(sandbox_folder):
    receiver = Receiver().start()
    try:
        target = connect(folder=sandbox_folder)
        ensure_providers(target, quiet=True)
        eg = target.client(EventGridManagementClient)
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, "resume", EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url))).result()
        target.sandbox.clock.freeze()
        receiver.fail_with(503)
        fire(target, "ModelRegistered", modelName="pending", modelVersion="1")
        target.sandbox.service("delivery").pump()
        assert target.sandbox.service("delivery").stats()["pending"] == 1
        target.sandbox.close()  # the kernel goes away with the event still pending

        receiver.recover()
        again = connect(folder=sandbox_folder)  # a new kernel: nothing but connect()
        again.sandbox.clock.advance(minutes=1)  # past the retry time Azure's schedule gives a 503
        assert receiver.wait_for(1, timeout=30)  # the background worker delivered it: no pump() here
        engine = again.sandbox.service("delivery")
        deadline = time.monotonic() + 30
        while engine.stats()["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the 2xx is recorded just after the receiver answers
        from fault_report import reconciles, record
        stats = record(engine.stats())
        assert (stats["delivered"], stats["pending"]) == (1, 0) and reconciles(stats)
        assert [e.subject for e in receiver.received] == ["models/pending:1"]
        again.sandbox.close()
    finally:
        receiver.stop()

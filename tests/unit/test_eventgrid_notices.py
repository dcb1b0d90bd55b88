"""The sandbox's https notice for loopback webhooks is said once per session, not in every cell."""

from __future__ import annotations

import logging

from azure.mgmt.eventgrid.models import EventSubscription, WebHookEventSubscriptionDestination

from amlevents_kit.sandbox.providers.eventgrid import models


def test_the_https_notice_is_shown_once_then_kept_quiet(target, eg, receiver, caplog, monkeypatch):
    monkeypatch.setattr(models, "_told", set())
    caplog.set_level(logging.INFO, logger="amlevents_kit.sandbox")
    for name in ("first", "second"):
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, name, EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url))).result()
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "Azure accepts only https://" in r.getMessage()]
    warned = [message for level, message in said if level == logging.WARNING]
    assert warned == [said[0][1]] and warned[0].startswith("first: ")
    assert warned[0].endswith("(said once per session)")
    assert any(message.startswith("second: ") for level, message in said if level == logging.INFO)

"""cleanup() deletes what the lessons made, and nothing else, through the real SDK clients."""

from __future__ import annotations

from azure.ai.ml.entities import ManagedOnlineEndpoint
from azure.mgmt.datafactory import DataFactoryManagementClient
from azure.mgmt.datafactory.models import Factory
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import EventSubscription, StorageQueueEventSubscriptionDestination
from azure.mgmt.logic import LogicManagementClient

from amlevents_kit import cleanup, ensure_providers
from amlevents_kit import workflows as wf


def _queue_subscription(target) -> EventSubscription:
    account = (f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
               "/providers/Microsoft.Storage/storageAccounts/lessons")
    return EventSubscription(destination=StorageQueueEventSubscriptionDestination(resource_id=account,
                                                                                 queue_name="events"))


def test_cleanup_deletes_only_the_lessons_resources(target):
    ensure_providers(target, quiet=True)
    eg = target.client(EventGridManagementClient)
    for name in ("lesson02-mine", "someone-elses"):
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, name, _queue_subscription(target)).result()
    wf.email_alert(target, name="lesson03-alert", event_types=["RunCompleted"], to="team@example.com").deploy(target)
    wf.email_alert(target, name="production-alert", event_types=["RunCompleted"], to="team@example.com").deploy(target)
    adf = target.client(DataFactoryManagementClient)
    adf.factories.create_or_update(target.resource_group, "mlops-adf", Factory(location="eastus"))
    adf.factories.create_or_update(target.resource_group, "prod-adf", Factory(location="eastus"))
    ml = target.ml_client()
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="lesson05-ep")).result()

    planned = cleanup(target, dry_run=True)
    assert [(d.kind, d.name) for d in planned] == [
        ("data factory", "mlops-adf"),
        ("event subscription", "LogicApp-lesson03-alert-When-a-resource-event-occurs"),
        ("event subscription", "lesson02-mine"),
        ("logic app", "lesson03-alert"),
        ("online endpoint", "lesson05-ep"),
    ]
    assert cleanup(target) == planned
    assert cleanup(target, dry_run=True) == []

    subs = {s.name for s in eg.event_subscriptions.list_by_resource(
        target.resource_group, "Microsoft.MachineLearningServices", "workspaces", target.workspace_name)}
    assert "someone-elses" in subs and "lesson02-mine" not in subs
    logic = target.client(LogicManagementClient)
    assert {w.name for w in logic.workflows.list_by_resource_group(target.resource_group)} == {"production-alert"}
    assert {f.name for f in adf.factories.list_by_resource_group(target.resource_group)} == {"prod-adf"}
    assert [e.name for e in ml.online_endpoints.list()] == []


def test_cleanup_also_finds_custom_topics_and_resource_group_subscriptions(target):
    from azure.mgmt.eventgrid.models import Topic
    ensure_providers(target, quiet=True)
    eg = target.client(EventGridManagementClient)
    rg = target.resource_group
    group = f"/subscriptions/{target.subscription_id}/resourceGroups/{rg}"
    eg.topics.begin_create_or_update(rg, "lesson04-drift-events", Topic(location=target.location)).result()
    eg.topics.begin_create_or_update(rg, "team-topic", Topic(location=target.location)).result()
    lesson_topic = eg.topics.get(rg, "lesson04-drift-events").id
    team_topic = eg.topics.get(rg, "team-topic").id
    for scope, name in ((lesson_topic, "retrain-on-drift"), (group, "lesson02-rg-scope"), (group, "audit"),
                        (team_topic, "lesson-named-but-not-ours-topic")):
        eg.event_subscriptions.begin_create_or_update(scope, name, _queue_subscription(target)).result()

    planned = [(d.kind, d.name) for d in cleanup(target, dry_run=True)]
    assert planned == [("event subscription", "lesson02-rg-scope"), ("event subscription", "retrain-on-drift"),
                       ("topic", "lesson04-drift-events")]
    cleanup(target)
    assert [t.name for t in eg.topics.list_by_resource_group(rg)] == ["team-topic"]
    left = sorted(s.name for s in eg.event_subscriptions.list_global_by_resource_group(rg))
    assert left == ["audit"]
    assert [s.name for s in eg.event_subscriptions.list_by_resource(rg, "Microsoft.EventGrid", "topics",
                                                                   "team-topic")] == ["lesson-named-but-not-ours-topic"]

"""Delete what the lessons created, on either target, so nothing keeps costing money.

The lessons name everything they create ``lesson…`` or ``mlops-…`` (and the Logic Apps' own event
subscriptions ``LogicApp-lesson…``); ``cleanup`` deletes exactly those, through the same SDK clients
the lessons use, and nothing else in the resource group.
"""

from __future__ import annotations

from dataclasses import dataclass

LESSON_PREFIXES = ("lesson", "mlops-")


@dataclass
class Deleted:
    """One resource ``cleanup`` deleted (or would delete, with ``dry_run``)."""

    kind: str
    name: str


def _ours(name: str, prefixes: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return any(lowered.startswith(p) or lowered.startswith(f"logicapp-{p}") for p in prefixes)


def cleanup(target, *, prefixes: tuple[str, ...] = LESSON_PREFIXES, dry_run: bool = False) -> list[Deleted]:
    """Delete the lessons' event subscriptions (on the workspace, the resource group and the lessons' custom
    topics), custom topics, Logic Apps, API connections, data factories and online endpoints.

    ``dry_run=True`` lists them without deleting. Returns what was (or would be) deleted, sorted.
    """
    from azure.mgmt.datafactory import DataFactoryManagementClient
    from azure.mgmt.eventgrid import EventGridManagementClient
    from azure.mgmt.logic import LogicManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    rg, ws = target.resource_group, target.workspace_name
    found: list[tuple[Deleted, object]] = []

    eg = target.client(EventGridManagementClient)
    # Subscriptions on the workspace, on the resource group itself, and on the lessons' custom topics.
    scopes = [(target.workspace_id, eg.event_subscriptions.list_by_resource(
        rg, "Microsoft.MachineLearningServices", "workspaces", ws))]
    group = f"/subscriptions/{target.subscription_id}/resourceGroups/{rg}"
    scopes.append((group, [s for s in eg.event_subscriptions.list_global_by_resource_group(rg)
                           if (s.topic or "").lower() == group.lower()]))
    topics = [t for t in eg.topics.list_by_resource_group(rg) if _ours(t.name, prefixes)]
    for topic in topics:
        scopes.append((topic.id, eg.event_subscriptions.list_by_resource(rg, "Microsoft.EventGrid", "topics",
                                                                         topic.name)))
    for scope, subs in scopes:
        for sub in subs:
            if _ours(sub.name, prefixes) or scope in {t.id for t in topics}:
                found.append((Deleted("event subscription", sub.name),
                              lambda s=scope, n=sub.name: eg.event_subscriptions.begin_delete(s, n).result()))
    for topic in topics:
        found.append((Deleted("topic", topic.name),
                      lambda n=topic.name: eg.topics.begin_delete(rg, n).result()))
    logic = target.client(LogicManagementClient)
    for wf in logic.workflows.list_by_resource_group(rg):
        if _ours(wf.name, prefixes):
            found.append((Deleted("logic app", wf.name), lambda n=wf.name: logic.workflows.delete(rg, n)))
    rm = target.client(ResourceManagementClient)
    for res in rm.resources.list_by_resource_group(rg, filter="resourceType eq 'Microsoft.Web/connections'"):
        if _ours(res.name, prefixes):
            found.append((Deleted("api connection", res.name),
                          lambda i=res.id: rm.resources.begin_delete_by_id(i, api_version="2016-06-01").result()))
    adf = target.client(DataFactoryManagementClient)
    for factory in adf.factories.list_by_resource_group(rg):
        if _ours(factory.name, prefixes):
            found.append((Deleted("data factory", factory.name), lambda n=factory.name: adf.factories.delete(rg, n)))
    ml = target.ml_client()
    for endpoint in ml.online_endpoints.list():
        if _ours(endpoint.name, prefixes):
            found.append((Deleted("online endpoint", endpoint.name),
                          lambda n=endpoint.name: ml.online_endpoints.begin_delete(name=n).result()))

    found.sort(key=lambda item: (item[0].kind, item[0].name))
    if not dry_run:  # subscriptions before the topics they live on (the sort puts topics after them)
        for _, delete in found:
            delete()
    return [d for d, _ in found]

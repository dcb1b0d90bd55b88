"""Event Grid topic types the sandbox knows, with their event types (spec/eventgrid.md §1, §7)."""

from __future__ import annotations

from ....events.types import ALL_AML_EVENT_TYPES

WORKSPACES = "Microsoft.MachineLearningServices.Workspaces"
RESOURCE_GROUPS = "Microsoft.Resources.ResourceGroups"
SUBSCRIPTIONS = "Microsoft.Resources.Subscriptions"
CUSTOM_TOPICS = "Microsoft.EventGrid.Topics"

_RESOURCE_EVENTS = ("Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Resources.ResourceWriteFailure",
                    "Microsoft.Resources.ResourceWriteCancel", "Microsoft.Resources.ResourceDeleteSuccess",
                    "Microsoft.Resources.ResourceDeleteFailure", "Microsoft.Resources.ResourceDeleteCancel",
                    "Microsoft.Resources.ResourceActionSuccess", "Microsoft.Resources.ResourceActionFailure",
                    "Microsoft.Resources.ResourceActionCancel")

# name -> (provider, resource type display, description, region type, event types or None = any)
TOPIC_TYPES: dict[str, tuple[str, str, str, str, tuple[str, ...] | None]] = {
    WORKSPACES: ("Microsoft.MachineLearningServices", "Machine Learning Workspaces",
                 "Azure Machine Learning workspace events", "RegionalResource", ALL_AML_EVENT_TYPES),
    RESOURCE_GROUPS: ("Microsoft.Resources", "Resource Groups", "Resource group events", "GlobalResource",
                      _RESOURCE_EVENTS),
    SUBSCRIPTIONS: ("Microsoft.Resources", "Azure Subscriptions", "Azure subscription events", "GlobalResource",
                    _RESOURCE_EVENTS),
    CUSTOM_TOPICS: ("Microsoft.EventGrid", "Event Grid Topics", "Custom topics: any event type you publish",
                    "RegionalResource", None),
}
SOURCE_FORMATS = {
    WORKSPACES: "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
                "Microsoft.MachineLearningServices/workspaces/{workspaceName}",
    RESOURCE_GROUPS: "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}",
    SUBSCRIPTIONS: "/subscriptions/{subscriptionId}",
    CUSTOM_TOPICS: "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
                   "Microsoft.EventGrid/topics/{topicName}",
}


def canonical_topic_type(name: str) -> str | None:
    """Azure's spelling of a topic type name given in any casing; None if the sandbox does not know it."""
    for known in TOPIC_TYPES:
        if known.lower() == (name or "").lower():
            return known
    return None


def topic_type_of(scope: str) -> str:
    """The topic type of an ARM scope: ``/subscriptions/s`` → Microsoft.Resources.Subscriptions, etc."""
    parts = [p for p in scope.split("/") if p]
    if len(parts) == 2:
        return SUBSCRIPTIONS
    if len(parts) == 4:
        return RESOURCE_GROUPS
    # .../providers/{Namespace}/{type}/{name}[/{childType}/{childName}]
    i = max(i for i, p in enumerate(parts) if p.lower() == "providers")
    namespace, types = parts[i + 1], parts[i + 2::2]
    name = namespace + "." + ".".join(t[:1].upper() + t[1:] for t in types)
    return canonical_topic_type(name) or name


def event_types(topic_type: str) -> tuple[str, ...] | None:
    entry = TOPIC_TYPES.get(canonical_topic_type(topic_type) or "")
    return entry[4] if entry else None

"""The resource providers the sandbox knows, their resource types, and how a fresh sandbox starts."""

from __future__ import annotations

API = ["2025-04-01", "2024-11-01", "2021-04-01"]

# namespace -> (registration state in a fresh sandbox, resource types)
PROVIDERS: dict[str, tuple[str, list[str]]] = {
    "Microsoft.EventGrid": ("NotRegistered", [
        "eventSubscriptions", "systemTopics", "systemTopics/eventSubscriptions", "topics",
        "topics/eventSubscriptions", "topicTypes", "locations", "locations/eventSubscriptions",
        "locations/topicTypes", "operations", "operationsStatus", "operationResults"]),
    "Microsoft.MachineLearningServices": ("NotRegistered", [
        "workspaces", "workspaces/models", "workspaces/models/versions", "workspaces/jobs",
        "workspaces/onlineEndpoints", "workspaces/onlineEndpoints/deployments", "workspaces/datastores",
        "workspaces/codes", "workspaces/environments", "workspaces/computes", "locations",
        "operations"]),
    "Microsoft.Logic": ("Registered", [
        "workflows", "workflows/runs", "workflows/triggers", "locations", "operations"]),
    "Microsoft.Web": ("Registered", ["connections", "sites", "serverfarms", "operations"]),
    "Microsoft.DataFactory": ("Registered", [
        "factories", "factories/pipelines", "factories/pipelineruns", "operations"]),
    "Microsoft.Storage": ("Registered", ["storageAccounts", "operations"]),
    "Microsoft.Resources": ("Registered", ["resourceGroups", "subscriptions", "providers", "operations"]),
}

# Registering (or unregistering) a provider takes this long in sandbox time.
REGISTRATION_SECONDS = 2.0


def resource_types(namespace: str, locations: list[str]) -> list[dict]:
    _, types = PROVIDERS[namespace]
    return [{"resourceType": t, "locations": locations, "apiVersions": API if namespace == "Microsoft.Resources" else [],
             "capabilities": "SupportsTags, SupportsLocation"} for t in types]


def canonical(namespace: str) -> str | None:
    """The namespace as Azure spells it, from any casing; None if the sandbox does not know it."""
    for name in PROVIDERS:
        if name.lower() == namespace.lower():
            return name
    return None

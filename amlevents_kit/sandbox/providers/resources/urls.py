"""Routes of Microsoft.Resources: subscriptions, providers and resource groups."""

from __future__ import annotations

from ...arm.router import SUB, Route
from .responses import ResourcesResponses

NS = r"(?P<namespace>[^/]+)"


def routes(r: ResourcesResponses) -> list[Route]:
    group = SUB + r"/resourceGroups/(?P<resource_group>[^/]+)"
    return [
        Route("GET", r"/subscriptions", r.list_subscriptions),
        Route("GET", SUB, r.get_subscription),
        Route("GET", SUB + r"/locations", r.list_locations),
        Route("GET", SUB + r"/providers", r.list_providers),
        Route("GET", SUB + r"/providers/" + NS, r.get_provider),
        Route("POST", SUB + r"/providers/" + NS + r"/register", r.register),
        Route("POST", SUB + r"/providers/" + NS + r"/unregister", r.unregister),
        Route("GET", r"/providers", r.list_tenant_providers),
        Route("GET", r"/providers/" + NS, r.get_tenant_provider),
        Route("GET", SUB + r"/resourceGroups", r.list_groups),
        Route("GET", group, r.get_group),
        Route("HEAD", group, r.head_group),
        Route("GET", group + r"/resources", r.list_group_resources),
        Route("PUT", group, r.put_group),
        Route("DELETE", group, r.delete_group),
    ]

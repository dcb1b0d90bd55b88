"""Microsoft.Resources: the subscription, resource groups and resource-provider registration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import ResourcesBackend
from .responses import ResourcesResponses
from .urls import routes

if TYPE_CHECKING:
    from ...app import Sandbox


def setup(sandbox: "Sandbox") -> ResourcesBackend:
    backend = ResourcesBackend(sandbox)
    backend.seed()
    sandbox.router.add(routes(ResourcesResponses(backend)))
    sandbox.router.registration_check = backend.require_registered
    sandbox.operations.register(
        "resources.delete_group",
        on_succeeded=lambda op: sandbox.store.delete(op["resource_id"]))
    return backend

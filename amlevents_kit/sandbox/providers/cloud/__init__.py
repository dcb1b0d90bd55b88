"""The custom-cloud routes the real Azure CLI needs: cloud metadata, tenants and identity tokens.

With these, ``az cloud register --endpoint-resource-manager https://127.0.0.1:PORT/`` discovers the
sandbox, and ``az login --identity`` (managed identity) or ``az login --service-principal`` gets a
token from it. ``amlevents_kit.azcli`` computes the environment ``az`` needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import CloudBackend
from .responses import CloudResponses
from .urls import routes

if TYPE_CHECKING:
    from ...app import Sandbox


def setup(sandbox: "Sandbox") -> CloudBackend:
    backend = CloudBackend(sandbox)
    sandbox.router.add(routes(CloudResponses(backend)))
    return backend

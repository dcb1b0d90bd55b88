"""Microsoft.MachineLearningServices: the workspace, and what happens in it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import MLBackend
from .responses import MLResponses
from .urls import routes

if TYPE_CHECKING:
    from ...app import Sandbox


def setup(sandbox: "Sandbox") -> MLBackend:
    backend = MLBackend(sandbox)
    backend.seed()
    sandbox.router.add(routes(MLResponses(backend)))
    return backend

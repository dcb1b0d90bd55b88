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
    sandbox.router.add(backend.blobs.routes())
    sandbox.add_service("ml-jobs", lambda: _JobsService(backend))
    return backend


class _JobsService:
    """Ends the running jobs' processes when the sandbox closes."""

    def __init__(self, backend: MLBackend) -> None:
        self.backend = backend

    def start(self) -> None:
        self.backend.jobs._closing = False

    def stop(self) -> None:
        self.backend.jobs.stop()

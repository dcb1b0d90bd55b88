"""Microsoft.DataFactory: factories, pipelines and pipeline runs that really run (see runner.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import DataFactoryBackend
from .responses import DataFactoryResponses
from .urls import routes

if TYPE_CHECKING:
    from ...app import Sandbox


class _Runs:
    """A sandbox service so that closing the sandbox stops the pipeline runs' threads."""

    def __init__(self, backend: DataFactoryBackend) -> None:
        self.backend = backend

    def start(self) -> None:
        self.backend._closing = False

    def stop(self) -> None:
        self.backend.stop()


def setup(sandbox: "Sandbox") -> DataFactoryBackend:
    backend = DataFactoryBackend(sandbox)
    sandbox.router.add(routes(DataFactoryResponses(backend)))
    sandbox.add_service("datafactory-runs", lambda: _Runs(backend))
    return backend

"""Microsoft.MachineLearningServices on the wire."""

from __future__ import annotations

from ...arm.http import Request, Response
from .models import MLBackend


class MLResponses:
    def __init__(self, backend: MLBackend) -> None:
        self.backend = backend

    def get_workspace(self, request: Request, subscription: str, resource_group: str, workspace: str) -> Response:
        return Response(200, self.backend.get_workspace(subscription, resource_group, workspace))

    def list_workspaces(self, request: Request, subscription: str, resource_group: str | None = None) -> Response:
        return Response(200, {"value": self.backend.list_workspaces(subscription, resource_group)})

"""Routes of Microsoft.MachineLearningServices."""

from __future__ import annotations

from ...arm.router import RG, SUB, Route
from .responses import MLResponses

NS = "Microsoft.MachineLearningServices"
WS = RG + r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<workspace>[^/]+)"


def routes(r: MLResponses) -> list[Route]:
    return [
        Route("GET", WS, r.get_workspace, NS),
        Route("GET", RG + r"/providers/Microsoft\.MachineLearningServices/workspaces", r.list_workspaces, NS),
        Route("GET", SUB + r"/providers/Microsoft\.MachineLearningServices/workspaces", r.list_workspaces, NS),
    ]

"""Routes of Microsoft.DataFactory."""

from __future__ import annotations

from ...arm.router import RG, SUB, Route
from .responses import DataFactoryResponses

NS = "Microsoft.DataFactory"
F = RG + r"/providers/Microsoft\.DataFactory/factories/(?P<factory>[^/]+)"
KIND = r"/(?P<kind>pipelines|linkedservices|datasets)"


def routes(r: DataFactoryResponses) -> list[Route]:
    return [
        Route("GET", RG + r"/providers/Microsoft\.DataFactory/factories", r.list_factories, NS),
        Route("GET", SUB + r"/providers/Microsoft\.DataFactory/factories", r.list_factories, NS),
        Route("PUT", F, r.put_factory, NS),
        Route("GET", F, r.get_factory, NS),
        Route("DELETE", F, r.delete_factory, NS),
        Route("POST", F + r"/pipelines/(?P<name>[^/]+)/createRun", r.create_run, NS),
        Route("GET", F + KIND, r.list_children, NS),
        Route("PUT", F + KIND + r"/(?P<name>[^/]+)", r.put_child, NS),
        Route("GET", F + KIND + r"/(?P<name>[^/]+)", r.get_child, NS),
        Route("DELETE", F + KIND + r"/(?P<name>[^/]+)", r.delete_child, NS),
        Route("POST", F + r"/queryPipelineRuns", r.query_runs, NS),
        Route("GET", F + r"/pipelineruns/(?P<run>[^/]+)", r.get_run, NS),
        Route("POST", F + r"/pipelineruns/(?P<run>[^/]+)/cancel", r.cancel_run, NS),
        Route("POST", F + r"/pipelineruns/(?P<run>[^/]+)/queryActivityruns", r.query_activity_runs, NS),
    ]

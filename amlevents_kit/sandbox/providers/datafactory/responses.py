"""Microsoft.DataFactory on the wire (api-version 2018-06-01): PUTs answer 200, as the SDK requires."""

from __future__ import annotations

from ...arm.http import Request, Response
from .models import DataFactoryBackend


class DataFactoryResponses:
    def __init__(self, backend: DataFactoryBackend) -> None:
        self.backend = backend

    def _factory(self, subscription: str, resource_group: str, factory: str) -> dict:
        return self.backend.get_factory(subscription, resource_group, factory)

    # -- factories ------------------------------------------------------------------------------------
    def put_factory(self, request: Request, subscription: str, resource_group: str, factory: str) -> Response:
        return Response(200, self.backend.put_factory(subscription, resource_group, factory, request.json_object()))

    def get_factory(self, request: Request, subscription: str, resource_group: str, factory: str) -> Response:
        return Response(200, self._factory(subscription, resource_group, factory))

    def list_factories(self, request: Request, subscription: str, resource_group: str | None = None) -> Response:
        return Response(200, {"value": self.backend.list_factories(subscription, resource_group)})

    def delete_factory(self, request: Request, subscription: str, resource_group: str, factory: str) -> Response:
        return Response(200 if self.backend.delete_factory(subscription, resource_group, factory) else 204)

    # -- pipelines, linked services, datasets -------------------------------------------------------------
    def put_child(self, request: Request, subscription: str, resource_group: str, factory: str, kind: str,
                  name: str) -> Response:
        f = self._factory(subscription, resource_group, factory)
        return Response(200, self.backend.put_child(f, kind.lower(), name, request.json_object()))

    def get_child(self, request: Request, subscription: str, resource_group: str, factory: str, kind: str,
                  name: str) -> Response:
        return Response(200, self.backend.get_child(self._factory(subscription, resource_group, factory),
                                                    kind.lower(), name))

    def list_children(self, request: Request, subscription: str, resource_group: str, factory: str,
                      kind: str) -> Response:
        f = self._factory(subscription, resource_group, factory)
        return Response(200, {"value": self.backend.list_children(f, kind.lower())})

    def delete_child(self, request: Request, subscription: str, resource_group: str, factory: str, kind: str,
                     name: str) -> Response:
        f = self._factory(subscription, resource_group, factory)
        return Response(200 if self.backend.delete_child(f, kind.lower(), name) else 204)

    # -- runs -------------------------------------------------------------------------------------------
    def create_run(self, request: Request, subscription: str, resource_group: str, factory: str,
                   name: str) -> Response:
        f = self._factory(subscription, resource_group, factory)
        params = request.json(required=False) if request.body.strip() else {}
        return Response(200, {"runId": self.backend.create_run(f, name, params)})

    def get_run(self, request: Request, subscription: str, resource_group: str, factory: str, run: str) -> Response:
        return Response(200, self.backend.get_run(self._factory(subscription, resource_group, factory), run))

    def cancel_run(self, request: Request, subscription: str, resource_group: str, factory: str, run: str) -> Response:
        self.backend.cancel_run(self._factory(subscription, resource_group, factory), run)
        return Response(200)

    def query_runs(self, request: Request, subscription: str, resource_group: str, factory: str) -> Response:
        f = self._factory(subscription, resource_group, factory)
        return Response(200, {"value": self.backend.query_runs(f, request.json_object(required=False))})

    def query_activity_runs(self, request: Request, subscription: str, resource_group: str, factory: str,
                            run: str) -> Response:
        f = self._factory(subscription, resource_group, factory)
        return Response(200, {"value": self.backend.activity_runs(f, run)})

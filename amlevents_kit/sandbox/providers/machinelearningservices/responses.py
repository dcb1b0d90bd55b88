"""Microsoft.MachineLearningServices on the wire."""

from __future__ import annotations

from ...arm.errors import invalid_value
from ...arm.http import Request, Response
from . import validation as shapes
from .models import MLBackend


def _page(items: list) -> Response:
    return Response(200, {"value": items, "nextLink": None})


def _int(request: Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise invalid_value(name, value, "an integer") from None


def _body(request: Request, shape: shapes.Rule, *, required: bool = True) -> dict:
    """The request's JSON object, checked against the shape of what the operation reads (400 if it does not fit)."""
    body = request.json_object(required=required)
    shapes.check(body, shape)
    return body


class MLResponses:
    def __init__(self, backend: MLBackend) -> None:
        self.backend = backend
        self.assets = backend.assets
        self.jobs = backend.jobs
        self.endpoints = backend.endpoints

    # -- workspace ----------------------------------------------------------------------------------
    def get_workspace(self, request: Request, subscription: str, resource_group: str, workspace: str) -> Response:
        return Response(200, self.backend.get_workspace(subscription, resource_group, workspace))

    def list_workspaces(self, request: Request, subscription: str, resource_group: str | None = None) -> Response:
        return Response(200, {"value": self.backend.list_workspaces(subscription, resource_group)})

    def _ws(self, subscription: str, resource_group: str, workspace: str) -> None:
        self.backend.get_workspace(subscription, resource_group, workspace)

    # -- datastores ---------------------------------------------------------------------------------
    def get_datastore(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.assets.datastore(name))

    def list_datastores(self, request: Request, **ws: str) -> Response:
        self._ws(**ws)
        views = self.assets.datastores()
        if request.query.get("isDefault") == "true":
            views = [d for d in views if d["properties"]["isDefault"]]
        return _page(views)

    def list_secrets(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.assets.list_secrets(name))

    # -- models -------------------------------------------------------------------------------------
    def list_model_containers(self, request: Request, **ws: str) -> Response:
        self._ws(**ws)
        return _page(self.assets.list_containers(request.query.get("listViewType") or "ActiveOnly"))

    def get_model_container(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.assets.get_container(name))

    def put_model_container(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        body, created = self.assets.put_container(name, _body(request, shapes.MODEL_CONTAINER))
        return Response(201 if created else 200, body)

    def list_model_versions(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        q = request.query
        return _page(self.assets.list_versions(
            name, view=q.get("listViewType") or "ActiveOnly", order_by=q.get("$orderBy"), top=_int(request, "$top"),
            skip=_int(request, "$skip") or 0, version=q.get("version"), tags=q.get("tags")))

    def get_model_version(self, request: Request, name: str, version: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.assets.get_version(name, version))

    def put_model_version(self, request: Request, name: str, version: str, **ws: str) -> Response:
        self._ws(**ws)
        body, created = self.assets.put_version(name, version, _body(request, shapes.MODEL_VERSION))
        if created:
            self.backend.model_registered(body, name)
        return Response(201 if created else 200, body)

    def delete_model_version(self, request: Request, name: str, version: str, **ws: str) -> Response:
        self._ws(**ws)
        self.assets.delete_version(name, version)
        return Response(200, None)

    # -- code and environments ----------------------------------------------------------------------
    def list_code_versions(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return _page(self.assets.list_code_versions(name, request.query.get("hash")))

    def get_code_version(self, request: Request, name: str, version: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.assets.get_code_version(name, version))

    def put_code_version(self, request: Request, name: str, version: str, **ws: str) -> Response:
        self._ws(**ws)
        body, created = self.assets.put_code_version(name, version, _body(request, shapes.CODE_VERSION))
        return Response(201 if created else 200, body)

    def start_pending_upload(self, request: Request, name: str, version: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.assets.start_pending_upload(name, version))

    def get_environment_version(self, request: Request, name: str, version: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.assets.environment_version(name, version))

    def list_environment_versions(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return _page([self.assets.environment_version(name, "1")])

    # -- jobs ---------------------------------------------------------------------------------------
    def put_job(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        body, created = self.jobs.submit(name, _body(request, shapes.JOB))
        return Response(201 if created else 200, body)

    def get_job(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.jobs.get(name))

    def list_jobs(self, request: Request, **ws: str) -> Response:
        self._ws(**ws)
        return _page(self.jobs.list(request.query.get("listViewType") or "ActiveOnly"))

    def cancel_job(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        self.jobs.cancel(name)
        return self.backend.sandbox.operations.start(request, subscription=ws["subscription"],
                                                     namespace="Microsoft.MachineLearningServices",
                                                     resource_id=self.jobs.job_id(name), kind="ml-job-cancel",
                                                     status=202)

    # -- online endpoints ----------------------------------------------------------------------------
    def put_endpoint(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return self.endpoints.put_endpoint(request, ws["subscription"], name, _body(request, shapes.ENDPOINT))

    def patch_endpoint(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return self.endpoints.patch_endpoint(request, ws["subscription"], name, _body(request, shapes.ENDPOINT))

    def get_endpoint(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.endpoints.get_endpoint(name))

    def list_endpoints(self, request: Request, **ws: str) -> Response:
        self._ws(**ws)
        return _page(self.endpoints.list_endpoints())

    def delete_endpoint(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return self.endpoints.delete_endpoint(request, ws["subscription"], name)

    def list_keys(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.endpoints.keys(name))

    def regenerate_keys(self, request: Request, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return self.endpoints.regenerate_keys(request, ws["subscription"], name,
                                              _body(request, shapes.REGENERATE_KEYS))

    def put_deployment(self, request: Request, endpoint: str, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return self.endpoints.put_deployment(request, ws["subscription"], endpoint, name,
                                             _body(request, shapes.DEPLOYMENT))

    def patch_deployment(self, request: Request, endpoint: str, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return self.endpoints.patch_deployment(request, ws["subscription"], endpoint, name,
                                               _body(request, shapes.DEPLOYMENT))

    def get_deployment(self, request: Request, endpoint: str, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return Response(200, self.endpoints.get_deployment(endpoint, name))

    def list_deployments(self, request: Request, endpoint: str, **ws: str) -> Response:
        self._ws(**ws)
        return _page(self.endpoints.list_deployments(endpoint))

    def delete_deployment(self, request: Request, endpoint: str, name: str, **ws: str) -> Response:
        self._ws(**ws)
        return self.endpoints.delete_deployment(request, ws["subscription"], endpoint, name)

    def deployment_logs(self, request: Request, endpoint: str, name: str, **ws: str) -> Response:
        self._ws(**ws)
        tail = _body(request, shapes.GET_LOGS, required=False).get("tail")
        return Response(200, {"content": self.endpoints.logs(endpoint, name, tail)})

    def discovery(self, request: Request) -> Response:
        """The workspace's service discovery: every data-plane service is the sandbox itself."""
        base = request.base_url
        services = ("api", "catalog", "experimentation", "gallery", "history", "hyperdrive", "labeling",
                    "modelmanagement", "pipelines")
        return Response(200, {**{s: base for s in services}, "studiohostUrl": "https://ml.azure.com"})

    def run_details(self, request: Request, subscription: str, resource_group: str, workspace: str,
                    run: str) -> Response:
        self._ws(subscription, resource_group, workspace)
        return Response(200, self.jobs.run_details(run))

    def score(self, request: Request, endpoint: str) -> Response:
        """In-process or over the sandbox server: pass the call on to the real scoring server."""
        return self.endpoints.forward_score(endpoint, request)

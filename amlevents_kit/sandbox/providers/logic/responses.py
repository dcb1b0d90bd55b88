"""Microsoft.Logic on the wire: requests to backend calls, results to ARM bodies."""

from __future__ import annotations

from ...arm.http import Request, Response
from .models import LogicBackend, public


class LogicResponses:
    def __init__(self, backend: LogicBackend) -> None:
        self.backend = backend

    def _wf(self, subscription: str, resource_group: str, workflow: str) -> dict:
        return self.backend.get(subscription, resource_group, workflow)

    # -- workflows ------------------------------------------------------------------------------------
    def put_workflow(self, request: Request, subscription: str, resource_group: str, workflow: str) -> Response:
        body, created = self.backend.create_or_update(request.base_url, subscription, resource_group, workflow,
                                                      request.json_object())
        return Response(201 if created else 200, public(body))

    def get_workflow(self, request: Request, subscription: str, resource_group: str, workflow: str) -> Response:
        return Response(200, public(self._wf(subscription, resource_group, workflow)))

    def delete_workflow(self, request: Request, subscription: str, resource_group: str, workflow: str) -> Response:
        return Response(200 if self.backend.delete(subscription, resource_group, workflow) else 204)

    def list_workflows(self, request: Request, subscription: str, resource_group: str | None = None) -> Response:
        return Response(200, {"value": [public(b) for b in self.backend.list(subscription, resource_group)]})

    def enable(self, request: Request, subscription: str, resource_group: str, workflow: str) -> Response:
        self.backend.set_state(subscription, resource_group, workflow, "Enabled")
        return Response(200)

    def disable(self, request: Request, subscription: str, resource_group: str, workflow: str) -> Response:
        self.backend.set_state(subscription, resource_group, workflow, "Disabled")
        return Response(200)

    # -- triggers -------------------------------------------------------------------------------------
    def list_triggers(self, request: Request, subscription: str, resource_group: str, workflow: str) -> Response:
        return Response(200, {"value": self.backend.triggers(self._wf(subscription, resource_group, workflow))})

    def get_trigger(self, request: Request, subscription: str, resource_group: str, workflow: str,
                    trigger: str) -> Response:
        return Response(200, self.backend.trigger(self._wf(subscription, resource_group, workflow), trigger))

    def callback_url(self, request: Request, subscription: str, resource_group: str, workflow: str,
                     trigger: str) -> Response:
        return Response(200, self.backend.callback_url(self._wf(subscription, resource_group, workflow), trigger))

    def list_histories(self, request: Request, subscription: str, resource_group: str, workflow: str,
                       trigger: str) -> Response:
        wf = self._wf(subscription, resource_group, workflow)
        self.backend.trigger(wf, trigger)
        return Response(200, {"value": self.backend.histories(wf, trigger)})

    def get_history(self, request: Request, subscription: str, resource_group: str, workflow: str, trigger: str,
                    history: str) -> Response:
        return Response(200, self.backend.history(self._wf(subscription, resource_group, workflow), trigger, history))

    # -- runs -----------------------------------------------------------------------------------------
    def list_runs(self, request: Request, subscription: str, resource_group: str, workflow: str) -> Response:
        return Response(200, {"value": self.backend.runs(self._wf(subscription, resource_group, workflow))})

    def get_run(self, request: Request, subscription: str, resource_group: str, workflow: str, run: str) -> Response:
        return Response(200, self.backend.run(self._wf(subscription, resource_group, workflow), run))

    def list_actions(self, request: Request, subscription: str, resource_group: str, workflow: str,
                     run: str) -> Response:
        items = self.backend.actions(self._wf(subscription, resource_group, workflow), run)
        return Response(200, {"value": [public(a) for a in items]})

    def get_action(self, request: Request, subscription: str, resource_group: str, workflow: str, run: str,
                   action: str) -> Response:
        return Response(200, public(self.backend.action(self._wf(subscription, resource_group, workflow), run, action)))

    # -- data plane -----------------------------------------------------------------------------------
    def invoke(self, request: Request, key: str, trigger: str) -> Response:
        body = request.json(required=False) if request.body.strip() else None
        status, answer = self.backend.invoke(key, trigger, request.query.get("sig"), body, dict(request.headers))
        return Response(status, answer)

    def invoke_options(self, request: Request, key: str, trigger: str) -> Response:
        """The CloudEvents abuse-protection handshake: allow the origin that asks."""
        origin = request.headers.get("WebHook-Request-Origin") or "*"
        return Response(200, None, {"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*",
                                    "Allow": "POST, OPTIONS"})

    def content(self, request: Request, key: str) -> Response:
        return Response(200, self.backend.content(key), {"Content-Type": "application/json; charset=utf-8"})

    # -- Microsoft.Web/connections ----------------------------------------------------------------------
    def put_connection(self, request: Request, subscription: str, resource_group: str, name: str) -> Response:
        body, created = self.backend.put_connection(subscription, resource_group, name, request.json_object())
        return Response(201 if created else 200, body)

    def get_connection(self, request: Request, subscription: str, resource_group: str, name: str) -> Response:
        return Response(200, self.backend.get_connection(subscription, resource_group, name))

    def list_connections(self, request: Request, subscription: str, resource_group: str) -> Response:
        return Response(200, {"value": self.backend.list_connections(subscription, resource_group)})

    def delete_connection(self, request: Request, subscription: str, resource_group: str, name: str) -> Response:
        return Response(200 if self.backend.delete_connection(subscription, resource_group, name) else 204)

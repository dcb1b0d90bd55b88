"""Microsoft.Resources on the wire: requests to backend calls, results to ARM bodies."""

from __future__ import annotations

from ...arm.http import Request, Response
from .models import ResourcesBackend


class ResourcesResponses:
    def __init__(self, backend: ResourcesBackend) -> None:
        self.backend = backend

    def list_subscriptions(self, request: Request) -> Response:
        from ... import defaults
        return Response(200, {"value": [self.backend.subscription(defaults.SUBSCRIPTION_ID)]})

    def get_subscription(self, request: Request, subscription: str) -> Response:
        return Response(200, self.backend.subscription(subscription))

    def list_locations(self, request: Request, subscription: str) -> Response:
        from ... import defaults
        self.backend.subscription(subscription)
        return Response(200, {"value": [{
            "id": f"/subscriptions/{subscription}/locations/{defaults.LOCATION}", "name": defaults.LOCATION,
            "displayName": defaults.LOCATION_DISPLAY, "regionalDisplayName": f"(US) {defaults.LOCATION_DISPLAY}",
            "metadata": {"regionType": "Physical", "geographyGroup": "US"}}]})

    def list_providers(self, request: Request, subscription: str) -> Response:
        return Response(200, {"value": self.backend.providers(subscription)})

    def get_provider(self, request: Request, subscription: str, namespace: str) -> Response:
        return Response(200, self.backend.provider(subscription, namespace))

    def register(self, request: Request, subscription: str, namespace: str) -> Response:
        return Response(200, self.backend.register(subscription, namespace))

    def unregister(self, request: Request, subscription: str, namespace: str) -> Response:
        return Response(200, self.backend.unregister(subscription, namespace))

    def list_tenant_providers(self, request: Request) -> Response:
        from ... import defaults
        return Response(200, {"value": self.backend.providers(defaults.SUBSCRIPTION_ID)})

    def get_tenant_provider(self, request: Request, namespace: str) -> Response:
        from ... import defaults
        body = self.backend.provider(defaults.SUBSCRIPTION_ID, namespace)
        body.pop("registrationState", None)
        body["id"] = f"/providers/{body['namespace']}"
        return Response(200, body)

    def list_groups(self, request: Request, subscription: str) -> Response:
        return Response(200, {"value": self.backend.list_groups(subscription)})

    def get_group(self, request: Request, subscription: str, resource_group: str) -> Response:
        return Response(200, self.backend.get_group(subscription, resource_group))

    def list_group_resources(self, request: Request, subscription: str, resource_group: str) -> Response:
        import re
        wanted = None
        flt = request.query.get("$filter") or ""
        if flt:
            match = re.fullmatch(r"\s*resourceType\s+eq\s+'([^']+)'\s*", flt, re.IGNORECASE)
            if not match:
                from ...arm.errors import invalid_value
                raise invalid_value("$filter", flt, "resourceType eq '<Namespace>/<type>' (the sandbox's subset)")
            wanted = match.group(1)
        return Response(200, {"value": self.backend.list_group_resources(subscription, resource_group, wanted)})

    def head_group(self, request: Request, subscription: str, resource_group: str) -> Response:
        exists = self.backend.store.get(self.backend.group_id(subscription, resource_group)) is not None
        return Response(204 if exists else 404)

    def put_group(self, request: Request, subscription: str, resource_group: str) -> Response:
        body, created = self.backend.create_or_update_group(subscription, resource_group, request.json_object())
        return Response(201 if created else 200, body)

    def delete_group(self, request: Request, subscription: str, resource_group: str) -> Response:
        from ... import defaults
        self.backend.get_group(subscription, resource_group)
        rid = self.backend.group_id(defaults.SUBSCRIPTION_ID, resource_group)
        return self.backend.sandbox.operations.start(
            request, subscription=defaults.SUBSCRIPTION_ID, namespace="Microsoft.Resources", resource_id=rid,
            kind="resources.delete_group", status=202)

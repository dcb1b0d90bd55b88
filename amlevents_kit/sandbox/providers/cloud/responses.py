"""The custom-cloud routes on the wire: query parameters and forms in, JSON documents out."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from ...arm.http import Request, Response
from .exceptions import missing_parameter, unsupported_grant
from .models import APP_ID, CloudBackend


class CloudResponses:
    def __init__(self, backend: CloudBackend) -> None:
        self.backend = backend

    def metadata(self, request: Request) -> Response:
        return Response(200, self.backend.metadata(request.base_url))

    def tenants(self, request: Request) -> Response:
        return Response(200, {"value": self.backend.tenants()})

    def msi_token(self, request: Request) -> Response:
        """Managed identity, App Service flavour (``X-IDENTITY-HEADER``) or Azure ML flavour (``secret``)."""
        if "X-IDENTITY-HEADER" not in request.headers and "secret" not in request.headers:
            raise missing_parameter("X-IDENTITY-HEADER header",
                                    "the value of $IDENTITY_HEADER (or 'secret': the value of $MSI_SECRET)")
        resource = request.query.get("resource")
        if not resource:
            raise missing_parameter("resource query parameter", "the audience, e.g. https://management.core.windows.net/")
        token, expires = self.backend.access_token(resource, issuer=f"{request.base_url}/msi")
        return Response(200, {"access_token": token, "expires_on": str(expires), "resource": resource,
                              "token_type": "Bearer", "client_id": APP_ID})

    def openid_configuration(self, request: Request, tenant: str) -> Response:
        return Response(200, self.backend.openid_configuration(request.base_url, tenant))

    def token(self, request: Request, tenant: str) -> Response:
        """OAuth 2.0 client-credentials grant, as a service-principal login posts it."""
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise unsupported_grant(grant)
        scope = form.get("scope", "")
        if not scope:
            raise missing_parameter("scope form field", "e.g. https://management.core.windows.net//.default")
        audience = scope.split()[0].removesuffix("/.default")
        token, expires = self.backend.access_token(audience, issuer=f"{request.base_url}/{tenant}/v2.0")
        lifetime = expires - int(time.time())
        return Response(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                              "access_token": token})

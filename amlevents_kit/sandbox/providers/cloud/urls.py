"""Routes of the custom cloud: metadata, tenants, managed-identity and service-principal tokens."""

from __future__ import annotations

from ...arm.router import Route
from .responses import CloudResponses

TENANT = r"/(?P<tenant>[^/]+)"


def routes(r: CloudResponses) -> list[Route]:
    return [
        # "/+": `az cloud register` sends //metadata/endpoints when the ARM URL ends with "/".
        Route("GET", r"/+metadata/endpoints", r.metadata, arm=False),
        Route("GET", r"/tenants", r.tenants),
        Route("GET", r"/msi/token", r.msi_token, arm=False),
        Route("GET", TENANT + r"/v2\.0/\.well-known/openid-configuration", r.openid_configuration, arm=False),
        Route("POST", TENANT + r"/oauth2/v2\.0/token", r.token, arm=False),
    ]

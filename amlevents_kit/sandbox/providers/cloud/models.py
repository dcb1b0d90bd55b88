"""What the custom-cloud routes answer: the metadata document, the tenant and unsigned tokens."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from ... import defaults

if TYPE_CHECKING:
    from ...app import Sandbox

CLOUD_NAME = "AmleventsSandbox"
AUDIENCE = "https://management.core.windows.net/"  # the ARM audience every Azure cloud uses
APP_ID = "0b5f4f9c-5c38-4d8c-9d36-0a4c1f7e2b11"     # the sandbox identity's client (application) id
OBJECT_ID = "3c1e9a57-2f64-4b0e-8d2a-6e5f4a3b2c1d"  # its object (principal) id
TOKEN_SECONDS = 3600


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


class CloudBackend:
    """Answers what a client needs to treat the sandbox as an Azure cloud of its own."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox

    def metadata(self, base_url: str) -> dict[str, Any]:
        """The ``/metadata/endpoints`` document ``az cloud register`` reads (api-version 2022-09-01 shape)."""
        return {
            "name": CLOUD_NAME,
            "resourceManager": base_url + "/",
            "portal": base_url + "/",
            "authentication": {"loginEndpoint": base_url, "audiences": [AUDIENCE],
                               "tenant": "common", "identityProvider": "AAD"},
            "suffixes": {},
        }

    def tenants(self) -> list[dict[str, Any]]:
        """The one tenant the sandbox's subscription belongs to."""
        tid = defaults.TENANT_ID
        return [{"id": f"/tenants/{tid}", "tenantId": tid, "tenantCategory": "Home", "countryCode": "US",
                 "displayName": "amlevents-kit sandbox", "defaultDomain": "amlevents-sandbox.example",
                 "domains": ["amlevents-sandbox.example"], "tenantType": "AAD"}]

    def access_token(self, audience: str, *, issuer: str) -> tuple[str, int]:
        """An unsigned JWT for ``audience`` and its expiry (wall-clock seconds, as token caches compare).

        Nothing in the sandbox checks signatures; the Azure CLI only decodes the claims (it needs ``tid``).
        """
        now = int(time.time())
        expires = now + TOKEN_SECONDS
        claims = {"aud": audience, "iss": issuer, "iat": now, "nbf": now, "exp": expires,
                  "tid": defaults.TENANT_ID, "oid": OBJECT_ID, "sub": OBJECT_ID, "appid": APP_ID,
                  "idtyp": "app", "uti": uuid.uuid4().hex, "ver": "1.0"}
        header = {"typ": "JWT", "alg": "RS256", "kid": "amlevents-sandbox"}
        return f"{_b64(header)}.{_b64(claims)}.c2FuZGJveA", expires

    def openid_configuration(self, base_url: str, tenant: str) -> dict[str, Any]:
        """The OIDC discovery document MSAL reads before a service-principal login."""
        root = f"{base_url}/{tenant}"
        return {
            "issuer": f"{root}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base_url}/{tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "NA",
        }

"""Errors the identity routes answer, in the shapes the Azure CLI's libraries surface."""

from __future__ import annotations

from ...arm.errors import ArmError


def missing_parameter(name: str, allowed: str) -> ArmError:
    """400 naming the query parameter or header a token request left out."""
    return ArmError(400, "InvalidRequest", f"The token request needs '{name}': {allowed}.")


def unsupported_grant(grant_type: str) -> ArmError:
    """400 in the OAuth 2.0 words for a grant type the sandbox authority does not serve."""
    return ArmError(400, "unsupported_grant_type",
                    f"The grant type {grant_type!r} is not supported by the sandbox authority. "
                    "Allowed: client_credentials (service principal with a secret).")

"""ARM-shaped errors: every failure leaves the sandbox as ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error answered the way Azure Resource Manager answers it."""

    def __init__(self, status: int, code: str, message: str, *, details: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"({code}) {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def bad_request(message: str, code: str = "InvalidRequestContent") -> ArmError:
    """400: the request body or parameters are not what the operation accepts."""
    return ArmError(400, code, message)


def invalid_value(field: str, value: Any, allowed: str) -> ArmError:
    """400 naming the field, the value given and what is allowed."""
    return ArmError(400, "InvalidRequestContent",
                    f"The value {value!r} of '{field}' is invalid. Allowed: {allowed}.")


def missing_field(field: str) -> ArmError:
    """400 for a required property left out of the body."""
    return ArmError(400, "InvalidRequestContent", f"The required property '{field}' is missing.")


def not_found(resource_type: str, name: str, resource_group: str | None = None) -> ArmError:
    """404 in the words ARM uses for a resource that does not exist."""
    where = f" under resource group '{resource_group}'" if resource_group else ""
    return ArmError(404, "ResourceNotFound",
                    f"The Resource '{resource_type}/{name}'{where} was not found.")


def not_implemented(method: str, path: str, what: str | None = None, *, because: str = "") -> ArmError:
    """501 for an operation the sandbox does not emulate: never a silent success."""
    target = what or path
    return ArmError(501, "SandboxNotImplemented",
                    f"The amlevents-kit sandbox does not implement the operation '{method} {target}'"
                    f"{f' ({because})' if because else ''}. "
                    "It answers this error instead of pretending to succeed; see the README's "
                    "'What the sandbox emulates' section.")

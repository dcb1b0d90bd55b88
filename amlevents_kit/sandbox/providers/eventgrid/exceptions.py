"""Errors Microsoft.EventGrid answers, worded as Azure words them where we know the words."""

from __future__ import annotations

from typing import Any

from ...arm.errors import ArmError, invalid_value, missing_field, not_found  # noqa: F401  (re-exported)


def invalid_request(field: str, message: str, *, about: str = "event subscription") -> ArmError:
    """400 InvalidRequest naming the request field at fault (Event Grid's own error code).

    ``about`` names what the request is for ("topic", "system topic"), so a topic error does not
    read as an event subscription error.
    """
    return ArmError(400, "InvalidRequest", f"Invalid {about} request: {field}: {message}",
                    details=[{"code": "InvalidRequest", "target": field, "message": message}])


def invalid_topic(field: str, message: str, *, kind: str = "topic") -> ArmError:
    """400 InvalidRequest for a custom topic (or, with ``kind="system topic"``, a system topic)."""
    return invalid_request(field, message, about=kind)


def invalid_system_topic(field: str, message: str) -> ArmError:
    """400 InvalidRequest for a system topic."""
    return invalid_request(field, message, about="system topic")


def out_of_range(field: str, value: Any, low: int, high: int) -> ArmError:
    return invalid_request(field, f"the value {value!r} is out of range; allowed: an integer from {low} to {high}.")


def not_one_of(field: str, value: Any, allowed: list[str] | tuple[str, ...]) -> ArmError:
    return invalid_request(field, f"the value {value!r} is not allowed; allowed: {', '.join(allowed)}.")


def subscription_not_found(name: str) -> ArmError:
    return ArmError(404, "ResourceNotFound",
                    f"The Resource 'Microsoft.EventGrid/eventSubscriptions/{name}' under the given scope was not found.")


def topic_not_found(kind: str, name: str, resource_group: str) -> ArmError:
    return not_found(f"Microsoft.EventGrid/{kind}", name, resource_group)


def scope_not_found(scope: str) -> ArmError:
    return ArmError(404, "ResourceNotFound",
                    f"The scope '{scope}' of the event subscription does not exist in the sandbox: "
                    "create the resource first (or use the workspace, a resource group, the subscription, "
                    "a system topic or a custom topic).")


def handshake_failed(message: str) -> dict:
    """The LRO error of a failed validation handshake (Azure's code is literally 'Url validation')."""
    return {"code": "Url validation", "message": message}


def unauthorized(message: str) -> ArmError:
    return ArmError(401, "Unauthorized", message)

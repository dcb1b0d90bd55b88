"""The route table: which handler answers which method and path."""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from dataclasses import dataclass
from typing import Callable

from .errors import ArmError, not_implemented
from .http import Request, Response

log = logging.getLogger("amlevents_kit.sandbox")

# Path fragments shared by the providers' urls.py files.
SUB = r"/subscriptions/(?P<subscription>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<resource_group>[^/]+)"
NAME = r"(?P<name>[^/]+)"

Handler = Callable[..., Response]


@dataclass
class Route:
    """One route: a method, an anchored case-insensitive path pattern and its handler.

    ``namespace`` names the resource provider the route belongs to; for every such provider the router
    answers ``MissingSubscriptionRegistration`` to writes while it is not registered, as ARM does.
    ``arm`` routes require an ``api-version`` query parameter; data-plane routes do not.
    """

    method: str
    pattern: str
    handler: Handler
    namespace: str | None = None
    arm: bool = True

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.regex = re.compile("^" + self.pattern + "$", re.IGNORECASE)


class Router:
    """Dispatches requests to routes and turns every failure into an ARM error body."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.registration_check: Callable[[str, str, str], None] | None = None
        self.known_namespaces: set[str] = set()

    def add(self, routes: list[Route]) -> None:
        self.routes.extend(routes)
        for r in routes:
            if r.namespace:
                self.known_namespaces.add(r.namespace.lower())

    def dispatch(self, request: Request) -> Response:
        try:
            response = self._dispatch(request)
        except ArmError as err:
            response = Response(err.status, err.body(), dict(err.headers))
        except Exception as exc:  # a bug of ours: say so, in ARM's shape, and log the traceback
            log.error("sandbox error on %s %s\n%s", request.method, request.path, traceback.format_exc())
            response = Response(500, {"error": {"code": "InternalServerError",
                                                "message": f"The sandbox failed: {type(exc).__name__}: {exc}"}})
        response.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        response.headers.setdefault("x-ms-correlation-request-id",
                                    request.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4()))
        return response

    def _dispatch(self, request: Request) -> Response:
        namespace = _namespace_of(request.path)
        if (namespace and self.registration_check and request.method != "GET"
                and namespace.lower() in self.known_namespaces and _is_resource_path(request.path)):
            self.registration_check(_subscription_of(request.path), namespace, request.method)
        path_matched = False
        for route in self.routes:
            match = route.regex.match(request.path)
            if not match:
                continue
            path_matched = True
            if route.method != request.method:
                continue
            if route.arm and not request.api_version:
                raise ArmError(400, "MissingApiVersionParameter",
                               "The api-version query parameter (?api-version=) is required for all requests.")
            return route.handler(request, **match.groupdict())
        if path_matched and request.method not in ARM_METHODS:
            raise ArmError(405, "MethodNotAllowed",
                           f"The method '{request.method}' is not allowed on '{request.path}'.")
        namespace = _namespace_of(request.path)
        if namespace and not NAMESPACE.fullmatch(namespace):
            raise ArmError(400, "InvalidResourceNamespace",
                           f"The resource namespace '{namespace}' is invalid: expected a name such as "
                           "'Microsoft.EventGrid'.")
        if namespace and namespace.lower() not in self.known_namespaces:
            raise not_implemented(request.method, request.path,
                                  because=f"the sandbox does not emulate the resource provider {namespace}")
        raise not_implemented(request.method, request.path)


#: ARM's own methods: on a path the sandbox knows, one it has no handler for is not emulated (501),
#: since Azure may well allow it; anything else is not HTTP ARM speaks (405).
ARM_METHODS = frozenset({"GET", "PUT", "PATCH", "POST", "DELETE", "HEAD"})
#: A resource provider namespace as ARM spells them: Company.Service[.Sub…].
NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+")


def _namespace_of(path: str) -> str | None:
    """The resource provider a path belongs to: the one after its *last* ``/providers/``.

    ``…/workspaces/ws/providers/Microsoft.EventGrid/eventSubscriptions/x`` belongs to Event Grid.
    """
    parts = path.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i].lower() == "providers" and parts[i + 1]:
            return parts[i + 1]
    return None


def _is_resource_path(path: str) -> bool:
    """True for a resource or action under a provider, not the provider's own register/get routes."""
    parts = path.split("/")
    last = max(i for i, p in enumerate(parts) if p.lower() == "providers")
    return len(parts) - last - 2 >= 2


def _subscription_of(path: str) -> str:
    parts = path.split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""

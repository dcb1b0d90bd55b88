"""The sandbox's Event Grid data plane: the delivery engine, a service named "delivery".

Microsoft.EventGrid's provider calls ``install(sandbox)`` first in its ``setup()``, then hands
deliveries over with ``sandbox.service("delivery").submit(events, targets)``::

    engine = sandbox.service("delivery")
    engine.validate(subscription_body)       # ValidationResult("Succeeded" | "AwaitingManualAction" | "Failed", msg)
    engine.submit(events, [(subscription_body, matched_events)])
    sandbox.clock.advance(seconds=10); engine.pump()
    engine.stats()                           # published = delivered + dead_lettered + dropped + pending
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..arm.router import Route
from .engine import DeliveryEngine, ValidationResult
from .policy import RETRY_SCHEDULE, SettingsError, check_endpoint, retry_delay

if TYPE_CHECKING:
    from ..app import Sandbox

__all__ = ["install", "DeliveryEngine", "ValidationResult", "RETRY_SCHEDULE", "retry_delay", "check_endpoint",
           "SettingsError"]


def install(sandbox: "Sandbox", **options: Any) -> None:
    """Declare the "delivery" service and its manual-validation route on ``sandbox`` (idempotent).

    ``options`` go to ``DeliveryEngine`` (e.g. ``response_timeout=30``).
    """
    if "delivery" in getattr(sandbox, "_service_factories", {}):
        return  # already installed (Sandbox.reset() builds new factories and routes, so this re-runs)
    sandbox.add_service("delivery", lambda: DeliveryEngine(sandbox, **options))
    sandbox.router.add([Route(
        "GET", r"/eventsubscriptions/(?P<name>[^/]+)/validate",
        lambda request, name: sandbox.service("delivery").handle_validation_get(request, name), arm=False)])

"""Microsoft.EventGrid: event subscriptions (at the workspace and other scopes), system topics, custom topics.

The backend's ``publish(events)`` matches events to subscriptions and hands them to the delivery
engine; ``fire(event_type, **data)`` test-fires a workspace event (the sandbox's own helper).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import KIND, EventGridBackend
from .responses import EventGridResponses
from .urls import routes

if TYPE_CHECKING:
    from ...app import Sandbox


def setup(sandbox: "Sandbox") -> EventGridBackend:
    try:  # the delivery engine is its own package; it registers the "delivery" service
        from ...delivery import install
    except ImportError:
        install = None
    if install is not None:
        install(sandbox)
    backend = EventGridBackend(sandbox)
    sandbox.router.add(routes(EventGridResponses(backend)))
    sandbox.operations.register(KIND, completer=backend.complete_operation)
    return backend

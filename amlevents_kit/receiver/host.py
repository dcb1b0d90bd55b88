"""A local webhook endpoint for Event Grid deliveries: handshakes answered, events dispatched to functions.

The server is uvicorn + starlette on 127.0.0.1 in a background thread, so a notebook keeps running
while events arrive.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import numbers
import operator
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..events import SUBSCRIPTION_VALIDATION, EventValidationError, parse_events
from ..events.models import Event, preview
from ..events.types import event_type_name

log = logging.getLogger("amlevents_kit.receiver")

HOST = "127.0.0.1"
Handler = Callable[[Event], Any]


@dataclass
class Delivery:
    """One HTTP request the receiver answered: what came in and what it answered."""

    time: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = field(repr=False)
    events: list[Event] = field(default_factory=list, repr=False)
    status: int = 200
    error: str | None = None

    @property
    def kind(self) -> str:
        """``Notification``, ``SubscriptionValidation``, ``SubscriptionDeletion`` or ``OPTIONS``."""
        if self.method == "OPTIONS":
            return "OPTIONS"
        return self.headers.get("aeg-event-type", "Notification")


@dataclass
class _Failure:
    status: int | None
    delay: float
    times: int | None


class Receiver:
    """A webhook endpoint on 127.0.0.1 that completes Event Grid's handshakes and calls your functions::

        receiver = Receiver().start()

        @receiver.on(events.MODEL_REGISTERED)
        def handle(event):
            print(event.subject, event.data.model_name)

        receiver.url            # subscribe this endpoint
        receiver.received       # every event it accepted, duplicates included
        receiver.fail_with(500) # answer 500 until receiver.recover()
    """

    def __init__(self, *, path: str = "/api/events", port: int = 0, auto_validate: bool = True) -> None:
        if not isinstance(path, str) or not path.isprintable() or any(c in path for c in " ?#"):
            raise ValueError(f"path: expected a URL path like '/api/events', got {preview(path, 80)}")
        if _integer(port) is None or not 0 <= port <= 65535:
            raise ValueError(f"port: expected a TCP port from 0 (any free port) to 65535, got {preview(port, 80)}")
        self.path = "/" + path.strip("/")
        self.auto_validate = auto_validate
        self.received: list[Event] = []
        self.deliveries: list[Delivery] = []
        self.validation_urls: list[str] = []
        self._handlers: list[tuple[frozenset[str] | None, Handler]] = []
        self._failure: _Failure | None = None
        self._lock = threading.Condition()
        self._requested_port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port: int | None = None
        self.app = Starlette(routes=[Route("/{rest:path}", self._endpoint, methods=["POST", "OPTIONS", "GET"])])

    # -- handlers --------------------------------------------------------------------------------
    def on(self, event_type: str | Iterable[str] | None = None) -> Callable[[Handler], Handler]:
        """Decorator: call the function with each event of ``event_type`` (one, several, or all if None)."""
        if event_type is None:
            types = None
        elif isinstance(event_type, str) or not isinstance(event_type, Iterable):
            types = frozenset({event_type_name(event_type)})
        else:
            types = frozenset(event_type_name(t) for t in event_type)

        def register(fn: Handler) -> Handler:
            if not callable(fn):
                raise TypeError(f"on(): expected a function, got {type(fn).__name__}")
            self._handlers.append((types, fn))
            return fn
        return register

    @property
    def handlers(self) -> list[tuple[frozenset[str] | None, Handler]]:
        return list(self._handlers)

    # -- misbehaving on purpose ----------------------------------------------------------------------
    def fail_with(self, status: int | None = 500, *, times: int | None = None, delay: float = 0.0) -> None:
        """Answer notifications with ``status`` (after ``delay`` seconds), for ``times`` requests or until
        ``recover()``. ``fail_with(None, delay=40)`` answers late instead (past Event Grid's 30 s timeout)."""
        if status is not None and (_integer(status) is None or not 100 <= status <= 599):
            raise ValueError(f"status: expected an HTTP status code from 100 to 599, got {preview(status, 80)}")
        if isinstance(delay, bool) or not isinstance(delay, numbers.Real) or not 0 <= delay < math.inf:
            raise ValueError(f"delay: expected seconds >= 0, got {preview(delay, 80)}")
        if times is not None and (_integer(times) is None or times < 1):
            raise ValueError(f"times: expected a count >= 1 or None, got {preview(times, 80)}")
        with self._lock:
            self._failure = _Failure(status, float(delay), times)

    def recover(self) -> None:
        """Answer normally again."""
        with self._lock:
            self._failure = None

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            failure = self._failure
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failure = None
            return failure

    # -- the endpoint --------------------------------------------------------------------------------
    async def _endpoint(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if request.method == "OPTIONS":
            origin = headers.get("webhook-request-origin")
            self._record(Delivery(time.time(), "OPTIONS", request.url.path, headers, b"", status=200))
            if origin and self.auto_validate:
                return Response(status_code=200, headers={"WebHook-Allowed-Origin": origin, "Allow": "POST"})
            return Response(status_code=200, headers={"Allow": "POST"})
        if request.method == "GET":
            return JSONResponse({"receiver": "amlevents-kit", "received": len(self.received)})
        body = await request.body()
        try:
            events = parse_events(body)
        except (EventValidationError, RecursionError) as exc:  # RecursionError: JSON nested too deep
            message = str(exc) if isinstance(exc, EventValidationError) else "body: JSON nested too deeply"
            self._record(Delivery(time.time(), "POST", request.url.path, headers, body, status=400, error=message))
            return JSONResponse({"error": message}, status_code=400)
        if headers.get("aeg-event-type") == "SubscriptionValidation" or (
                len(events) == 1 and events[0].type == SUBSCRIPTION_VALIDATION):
            if len(events) != 1 or events[0].type != SUBSCRIPTION_VALIDATION:
                message = ("body: a SubscriptionValidation delivery holds exactly one "
                           f"{SUBSCRIPTION_VALIDATION}, got {len(events)} event(s)")
                self._record(Delivery(time.time(), "POST", request.url.path, headers, body, events, status=400,
                                      error=message))
                return JSONResponse({"error": message}, status_code=400)
            return self._validation(request.url.path, headers, body, events)
        failure = self._take_failure()
        if failure is not None:
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status is not None:
                self._record(Delivery(time.time(), "POST", request.url.path, headers, body, events,
                                      status=failure.status, error="failing on purpose (fail_with)"))
                return Response(status_code=failure.status)
        error = None
        for event in events:
            for types, fn in self._handlers:
                if types is None or event.type in types:
                    try:
                        result = fn(event)
                        if inspect.isawaitable(result):
                            await result
                    except Exception as exc:  # the handler failed: answer 500 so Event Grid retries
                        log.exception("handler %s failed on event %s", getattr(fn, "__name__", fn), event.id)
                        error = f"{getattr(fn, '__name__', 'handler')} raised {type(exc).__name__}: {exc}"
        status = 500 if error else 200
        self._record(Delivery(time.time(), "POST", request.url.path, headers, body, events, status=status,
                              error=error), accepted=not error)
        return Response(status_code=status)

    def _validation(self, path: str, headers: dict, body: bytes, events: list[Event]) -> Response:
        data = events[0].data
        code = getattr(data, "validation_code", None)
        url = getattr(data, "validation_url", None)
        if url:
            self.validation_urls.append(url)
        self._record(Delivery(time.time(), "POST", path, headers, body, events, status=200))
        if self.auto_validate and code:
            return JSONResponse({"validationResponse": code})
        return Response(status_code=200)

    def _record(self, delivery: Delivery, *, accepted: bool = False) -> None:
        with self._lock:
            self.deliveries.append(delivery)
            if accepted:
                self.received.extend(delivery.events)
            self._lock.notify_all()

    # -- waiting and reading ------------------------------------------------------------------------
    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` events were received (True) or ``timeout`` seconds passed (False)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def notifications(self) -> list[Delivery]:
        """The notification requests (not handshakes), answered or failed."""
        return [d for d in self.deliveries if d.kind == "Notification"]

    def clear(self) -> None:
        """Forget what was received (the handlers stay)."""
        with self._lock:
            self.received.clear()
            self.deliveries.clear()
            self.validation_urls.clear()

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The endpoint URL to subscribe (``http://127.0.0.1:PORT/api/events``)."""
        if self.port is None:
            raise RuntimeError("The receiver is not started: call receiver.start() first.")
        return f"http://{HOST}:{self.port}{self.path}"

    def start(self) -> "Receiver":
        """Serve on 127.0.0.1 in a background thread (idempotent); returns the receiver."""
        if self._thread is not None:
            return self
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self._requested_port))
        sock.listen(1024)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_keep_alive=30, backlog=1024)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"receiver-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The receiver could not start on {HOST}:{self.port}.")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (the port is released)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self.port = None

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the sandbox and Azure Functions ------------------------------------------------------------
    def register_function(self, target: Any, resource_id: str) -> None:
        """Let this receiver answer for an ``AzureFunction`` destination (a Microsoft.Web/sites/functions id)."""
        sandbox = getattr(target, "sandbox", target)
        sandbox.service("delivery").register_function(resource_id, self.url)

    def export_function_app(self, folder: str | Path, *, app_name: str | None = None) -> Path:
        """Write the registered handlers as an Azure Functions app (EventGridTrigger) into ``folder``."""
        from .export import export_function_app

        if not self._handlers:
            raise ValueError("export_function_app: no handler registered; decorate one with receiver.on(...)")
        return export_function_app(self._handlers, folder, app_name=app_name)

    def __repr__(self) -> str:
        where = self.url if self.port else "not started"
        return f"<Receiver {where}: {len(self.received)} event(s) received>"


def _integer(value: Any) -> int | None:
    """The int of an integer argument (numpy ints too), None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def summary(deliveries: list[Delivery]) -> str:
    """A one-line-per-request text of what a receiver saw (for notebooks)."""
    lines = []
    for d in deliveries:
        names = ", ".join(e.type.rsplit(".", 1)[-1] for e in d.events) or "-"
        lines.append(f"{d.kind:<22} {d.status} count={d.headers.get('aeg-delivery-count', '-')} {names}")
    return "\n".join(lines)

"""Long-running operations answered the way ARM's pollers expect.

A PUT or DELETE that takes time answers 201/202 with an ``Azure-AsyncOperation`` URL and
``retry-after-ms``; polling that URL returns ``InProgress`` until the operation ends. What ends an
operation is its *kind*: a provider registers a completer per kind (deploying a model waits for the
scoring server, for instance); kinds without one finish after ``polls`` polls.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable

from .errors import ArmError
from .http import Request, Response
from .router import Route
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    polls_left INTEGER NOT NULL,
    error TEXT,
    created REAL NOT NULL,
    ended REAL
);
"""

TERMINAL = {"Succeeded", "Failed", "Canceled"}
RETRY_AFTER_MS = "10"

# completer(operation row as dict) -> (status, error dict or None); called on each poll until terminal
Completer = Callable[[dict[str, Any]], "tuple[str, dict | None]"]


class Operations:
    """Records operations in the store and answers their status."""

    def __init__(self, store: Store, now: Callable[[], float] = time.time) -> None:
        self.store = store
        self.now = now  # the sandbox clock, so startTime/endTime agree with the resources' timestamps
        store.executescript(SCHEMA)
        self.completers: dict[str, Completer] = {}
        self.finishers: dict[str, Callable[[dict[str, Any]], None]] = {}

    def register(self, kind: str, *, completer: Completer | None = None,
                 on_succeeded: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Say how operations of ``kind`` end, and what to do when one succeeds."""
        if completer:
            self.completers[kind] = completer
        if on_succeeded:
            self.finishers[kind] = on_succeeded

    def start(self, request: Request, *, subscription: str, namespace: str, resource_id: str,
              kind: str, status: int = 201, body: Any = None, location: str = "eastus",
              polls: int = 1) -> Response:
        """Record an operation and build the 201/202 response that points the poller at it."""
        op_id = str(uuid.uuid4())
        self.store.execute(
            "INSERT INTO operations (id, namespace, resource_id, kind, status, polls_left, created) "
            "VALUES (?, ?, ?, ?, 'InProgress', ?, ?)",
            (op_id, namespace, resource_id, kind, polls, self.now()))
        version = request.api_version or "2021-04-01"
        url = (f"{request.base_url}/subscriptions/{subscription}/providers/{namespace}/locations/"
               f"{location}/operationsStatus/{op_id}?api-version={version}")
        headers = {"Azure-AsyncOperation": url, "retry-after-ms": RETRY_AFTER_MS, "Retry-After": "1"}
        if status == 202:
            headers["Location"] = url.replace("/operationsStatus/", "/operationResults/")
        return Response(status, body, headers)

    def get(self, op_id: str) -> dict[str, Any]:
        row = self.store.execute("SELECT id, namespace, resource_id, kind, status, polls_left, error, created, ended "
                                 "FROM operations WHERE id = ?", (op_id,)).fetchone()
        if row is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
        keys = ["id", "namespace", "resource_id", "kind", "status", "polls_left", "error", "created", "ended"]
        op = dict(zip(keys, row))
        op["error"] = json.loads(op["error"]) if op["error"] else None
        return op

    def poll(self, op_id: str) -> dict[str, Any]:
        """Advance the operation if it can end now, and return it."""
        op = self.get(op_id)
        if op["status"] in TERMINAL:
            return op
        completer = self.completers.get(op["kind"])
        if completer:
            status, error = completer(op)
        elif op["polls_left"] > 0:
            self.store.execute("UPDATE operations SET polls_left = polls_left - 1 WHERE id = ?", (op_id,))
            status, error = "InProgress", None
        else:
            status, error = "Succeeded", None
        if status in TERMINAL:
            self.finish(op_id, status, error)
        return self.get(op_id)

    def finish(self, op_id: str, status: str, error: dict | None = None) -> None:
        """End an operation (also used by providers whose work ends in a background thread)."""
        cur = self.store.execute(
            "UPDATE operations SET status = ?, error = ?, ended = ? WHERE id = ? AND status = 'InProgress'",
            (status, json.dumps(error) if error else None, self.now(), op_id))
        if cur.rowcount and status == "Succeeded":
            op = self.get(op_id)
            finisher = self.finishers.get(op["kind"])
            if finisher:
                finisher(op)

    # -- wire --------------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        return [
            Route("GET", r"/subscriptions/[^/]+/providers/[^/]+/locations/[^/]+/operationsStatus/(?P<op_id>[^/]+)",
                  self._status, arm=False),
            Route("GET", r"/subscriptions/[^/]+/providers/[^/]+/locations/[^/]+/operationResults/(?P<op_id>[^/]+)",
                  self._result, arm=False),
        ]

    def _body(self, op: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"id": op["id"], "name": op["id"], "status": op["status"],
                                "startTime": _iso(op["created"])}
        if op["ended"]:
            body["endTime"] = _iso(op["ended"])
        if op["error"]:
            body["error"] = op["error"]
        return body

    def _status(self, request: Request, op_id: str) -> Response:
        op = self.poll(op_id)
        headers = {} if op["status"] in TERMINAL else {"retry-after-ms": RETRY_AFTER_MS}
        return Response(200, self._body(op), headers)

    def _result(self, request: Request, op_id: str) -> Response:
        op = self.poll(op_id)
        if op["status"] not in TERMINAL:
            return Response(202, None, {"retry-after-ms": RETRY_AFTER_MS, "Location": request.url})
        if op["status"] == "Failed":
            return Response(400, {"error": op["error"] or {"code": "Failed", "message": "The operation failed."}})
        return Response(204, None)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"

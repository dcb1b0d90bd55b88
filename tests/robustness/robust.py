"""Helpers of the robustness suites: routes to paths, seeds, calls with a deadline, the response rule, the tally.

Every sandbox route is found at collection time from ``sandbox.router.routes``, so routes other
engineers add later are fuzzed without touching these files. The rule every answer must keep:
a 2xx/3xx, a 4xx, or the documented 501 ``SandboxNotImplemented``; never a 500, never a hang; and
for every error an ARM body ``{"error": {"code": str, "message": str}}`` with a JSON Content-Type
(data-plane routes that emulate Azure Storage may answer Storage's own error shape instead: an
``x-ms-error-code`` header and an XML or empty body, as the Azure Storage SDK expects).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import tempfile
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore[import-not-found]
    from re._constants import (ANY, ASSERT, ASSERT_NOT, AT, BRANCH, CATEGORY, IN, LITERAL, MAX_REPEAT,  # type: ignore
                               MIN_REPEAT, NEGATE, NOT_LITERAL, RANGE, SUBPATTERN)
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]
    from sre_constants import (ANY, ASSERT, ASSERT_NOT, AT, BRANCH, CATEGORY, IN, LITERAL, MAX_REPEAT,  # type: ignore
                               MIN_REPEAT, NEGATE, NOT_LITERAL, RANGE, SUBPATTERN)

from amlevents_kit.sandbox import defaults

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[2] / "shared" / "fixtures"
ARM_HOST = "https://management.azure.com"
#: Every call gets this long (wall clock) before it counts as a hang. Generous: the machine is shared.
CALL_DEADLINE = float(os.environ.get("AMLEVENTS_ROBUST_DEADLINE", "20"))

SUB = defaults.SUBSCRIPTION_ID
RG = defaults.RESOURCE_GROUP
WS = defaults.WORKSPACE_NAME
RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
TOPIC = "rb-topic"
TOPIC_ID = f"{RG_ID}/providers/Microsoft.EventGrid/topics/{TOPIC}"
EVENT_SUB = "rb-sub"
QUEUE_ID = f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/rbstore"
API_VERSIONS = {"microsoft.eventgrid": "2025-02-15", "microsoft.machinelearningservices": "2025-12-01",
                "microsoft.logic": "2019-05-01", "microsoft.web": "2016-06-01", None: "2022-09-01"}


# -- routes -----------------------------------------------------------------------------------------

def route_key(route: Any) -> str:
    """``METHOD pattern`` with each named group shown as ``{name}``: a readable, stable test id."""
    text = route.pattern
    out, i = [], 0
    while i < len(text):
        m = re.match(r"\(\?P<(\w+)>", text[i:])
        if m:
            end = _group_end(text, i)
            out.append("{" + m.group(1) + "}")
            i = end
            continue
        out.append(text[i])
        i += 1
    label = "".join(out).replace("\\.", ".").replace("(?P", "(")
    return f"{route.method} {label}"


def _group_end(text: str, start: int) -> int:
    """Index just past the parenthesised group that opens at ``text[start]``."""
    depth, i, in_class = 0, start, False
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


@functools.lru_cache(maxsize=1)
def _routes() -> tuple[Any, ...]:
    from amlevents_kit.sandbox import Sandbox
    with tempfile.TemporaryDirectory(prefix="robust-routes-") as folder:
        sandbox = Sandbox(folder)
        try:
            return tuple(sandbox.router.routes)
        finally:
            sandbox.close()


def discover_routes() -> list[Any]:
    """The routes of a throwaway sandbox (collection time), writes last so they spoil no other route."""
    routes = list(_routes())
    order = {"GET": 0, "HEAD": 0, "OPTIONS": 1, "POST": 2, "PATCH": 3, "PUT": 4, "DELETE": 5}
    return sorted(routes, key=lambda r: (order.get(r.method, 2), r.pattern.count("(?P<")))


def namespace_of(route: Any) -> str | None:
    if route.namespace:
        return route.namespace.lower()
    m = re.search(r"providers/(Microsoft\\?\.\w+)", route.pattern, re.IGNORECASE)
    return m.group(1).replace("\\", "").lower() if m else None


def collection_of(route: Any) -> str:
    """What a route acts on, to pick seed bodies: its last path segment when that is literal (an action
    such as ``listKeys`` or ``api/events``), else the literal before its last named group
    (``…/eventSubscriptions/{name}`` → ``eventsubscriptions``)."""
    parts = [p for p in _split_pattern(route.pattern) if p]
    if parts and re.fullmatch(r"[A-Za-z.\\]+", parts[-1]):
        return parts[-1].replace("\\", "").lower()
    for p in reversed(parts):
        if re.fullmatch(r"[A-Za-z.\\]+", p):
            return p.replace("\\", "").lower()
    return ""


def _split_pattern(pattern: str) -> list[str]:
    """The pattern's path segments, a named group (whatever it contains) counting as one."""
    out, i, current = [], 0, []
    while i < len(pattern):
        if pattern.startswith("(?P<", i):
            end = _group_end(pattern, i)
            current.append(pattern[i:end])
            i = end
            continue
        if pattern[i] == "/":
            out.append("".join(current))
            current = []
        else:
            current.append(pattern[i])
        i += 1
    out.append("".join(current))
    return out


# -- rendering a path from a route's regex ------------------------------------------------------------

def render_path(route: Any, values: dict[str, str]) -> str:
    """A URL path (percent-encoded) the route's regex matches, with ``values`` in its named groups.

    Literal text stays; unnamed pieces get a plain filler; a named group missing from ``values``
    gets a filler that fits its own sub-pattern.
    """
    parsed = sre_parse.parse(route.pattern, re.IGNORECASE)
    names = {v: k for k, v in parsed.state.groupdict.items()}
    return _render(parsed, names, values)


def _render(items: Any, names: dict[int, str], values: dict[str, str]) -> str:
    out = []
    for op, av in items:
        if op == LITERAL:
            out.append(quote(chr(av), safe="/:@!$&'()*+,;=-._~"))
        elif op == NOT_LITERAL:
            out.append("x" if chr(av) != "x" else "y")
        elif op == ANY:
            out.append("x")
        elif op == IN:
            out.append(_class_char(av))
        elif op == BRANCH:
            out.append(_render(av[1][0], names, values))
        elif op == SUBPATTERN:
            group, _, _, sub = av
            name = names.get(group)
            if name is not None and name in values:
                out.append(values[name])
            else:
                out.append(_render(sub, names, values))
        elif op in (MAX_REPEAT, MIN_REPEAT):
            low, high, item = av
            out.append(_render(item, names, values) * max(low, 1))
        elif op in (ASSERT, ASSERT_NOT, AT):
            continue
        else:  # pragma: no cover - a construct no route uses yet
            raise ValueError(f"cannot render regex op {op}")
    return "".join(out)


def _class_char(items: list) -> str:
    negate = any(op == NEGATE for op, _ in items)
    for candidate in "a0xAf-_":
        inside = False
        for op, av in items:
            if op == LITERAL and chr(av).lower() == candidate.lower():
                inside = True
            elif op == RANGE and (av[0] <= ord(candidate) <= av[1] or av[0] <= ord(candidate.lower()) <= av[1]):
                inside = True
            elif op == CATEGORY:
                inside = inside or candidate.isalnum()
        if inside != negate:
            return candidate
    return "a"


#: Values a route's named groups take: the sandbox's own names first, then made-up ones.
GROUP_VALUES: dict[str, list[str]] = {
    "subscription": [SUB, "00000000-0000-0000-0000-00000000beef"],
    "resource_group": [RG, "rb-missing-rg"],
    "workspace": [WS, "rb-missing-ws"],
    "topic": [TOPIC, "rb-missing-topic"],
    "name": [EVENT_SUB, "rb-model", "rb-missing"],
    "namespace": ["Microsoft.EventGrid", "Microsoft.MachineLearningServices", "Microsoft.NotAProvider"],
    "scope": [defaults.WORKSPACE_ID, RG_ID, f"/subscriptions/{SUB}", TOPIC_ID],
    "resource": [defaults.WORKSPACE_ID],
    "location": ["eastus", "westeurope", "nowhere"],
    "topic_type": ["Microsoft.MachineLearningServices.Workspaces", "Microsoft.Resources.ResourceGroups", "Nope"],
    "op_id": ["00000000-0000-0000-0000-000000000001"],
    "tenant": [defaults.TENANT_ID, "common"],
    "key": ["0123456789abcdef0123456789abcdef"],
    "version": ["1", "2"],
    "endpoint": ["rb-endpoint"],
    "workflow": ["rb-flow"],
    "trigger": ["manual"],
}

#: Hostile values for one named group at a time.
HOSTILE_VALUES = ["..", "../..", ".", "%2e%2e", "", " ", "ü名前-🙂", "\u202e\u0000", "a" * 5000, "CON", "nul",
                  "' OR 1=1 --", "${jndi:ldap://x}", "<script>", "a/b", "-", "x" * 90, "\\", "%", "%zz", "?x=1",
                  "#frag", "\t\n"]


def valid_values(route: Any, pick: int = 0) -> dict[str, str]:
    """One value per named group (``pick`` chooses among the candidates); all fit the route's regex."""
    names = list(route.regex.groupindex)
    out: dict[str, str] = {}
    for name in names:
        choices = GROUP_VALUES.get(name, ["rb-thing"])
        out[name] = choices[pick % len(choices)]
    if not route.regex.fullmatch(unquote(render_path(route, {k: quote(v, safe="/") for k, v in out.items()}))):
        # a value does not fit this route's pattern: keep the ones that do, let the renderer fill the others
        out = {k: v for k, v in out.items()
               if route.regex.fullmatch(unquote(render_path(route, {k: quote(v, safe="/")})))}
    return out


def build_url(route: Any, values: dict[str, str], query: dict[str, str] | list[tuple[str, str]] | None) -> str:
    encoded = {k: quote(v, safe="/" if k in ("scope", "resource") else "") for k, v in values.items()}
    path = render_path(route, encoded)
    if not path.startswith("/"):
        path = "/" + path
    if query:
        items = query.items() if isinstance(query, dict) else query
        path += "?" + "&".join(f"{quote(k, safe='$-')}={quote(v, safe='-:')}" for k, v in items)
    return ARM_HOST + path


# -- seeds from the published OpenAPI examples --------------------------------------------------------

def _type_collection(type_name: str) -> str:
    return type_name.rstrip("/").rsplit("/", 1)[-1].lower() if "/" in (type_name or "") else ""


#: Example folders and file names whose responses give no ARM type ("string" in the TypeSpec examples).
_NAME_COLLECTIONS = {"job": "jobs", "commandjob": "jobs", "onlinedeployment": "deployments",
                     "managedonlinedeployment": "deployments", "modelversion": "versions", "modelcontainer": "models",
                     "onlineendpoint": "onlineendpoints", "workspace": "workspaces", "createresourcegroup": "resourcegroups",
                     "workflows": "workflows", "pipelines": "pipelines", "eventsubscriptions": "eventsubscriptions",
                     "systemtopics": "systemtopics", "systemtopiceventsubscriptions": "eventsubscriptions"}


def _name_collection(path: Path) -> str:
    for name in [path.stem.split("_", 1)[0], *(p.name for p in reversed(path.parents))][::-1]:
        hit = _NAME_COLLECTIONS.get(name.lower())
        if hit:
            return hit
    return path.stem.split("_", 1)[0].lower()


def load_seeds() -> dict[str, list[Any]]:
    """Request bodies of the published examples (``fixtures/arm/**``) by resource collection.

    A request body is any object-valued parameter of an example; its collection comes from the
    example's response ``type``, else from the file name (``EventSubscriptions_…``).
    """
    seeds: dict[str, list[Any]] = defaultdict(list)
    root = FIXTURES / "arm"
    if not root.is_dir():
        return seeds
    for path in sorted(root.rglob("*.json")):
        if "common-types" in path.parts:
            continue
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        params = data.get("parameters") if isinstance(data, dict) else None
        if not isinstance(params, dict):
            continue
        responses = data.get("responses") or {}
        type_name = ""
        for answer in responses.values():
            body = (answer or {}).get("body") if isinstance(answer, dict) else None
            if isinstance(body, dict) and isinstance(body.get("type"), str):
                type_name = body["type"]
                break
        if path.stem.endswith("CreateRun"):
            collection = "createrun"
        else:
            collection = _type_collection(type_name) or _name_collection(path)
        for value in params.values():
            if isinstance(value, dict) and value:
                seeds[collection].append(value)
    # Collections the examples lack: the smallest bodies Azure accepts for them.
    seeds["topics"].append({"location": "eastus", "properties": {"inputSchema": "EventGridSchema"}})
    seeds["systemtopics"].append({"location": "global", "properties": {
        "source": defaults.WORKSPACE_ID, "topicType": "Microsoft.MachineLearningServices.Workspaces"}})
    seeds["resourcegroups"].append({"location": "eastus", "tags": {"a": "b"}})
    seeds["regeneratekey"].append({"keyName": "key1"})
    seeds["regeneratekeys"].append({"keyType": "Primary"})
    seeds["getlogs"].append({"tail": 10, "containerType": "InferenceServer"})
    seeds["eventsubscriptions"].append({"properties": {
        "destination": {"endpointType": "StorageQueue",
                        "properties": {"resourceId": QUEUE_ID, "queueName": "rb-queue"}},
        "filter": {"includedEventTypes": ["Microsoft.MachineLearningServices.ModelRegistered"],
                   "advancedFilters": [{"operatorType": "StringIn", "key": "data.ModelName", "values": ["a"]}]},
        "retryPolicy": {"maxDeliveryAttempts": 3, "eventTimeToLiveInMinutes": 30},
        "eventDeliverySchema": "EventGridSchema"}})
    events_dir = FIXTURES / "events"
    for path in sorted(events_dir.rglob("*.json")) if events_dir.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        batch = data if isinstance(data, list) else [data]
        batch = [{k: v for k, v in e.items() if k != "topic"} for e in batch if isinstance(e, dict) and "eventType" in e]
        if batch:  # Event Grid schema events, published to the sandbox's own topic (which sets "topic")
            seeds["events"].append(batch)
    return seeds


# -- changing one place of a JSON value -----------------------------------------------------------------

def json_paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value (object keys and list items), outermost first."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(prefix + (k,))
            out.extend(json_paths(v, prefix + (k,)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append(prefix + (i,))
            out.extend(json_paths(v, prefix + (i,)))
    return out


def value_at(obj: Any, path: tuple) -> Any:
    """The value at ``path`` (as ``json_paths`` gives it)."""
    for p in path:
        obj = obj[p]
    return obj


def with_value(obj: Any, path: tuple, value: Any) -> Any:
    """A deep copy of ``obj`` with ``value`` at ``path``."""
    obj = copy.deepcopy(obj)
    value_at(obj, path[:-1])[path[-1]] = value
    return obj


def without(obj: Any, path: tuple) -> Any:
    """A deep copy of ``obj`` with the key or item at ``path`` removed."""
    obj = copy.deepcopy(obj)
    del value_at(obj, path[:-1])[path[-1]]
    return obj


# -- calling with a deadline ---------------------------------------------------------------------------

class DeadlineCaller:
    """Runs ``sandbox.handle`` in a worker thread and gives up after ``deadline`` seconds (a hang)."""

    def __init__(self, sandbox: Any, deadline: float = CALL_DEADLINE) -> None:
        self.sandbox = sandbox
        self.deadline = deadline
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="robust-call")
        self.hung: list[str] = []

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes] | None:
        future = self._pool.submit(self.sandbox.handle, method, url, headers, body)
        try:
            return future.result(timeout=self.deadline)
        except FutureTimeout:
            self.hung.append(f"{method} {url[:200]}")
            self._pool.shutdown(wait=False)  # leave the stuck thread; later calls get a fresh one
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="robust-call")
            return None

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def problems_with(status: int, headers: dict[str, str], data: bytes, method: str) -> list[str]:
    """What is wrong with one answer under the suite's rule (empty list: nothing)."""
    out: list[str] = []
    h = {k.lower(): v for k, v in headers.items()}
    ctype = h.get("content-type", "")
    not_implemented = b"SandboxNotImplemented" in data or h.get("x-ms-error-code") == "NotImplemented"
    not_implemented |= method == "HEAD" and status == 501 and not data  # on the wire a HEAD answer has no body
    if status >= 500 and not (status == 501 and not_implemented):
        out.append(f"status {status}: {_message(data)[:240]}")
    if not (200 <= status < 600):
        out.append(f"status {status} is not an HTTP status")
    if status >= 400 and method != "HEAD":
        storage_shape = "x-ms-error-code" in h and (not data or "xml" in ctype)
        if not storage_shape:
            try:
                body = json.loads(data)
            except ValueError:
                body = None
            error = body.get("error") if isinstance(body, dict) else None
            if not (isinstance(error, dict) and isinstance(error.get("code"), str)
                    and isinstance(error.get("message"), str) and error["code"] and error["message"]):
                out.append(f"{status} body is not ARM-shaped: {data[:160]!r}")
            if "json" not in ctype.lower():
                out.append(f"{status} Content-Type is {ctype!r}, not JSON")
    elif 200 <= status < 300 and data and "json" in ctype.lower():
        try:
            json.loads(data)
        except ValueError:
            out.append(f"{status} says JSON but the body does not parse: {data[:120]!r}")
    return out


def _message(data: bytes) -> str:
    try:
        body = json.loads(data)
        return str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return data[:240].decode("utf-8", "replace")


@dataclass
class Tally:
    """Inputs tried and failures found, per route, for the end-of-run report."""

    tried: Counter = field(default_factory=Counter)
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    known: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, key: str, status: int | None, problems: list[str], what: str, known: int = 0) -> None:
        """One input tried; ``known`` of its ``problems`` are known bugs (reproduced by xfail tests)."""
        with self.lock:
            self.tried[key] += 1
            self.known[key] += known
            self.statuses[key]["hang" if status is None else str(status)] += 1
            if problems:
                self.failures[key].append(f"{'; '.join(problems)} <- {what}")


TALLY = Tally()


# -- the seeded sandbox ---------------------------------------------------------------------------------

def call_ok(sandbox: Any, method: str, path: str, body: Any = None, api: str = "2025-02-15") -> dict:
    url = f"{ARM_HOST}{path}?api-version={api}"
    data = b"" if body is None else json.dumps(body).encode()
    status, headers, out = sandbox.handle(method, url, {"Content-Type": "application/json"}, data)
    assert status < 300, (method, path, status, out[:300])
    return json.loads(out) if out and out[:1] in b"{[" else {}


def seed_sandbox(sandbox: Any) -> dict[str, str]:
    """Registered providers, a custom topic with keys and a queue subscription on the workspace (idempotent)."""
    resources = sandbox.backends["resources"]
    for namespace in sorted(sandbox.router.known_namespaces):
        try:
            resources.register(SUB, namespace)
        except Exception:
            pass  # a namespace the catalog does not list: its routes answer 400 InvalidResourceNamespace
    sandbox.clock.advance(seconds=30)
    for backend in sandbox.backends.values():
        if callable(getattr(backend, "seed", None)):
            backend.seed()
    if sandbox.store.get(RG_ID) is None:
        call_ok(sandbox, "PUT", RG_ID, {"location": "eastus"}, api="2022-09-01")
        for backend in sandbox.backends.values():
            if callable(getattr(backend, "seed", None)):
                backend.seed()
    keys = {}
    if "eventgrid" in sandbox.backends:
        if sandbox.store.get(TOPIC_ID) is None:
            call_ok(sandbox, "PUT", TOPIC_ID, {"location": "eastus", "properties": {"inputSchema": "EventGridSchema"}})
            sandbox.clock.advance(seconds=5)
        keys = call_ok(sandbox, "POST", TOPIC_ID + "/listKeys")
        sub_id = f"{defaults.WORKSPACE_ID}/providers/Microsoft.EventGrid/eventSubscriptions/{EVENT_SUB}"
        if sandbox.store.get(sub_id) is None:
            call_ok(sandbox, "PUT", sub_id, {"properties": {"destination": {
                "endpointType": "StorageQueue", "properties": {"resourceId": QUEUE_ID, "queueName": "rb-queue"}}}})
            sandbox.clock.advance(seconds=5)
    return keys


# -- the sandbox's real names: a hostile body is only read on a path whose parents exist ------------------

SYSTOPIC = "rb-systopic"
TOPIC_SUB = "rb-topic-sub"
SYS_SUB = "rb-sys-sub"
FACTORY = "rb-factory"
PIPELINE = "rb-pipeline"
FLOW = "rb-flow"
CONNECTION = "rb-conn"
MODEL = "rb-model"
CODE = "rb-code"
ENDPOINT = "rb-endpoint"
DEPLOYMENT = "blue"
JOB = "rb-job"
BLOB = "rb/blob.txt"
ML_WS = defaults.WORKSPACE_ID
SYSTOPIC_ID = f"{RG_ID}/providers/Microsoft.EventGrid/systemTopics/{SYSTOPIC}"
FACTORY_ID = f"{RG_ID}/providers/Microsoft.DataFactory/factories/{FACTORY}"
FLOW_ID = f"{RG_ID}/providers/Microsoft.Logic/workflows/{FLOW}"
CONNECTION_ID = f"{RG_ID}/providers/Microsoft.Web/connections/{CONNECTION}"
QUEUE_DESTINATION = {"endpointType": "StorageQueue", "properties": {"resourceId": QUEUE_ID, "queueName": "rb-queue"}}
WORKFLOW_BODY = {"location": "eastus", "properties": {"state": "Enabled", "definition": {
    "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
    "contentVersion": "1.0.0.0",
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {"schema": {}}}},
    "actions": {"Compose": {"type": "Compose", "inputs": "@triggerBody()"}}}}}
PIPELINE_BODY = {"properties": {"activities": [{"name": "Pause", "type": "Wait",
                                                "typeProperties": {"waitTimeInSeconds": 1}}]}}
RUN_WINDOW = {"lastUpdatedAfter": "2000-01-01T00:00:00Z", "lastUpdatedBefore": "2200-01-01T00:00:00Z"}
EVENT_BODY = [{"id": "rb-1", "subject": "rb/subject", "eventType": "Contoso.Items.ItemReceived",
               "eventTime": "2024-01-01T00:00:00Z", "data": {"a": 1}, "dataVersion": "1"}]

#: What the seeded sandbox holds (PUT in this order, each only when missing): (path, api-version, body).
WORLD: list[tuple[str, str, Any]] = [
    (f"{TOPIC_ID}/eventSubscriptions/{TOPIC_SUB}", "2025-02-15", {"properties": {"destination": QUEUE_DESTINATION}}),
    (SYSTOPIC_ID, "2025-02-15", {"location": defaults.LOCATION, "properties": {
        "source": ML_WS, "topicType": "Microsoft.MachineLearningServices.Workspaces"}}),
    (f"{SYSTOPIC_ID}/eventSubscriptions/{SYS_SUB}", "2025-02-15", {"properties": {"destination": QUEUE_DESTINATION}}),
    (FACTORY_ID, "2018-06-01", {"location": "eastus"}),
    (f"{FACTORY_ID}/linkedservices/rb-files", "2018-06-01",
     {"properties": {"type": "FileServer", "typeProperties": {"host": "lake"}}}),
    (f"{FACTORY_ID}/datasets/rb-data", "2018-06-01", {"properties": {
        "type": "Binary", "linkedServiceName": {"referenceName": "rb-files", "type": "LinkedServiceReference"},
        "typeProperties": {"location": {"type": "FileServerLocation", "folderPath": "rb"}}}}),
    (f"{FACTORY_ID}/pipelines/{PIPELINE}", "2018-06-01", PIPELINE_BODY),
    (FLOW_ID, "2019-05-01", WORKFLOW_BODY),
    (CONNECTION_ID, "2016-06-01", {"location": "eastus", "properties": {
        "api": {"id": f"/subscriptions/{SUB}/providers/Microsoft.Web/locations/eastus/managedApis/office365"}}}),
    (f"{ML_WS}/models/{MODEL}/versions/1", "2025-12-01",
     {"properties": {"modelUri": "azureml://datastores/workspaceblobstore/paths/rb/model"}}),
    (f"{ML_WS}/codes/{CODE}/versions/1", "2025-12-01",
     {"properties": {"codeUri": "azureml://datastores/workspaceblobstore/paths/rb/code"}}),
    (f"{ML_WS}/onlineEndpoints/{ENDPOINT}", "2025-12-01", {"location": "eastus", "properties": {"authMode": "Key"}}),
    (f"{ML_WS}/onlineEndpoints/{ENDPOINT}/deployments/{DEPLOYMENT}", "2025-12-01", {
        "properties": {"model": f"{ML_WS}/models/{MODEL}/versions/1", "endpointComputeType": "Managed"},
        "sku": {"name": "Default", "capacity": 1}}),
    (f"{ML_WS}/jobs/{JOB}", "2025-12-01", {"properties": {
        "jobType": "Command", "command": "true", "environmentId": "azureml:AzureML-sklearn:1"}}),
]


def seed_world(sandbox: Any) -> dict[str, str]:
    """The parents every route's path names (idempotent), and the names only the sandbox chooses.

    Returns the run and key names: a Data Factory pipeline run, the workflow's callback key and
    signature, one workflow run (with its history) and a content key.
    """
    names = _WORLD_NAMES.setdefault(id(sandbox), {})
    ml = sandbox.backends["machinelearningservices"]
    names["container"] = ml.container
    for blob, data in (("rb/model/model.pkl", b"not a real model"), ("rb/code/main.py", b"print('hi')\n"),
                       (BLOB, b"hello")):
        ml.blobs.put(ml.container, blob, data)  # the sweep may have overwritten or deleted them
    for path, api, body in WORLD:  # PUT again even when present: a sweep may have changed it (a trigger gone)
        url = f"{ARM_HOST}{path}?api-version={api}"
        status, _, out = sandbox.handle("PUT", url, {"Content-Type": "application/json"}, json.dumps(body).encode())
        assert status < 300 or sandbox.store.get(path) is not None, ("PUT", path, status, out[:300])
    if not names.get("adf_run") or _status(sandbox, "GET", f"{FACTORY_ID}/pipelineruns/{names['adf_run']}",
                                           "2018-06-01") != 200:
        names["adf_run"] = call_ok(sandbox, "POST", f"{FACTORY_ID}/pipelines/{PIPELINE}/createRun", {},
                                   api="2018-06-01")["runId"]
    callback = call_ok(sandbox, "POST", f"{FLOW_ID}/triggers/manual/listCallbackUrl", None, api="2019-05-01")["value"]
    path, _, query = callback.partition("/logic/workflows/")[2].partition("?")
    names["logic_key"] = path.split("/", 1)[0]
    names["logic_query"] = query
    if not names.get("logic_run") or _status(sandbox, "GET", f"{FLOW_ID}/runs/{names['logic_run']}",
                                             "2019-05-01") != 200:
        url = f"{ARM_HOST}/logic/workflows/{names['logic_key']}/triggers/manual/paths/invoke?{query}"
        status, _, out = sandbox.handle("POST", url, {"Content-Type": "application/json"}, b'{"rb": 1}')
        if status == 202:
            names["logic_run"] = json.loads(out)["runs"][0]
            run = call_ok(sandbox, "GET", f"{FLOW_ID}/runs/{names['logic_run']}", api="2019-05-01")
            link = (run.get("properties", {}).get("trigger", {}).get("outputsLink") or {}).get("uri", "")
            names["content_key"] = link.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    names["endpoint_key"] = call_ok(sandbox, "POST", f"{ML_WS}/onlineEndpoints/{ENDPOINT}/listKeys",
                                    api="2025-12-01").get("primaryKey", "")
    return names


_WORLD_NAMES: dict[int, dict[str, str]] = {}


def _status(sandbox: Any, method: str, path: str, api: str) -> int:
    return sandbox.handle(method, f"{ARM_HOST}{path}?api-version={api}", {}, b"")[0]


#: The real name of a route's named group: (regex on the route's key up to that group, world name or value).
REAL_RULES: list[tuple[str, str]] = [
    (r"systemTopics/\{topic\}/eventSubscriptions/\{name\}$", SYS_SUB),
    (r"topics/\{topic\}/eventSubscriptions/\{name\}$", TOPIC_SUB),
    (r"systemTopics/\{topic\}$", SYSTOPIC),
    (r"topics/\{topic\}$", TOPIC),
    (r"(?i)eventSubscriptions/\{name\}$", EVENT_SUB),
    (r"\{scope\}$", ML_WS),
    (r"\{resource\}$", ML_WS),
    (r"models/\{name\}$", MODEL),
    (r"codes/\{name\}$", CODE),
    (r"environments/\{name\}$", "AzureML-sklearn"),
    (r"jobs/\{name\}$", JOB),
    (r"datastores/\{name\}$", "workspaceblobstore"),
    (r"onlineEndpoints/\{(name|endpoint)\}$", ENDPOINT),
    (r"online-endpoints/\{endpoint\}$", ENDPOINT),
    (r"deployments/\{name\}$", DEPLOYMENT),
    (r"versions/\{version\}$", "1"),
    (r"factories/\{factory\}$", FACTORY),
    (r"\{kind\}$", "pipelines"),
    (r"(\{kind\}|pipelines)/\{name\}$", PIPELINE),
    (r"pipelineruns/\{run\}$", "@adf_run"),
    (r"workflows/\{workflow\}$", FLOW),
    (r"triggers/\{trigger\}$", "manual"),
    (r"workflows/\{workflow\}/runs/\{run\}$", "@logic_run"),
    (r"actions/\{action\}$", "Compose"),
    (r"histories/\{history\}$", "@logic_run"),
    (r"logic/workflows/\{key\}$", "@logic_key"),
    (r"logic/contents/\{key\}$", "@content_key"),
    (r"connections/\{name\}$", CONNECTION),
    (r"runs/\{run\}$", JOB),
    (r"^\S+ /\{container\}$", "@container"),
    (r"/\{container\}/\{name\}$", BLOB),
]


def real_values(route: Any, world: dict[str, str]) -> dict[str, str]:
    """One value per named group: the name of something the seeded sandbox holds (see seed_world)."""
    key = route_key(route)
    out = dict(valid_values(route))
    for name in route.regex.groupindex:
        upto = key[: key.index("{" + name + "}") + len(name) + 2]
        for rule, value in REAL_RULES:
            if re.search(rule, upto):
                if value.startswith("@"):
                    value = world.get(value[1:], "")
                if value:
                    out[name] = value
                break
    return out


#: A body each route accepts on its real path (regex on the route's key -> body; bytes go as they are).
#: Mutating one place of an accepted body reaches that place's check: the rest of the body is fine.
VALID_BODIES: list[tuple[str, Any]] = [
    (r"^PUT \{scope\}/providers/Microsoft.EventGrid/eventSubscriptions/|eventSubscriptions/\{name\}$",
     {"properties": {"destination": QUEUE_DESTINATION,
                     "filter": {"includedEventTypes": ["Microsoft.MachineLearningServices.ModelRegistered"],
                                "advancedFilters": [{"operatorType": "StringIn", "key": "data.ModelName",
                                                     "values": ["a"]}]},
                     "retryPolicy": {"maxDeliveryAttempts": 3, "eventTimeToLiveInMinutes": 30},
                     "eventDeliverySchema": "EventGridSchema"}}),
    (r"^PATCH .*eventSubscriptions/\{name\}$",
     {"destination": QUEUE_DESTINATION, "labels": ["rb"],
      "filter": {"subjectBeginsWith": "models/", "advancedFilters": [
          {"operatorType": "NumberGreaterThan", "key": "data.n", "value": 1}]},
      "retryPolicy": {"maxDeliveryAttempts": 5, "eventTimeToLiveInMinutes": 60}}),
    (r"^PUT .*/systemTopics/\{topic\}$", {"location": defaults.LOCATION, "tags": {"rb": "1"}, "properties": {
        "source": ML_WS, "topicType": "Microsoft.MachineLearningServices.Workspaces"}}),
    (r"^PUT .*/topics/\{topic\}$", {"location": "eastus", "tags": {"rb": "1"},
                                    "properties": {"inputSchema": "EventGridSchema", "publicNetworkAccess": "Enabled"}}),
    (r"^PATCH .*[tT]opics/\{topic\}$", {"tags": {"rb": "2"}}),
    (r"/regenerateKey$", {"keyName": "key2"}),
    (r"/api/events$", EVENT_BODY),
    (r"^PUT /subscriptions/\{subscription\}/resourceGroups/\{resource_group\}$", {"location": "eastus",
                                                                              "tags": {"rb": "1"}}),
    (r"^PUT .*/factories/\{factory\}$", {"location": "eastus", "tags": {"rb": "1"}}),
    (r"^PUT .*/factories/\{factory\}/\{kind\}/\{name\}$", PIPELINE_BODY),
    (r"/createRun$", {}),
    (r"/queryPipelineRuns$|/queryActivityruns$", RUN_WINDOW),
    (r"^PUT .*/workflows/\{workflow\}$", WORKFLOW_BODY),
    (r"/paths/invoke$", {"rb": 1}),
    (r"^PUT .*/connections/\{name\}$", {"location": "eastus", "properties": {
        "displayName": "rb", "api": {"id": f"/subscriptions/{SUB}/providers/Microsoft.Web/locations/eastus/managedApis/office365"}}}),
    (r"^PUT .*/models/\{name\}$", {"properties": {"description": "rb", "tags": {"rb": "1"}}}),
    (r"^PUT .*/models/\{name\}/versions/\{version\}$",
     {"properties": {"modelUri": "azureml://datastores/workspaceblobstore/paths/rb/model", "tags": {"rb": "1"}}}),
    (r"^PUT .*/codes/\{name\}/versions/\{version\}$",
     {"properties": {"codeUri": "azureml://datastores/workspaceblobstore/paths/rb/code"}}),
    (r"/startPendingUpload$", {"pendingUploadType": "TemporaryBlobReference"}),
    (r"^PUT .*/jobs/\{name\}$", {"properties": {"jobType": "Command", "command": "true", "displayName": "rb",
                                                "environmentId": "azureml:AzureML-sklearn:1"}}),
    (r"^PUT .*/onlineEndpoints/\{name\}$", {"location": "eastus", "tags": {"rb": "1"},
                                            "properties": {"authMode": "Key", "description": "rb"}}),
    (r"^PATCH .*/onlineEndpoints/\{name\}$", {"tags": {"rb": "2"}}),
    (r"^PUT .*/deployments/\{name\}$", {
        "properties": {"model": f"{ML_WS}/models/{MODEL}/versions/1", "endpointComputeType": "Managed",
                       "instanceType": "Standard_DS3_v2"},
        "sku": {"name": "Default", "capacity": 1}}),
    (r"^PATCH .*/deployments/\{name\}$", {"sku": {"capacity": 1}}),
    (r"/regenerateKeys$", {"keyType": "Secondary"}),
    (r"/getLogs$", {"tail": 10, "containerType": "InferenceServer"}),
    (r"/score$", {"input_data": {"columns": ["a"], "index": [0], "data": [[1]]}}),
    (r"/oauth2/v2.0/token$", b"grant_type=client_credentials&client_id=rb&client_secret=rb"
                             b"&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default"),
    (r"^PUT /\{container\}/\{name\}$", b"hello again"),
]


def valid_body(route: Any) -> Any:
    """The body ``route`` accepts on its real path (None: the route reads no body)."""
    key = route_key(route)
    return next((body for rule, body in VALID_BODIES if re.search(rule, key)), None)


def encode_body(body: Any) -> bytes:
    if body is None:
        return b""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def real_request(route: Any, world: dict[str, str], keys: dict[str, str], query: Any = None
                 ) -> tuple[str, dict[str, str]]:
    """The URL (real names in the path, the right query) and headers a well-formed call to ``route`` has."""
    url = build_url(route, real_values(route, world), query_for(route) if query is None else query)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sandbox-token"}
    pattern = route.pattern.replace("\\", "")
    if "/eventgrid/topics/" in pattern and keys.get("key1"):
        headers["aeg-sas-key"] = keys["key1"]
    if "/paths/invoke" in pattern and query is None and world.get("logic_query"):
        url += "?" + world["logic_query"]
    if "oauth2" in pattern:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if route.method == "PUT" and "{container}/{name}" in route_key(route):
        headers.update({"x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain"})
    if "/score" in pattern:
        headers["Authorization"] = f"Bearer {world.get('endpoint_key', '')}"
    return url, headers


def query_for(route: Any) -> dict[str, str]:
    return {"api-version": API_VERSIONS.get(namespace_of(route), API_VERSIONS[None])} if route.arm else {}

"""Microsoft.Logic state and behaviour: workflows, their triggers, runs and run history.

A workflow's Event Grid trigger subscribes itself, as the Azure connector does: an event
subscription on the topic (the workspace) whose WebHook endpoint is the workflow's callback URL
on the sandbox's own HTTPS server. Event Grid delivers there over real HTTP; the callback answers
the validation handshake and starts one run per event (``splitOn``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...arm.errors import ArmError, invalid_value, missing_field, not_found
from . import definition as defn
from . import expressions as ex
from .connectors import Connectors
from .exceptions import (bad_signature, subscription_failed, trigger_not_found, workflow_disabled)
from .runner import Runner

if TYPE_CHECKING:
    from ...app import Sandbox

WORKFLOW = "Microsoft.Logic/workflows"
RUN = "Microsoft.Logic/workflows/runs"
ACTION = "Microsoft.Logic/workflows/runs/actions"
HISTORY = "Microsoft.Logic/workflows/triggers/histories"
CONNECTION = "Microsoft.Web/connections"
EVENTGRID_API = "2025-02-15"
STATES = ("Enabled", "Disabled")
NAME_RE = re.compile(r"^[A-Za-z0-9_.()-]{1,80}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS logic_contents (
    id TEXT PRIMARY KEY,     -- the content link's key
    run TEXT NOT NULL,       -- lower-cased run id (deleted with the run's workflow)
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logic_contents_run ON logic_contents(run);
"""


def workflow_id(subscription: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Logic/workflows/{name}"


def public(body: dict) -> dict:
    """The ARM body without the sandbox's private bookkeeping."""
    return {k: v for k, v in body.items() if not k.startswith("_")}


class LogicBackend:
    """Workflows, their Event Grid subscriptions, runs and history."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.store.executescript(SCHEMA)
        self.connectors = Connectors(self)

    # -- workflows ------------------------------------------------------------------------------------
    def get(self, subscription: str, resource_group: str, name: str) -> dict:
        body = self.store.get(workflow_id(subscription, resource_group, name))
        if body is None:
            raise not_found(WORKFLOW, name, resource_group)
        return body

    def list(self, subscription: str, resource_group: str | None = None) -> list[dict]:
        under = f"/subscriptions/{subscription}" + (f"/resourceGroups/{resource_group}" if resource_group else "")
        return sorted(self.store.list(type=WORKFLOW, under=under), key=lambda b: b["name"].lower())

    def create_or_update(self, request_base: str, subscription: str, resource_group: str, name: str,
                         spec: dict) -> tuple[dict, bool]:
        """Validate the definition, store the workflow, subscribe its Event Grid triggers."""
        if not NAME_RE.match(name):
            raise invalid_value("workflowName", name, "1-80 letters, digits, '-', '_', '.', '(' or ')'")
        self.sandbox.backends["resources"].get_group(subscription, resource_group)
        location = spec.get("location")
        if not location:
            raise missing_field("location")
        props = spec.get("properties")
        if not isinstance(props, dict):
            raise missing_field("properties")
        definition = props.get("definition")
        if definition is None:
            raise missing_field("properties.definition")
        parameters = props.get("parameters") or {}
        defn.validate(definition, parameters)
        state = props.get("state") or "Enabled"
        if state not in STATES:
            raise invalid_value("properties.state", state, " or ".join(STATES))
        rid = workflow_id(subscription, resource_group, name)
        old = self.store.get(rid)
        now = self.sandbox.clock.isoformat()
        key = old["_sandbox"]["key"] if old else uuid.uuid4().hex
        secret = old["_sandbox"]["secret"] if old else secrets.token_urlsafe(24)
        body = {
            "id": rid, "name": name, "type": WORKFLOW, "location": location, "tags": spec.get("tags") or {},
            "properties": {
                "provisioningState": "Succeeded",
                "createdTime": old["properties"]["createdTime"] if old else now,
                "changedTime": now,
                "state": state,
                "version": _version(self.sandbox.clock.now()),
                "accessEndpoint": f"https://prod-00.{location}.logic.azure.com:443/workflows/{key}",
                "definition": definition,
                "parameters": parameters,
                "endpointsConfiguration": {"workflow": {"outgoingIpAddresses": [{"address": "127.0.0.1"}],
                                                        "accessEndpointIpAddresses": [{"address": "127.0.0.1"}]},
                                           "connector": {"outgoingIpAddresses": [{"address": "127.0.0.1"}]}},
            },
            "_sandbox": {"key": key, "secret": secret,
                         "subscriptions": (old or {}).get("_sandbox", {}).get("subscriptions", {})},
        }
        if spec.get("identity"):
            body["identity"] = spec["identity"]
        self.store.put(rid, WORKFLOW, body)
        try:
            self._sync_subscriptions(body)
        except ArmError:
            if old is None:
                self.store.delete(rid)
            else:
                self.store.put(rid, WORKFLOW, old)
            raise
        return self.store.get(rid), old is None

    def delete(self, subscription: str, resource_group: str, name: str) -> bool:
        rid = workflow_id(subscription, resource_group, name)
        body = self.store.get(rid)
        if body is None:
            return False
        for sub_id in body.get("_sandbox", {}).get("subscriptions", {}).values():
            self._unsubscribe(sub_id)
        self.store.execute("DELETE FROM logic_contents WHERE run LIKE ?", (rid.lower() + "/%",))
        self.store.delete(rid)
        return True

    def set_state(self, subscription: str, resource_group: str, name: str, state: str) -> None:
        body = self.get(subscription, resource_group, name)
        body["properties"]["state"] = state
        body["properties"]["changedTime"] = self.sandbox.clock.isoformat()
        self.store.put(body["id"], WORKFLOW, body)

    # -- triggers -------------------------------------------------------------------------------------
    def triggers(self, workflow: dict) -> list[dict]:
        out = []
        props = workflow["properties"]
        for name in props["definition"].get("triggers") or {}:
            histories = self.histories(workflow, name)
            last = histories[0]["properties"]["startTime"] if histories else None
            body = {"id": f"{workflow['id']}/triggers/{name}", "name": name, "type": "Microsoft.Logic/workflows/triggers",
                    "properties": {"provisioningState": "Succeeded", "createdTime": props["createdTime"],
                                   "changedTime": props["changedTime"], "state": props["state"],
                                   "workflow": {"name": props["version"], "type": "Microsoft.Logic/workflows/versions",
                                                "id": f"{workflow['id']}/versions/{props['version']}"}}}
            if last:
                body["properties"]["lastExecutionTime"] = last
            out.append(body)
        return out

    def trigger(self, workflow: dict, name: str) -> dict:
        for t in self.triggers(workflow):
            if t["name"].lower() == name.lower():
                return t
        raise trigger_not_found(workflow["name"], name)

    def callback_url(self, workflow: dict, trigger: str) -> dict:
        """The trigger's callback URL on the sandbox's HTTPS server (started if needed), signed."""
        self.trigger(workflow, trigger)
        server = self.sandbox.serve()
        key = workflow["_sandbox"]["key"]
        sp = f"/triggers/{trigger}/run"
        sig = self._sign(workflow, trigger)
        base = f"{server.base_url}/logic/workflows/{key}/triggers/{quote(trigger, safe='')}/paths/invoke"
        queries = {"api-version": "2016-10-01", "sp": sp, "sv": "1.0", "sig": sig}
        value = base + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in queries.items())
        return {"value": value, "method": "POST", "basePath": base, "queries": queries}

    def _sign(self, workflow: dict, trigger: str) -> str:
        secret = workflow["_sandbox"]["secret"].encode()
        mac = hmac.new(secret, f"{workflow['_sandbox']['key']}/{trigger.lower()}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def by_key(self, key: str) -> dict:
        for body in self.store.list(type=WORKFLOW):
            if body.get("_sandbox", {}).get("key") == key.lower():
                return body
        raise ArmError(404, "WorkflowNotFound", f"The workflow with access key '{key}' could not be found.")

    # -- Event Grid triggers subscribe themselves --------------------------------------------------
    def _eventgrid_triggers(self, workflow: dict) -> dict[str, dict]:
        triggers = workflow["properties"]["definition"].get("triggers") or {}
        return {n: t for n, t in triggers.items() if t.get("type") == "ApiConnectionWebhook"}

    def _sync_subscriptions(self, workflow: dict) -> None:
        current = self._eventgrid_triggers(workflow)
        known: dict[str, str] = dict(workflow["_sandbox"].get("subscriptions", {}))
        for trig, sub_id in list(known.items()):
            if trig not in current:
                self._unsubscribe(sub_id)
                del known[trig]
        for trig, spec in current.items():
            known[trig] = self._subscribe(workflow, trig, spec)
        workflow["_sandbox"]["subscriptions"] = known
        self.store.put(workflow["id"], WORKFLOW, workflow)

    def subscription_request(self, workflow: dict, trigger: str, spec: dict) -> tuple[str, dict]:
        """The event subscription the connector asks Event Grid for: (ARM id, PUT body)."""
        callback = self.callback_url(workflow, trigger)["value"]
        context = ex.Context({"listCallbackUrl": lambda: callback,
                              "parameters": lambda n: _parameter(workflow, n),
                              "utcNow": lambda fmt=None: self.sandbox.clock.isoformat()})
        inputs = context.value(spec.get("inputs") or {})
        props = (inputs.get("body") or {}).get("properties") or {}
        topic = props["topic"]
        name = (inputs.get("queries") or {}).get("subscriptionName") or _subscription_name(workflow["name"], trigger)
        dest = props.get("destination") or {}
        endpoint = (dest.get("properties") or {}).get("endpointUrl") or callback
        body: dict[str, Any] = {"properties": {
            "destination": {"endpointType": "WebHook",
                            "properties": {"endpointUrl": endpoint, "maxEventsPerBatch": 1,
                                           "preferredBatchSizeInKilobytes": 64}},
            "eventDeliverySchema": "EventGridSchema",
            "labels": [f"logicapp:{workflow['name']}", f"trigger:{trigger}"],
        }}
        flt = dict(props.get("filter") or {})
        if flt:
            body["properties"]["filter"] = flt
        return f"{topic}/providers/Microsoft.EventGrid/eventSubscriptions/{name}", body

    def _subscribe(self, workflow: dict, trigger: str, spec: dict) -> str:
        sub_id, body = self.subscription_request(workflow, trigger, spec)
        status, data = self._arm("PUT", sub_id, EVENTGRID_API, body)
        if status >= 400:
            raise subscription_failed(trigger, sub_id, data)
        return sub_id

    def _unsubscribe(self, sub_id: str) -> None:
        self._arm("DELETE", sub_id, EVENTGRID_API, None)

    def _arm(self, method: str, resource_id: str, api_version: str, body: Any) -> tuple[int, Any]:
        """An in-process ARM call through the sandbox router, following its long-running operation."""
        url = f"https://management.azure.com{resource_id}?api-version={api_version}"
        data = json.dumps(body).encode() if body is not None else b""
        status, headers, raw = self.sandbox.handle(method, url, {"Content-Type": "application/json"}, data)
        payload = json.loads(raw) if raw else None
        poll = {k.lower(): v for k, v in headers.items()}.get("azure-asyncoperation")
        for _ in range(50):
            if not poll or status >= 400:
                break
            st, _, raw_op = self.sandbox.handle("GET", poll, {}, b"")
            op = json.loads(raw_op) if raw_op else {}
            if op.get("status") in ("Succeeded", "Failed", "Canceled"):
                if op.get("status") != "Succeeded":
                    return 400, {"error": op.get("error") or {"code": op.get("status"), "message": "The operation "
                                                               f"ended {op.get('status')}."}}
                break
        return status, payload

    # -- invocation: the callback URL ---------------------------------------------------------------
    def invoke(self, key: str, trigger: str, sig: str | None, body: Any, headers: dict) -> tuple[int, Any]:
        """Answer a POST to a trigger's callback: the validation handshake, or one run per event."""
        workflow = self.by_key(key)
        self.trigger(workflow, trigger)
        if not sig or not hmac.compare_digest(sig, self._sign(workflow, trigger)):
            raise bad_signature()
        events = body if isinstance(body, list) else [body]
        for event in events:
            if isinstance(event, dict) and str(event.get("eventType", "")).endswith("SubscriptionValidationEvent"):
                code = (event.get("data") or {}).get("validationCode")
                return 200, {"validationResponse": code}
        if workflow["properties"]["state"] != "Enabled":
            raise workflow_disabled(workflow["name"])
        spec = workflow["properties"]["definition"]["triggers"][_trigger_key(workflow, trigger)]
        items = body if spec.get("splitOn") and isinstance(body, list) else [body]
        runs = [self.start_run(workflow, _trigger_key(workflow, trigger), item, headers) for item in items]
        return 202, {"runs": [r["name"] for r in runs]}

    # -- runs -----------------------------------------------------------------------------------------
    def start_run(self, workflow: dict, trigger: str, item: Any, headers: dict) -> dict:
        """Run the workflow for one trigger output and record the run, its actions and the history."""
        clock = self.sandbox.clock
        run_name = _run_name(clock.now())
        run_id = f"{workflow['id']}/runs/{run_name}"
        tracking = str(uuid.uuid4())
        start = clock.isoformat()
        outputs = {"headers": {k: v for k, v in headers.items() if k.lower() in ("content-type", "aeg-event-type",
                                                                                 "aeg-subscription-name",
                                                                                 "aeg-delivery-count")},
                   "body": item}
        trigger_record = {"name": trigger, "inputs": None, "outputs": outputs, "startTime": start,
                          "endTime": start, "status": "Succeeded", "code": "OK"}
        runner = Runner(self, workflow, run_id, run_name, trigger_record)
        result = runner.run()
        end = clock.isoformat()
        version = workflow["properties"]["version"]
        trigger_props = {"name": trigger, "outputsLink": self._content(run_id, outputs),
                         "startTime": start, "endTime": start, "trackingId": tracking,
                         "clientTrackingId": run_name, "code": "OK", "status": "Succeeded",
                         "originHistoryName": run_name}
        run = {"id": run_id, "name": run_name, "type": RUN,
               "properties": {"waitEndTime": start, "startTime": start, "endTime": end, "status": result.status,
                              "correlation": {"clientTrackingId": run_name},
                              "workflow": {"id": f"{workflow['id']}/versions/{version}", "name": version,
                                           "type": "Microsoft.Logic/workflows/versions"},
                              "trigger": trigger_props, "outputs": {}}}
        if result.code:
            run["properties"]["code"] = result.code
        if result.error:
            run["properties"]["error"] = result.error
        with self.store.transaction():
            self.store.put(run_id, RUN, run)
            for a in result.actions:
                props: dict[str, Any] = {"startTime": a.start, "endTime": a.end, "status": a.status,
                                         "code": a.code, "trackingId": str(uuid.uuid4()),
                                         "correlation": {"actionTrackingId": str(uuid.uuid4()),
                                                         "clientTrackingId": run_name}}
                if a.inputs is not None:
                    props["inputsLink"] = self._content(run_id, a.inputs)
                if a.outputs is not None:
                    props["outputsLink"] = self._content(run_id, a.outputs)
                if a.error:
                    props["error"] = a.error
                self.store.put(f"{run_id}/actions/{a.name}", ACTION,
                               {"id": f"{run_id}/actions/{a.name}", "name": a.name, "type": ACTION,
                                "properties": props, "_sandbox": {"type": a.type, "scope": a.scope}})
            history_id = f"{workflow['id']}/triggers/{trigger}/histories/{run_name}"
            self.store.put(history_id, HISTORY, {
                "id": history_id, "name": run_name, "type": HISTORY,
                "properties": {"startTime": start, "endTime": start, "scheduledTime": start, "status": "Succeeded",
                               "code": "OK", "trackingId": tracking, "correlation": {"clientTrackingId": run_name},
                               "outputsLink": trigger_props["outputsLink"], "fired": True,
                               "run": {"id": run_id, "name": run_name, "type": RUN}}},
                parent=f"{workflow['id']}/triggers/{trigger}")
        return run

    def runs(self, workflow: dict) -> list[dict]:
        runs = self.store.list(type=RUN, parent=workflow["id"])
        return sorted(runs, key=lambda r: (r["properties"]["startTime"], r["name"]), reverse=True)

    def run(self, workflow: dict, name: str) -> dict:
        body = self.store.get(f"{workflow['id']}/runs/{name}")
        if body is None:
            raise ArmError(404, "WorkflowRunNotFound", f"The workflow run '{name}' could not be found.")
        return body

    def actions(self, workflow: dict, run_name: str) -> list[dict]:
        run = self.run(workflow, run_name)
        return self.store.list(type=ACTION, parent=run["id"])

    def action(self, workflow: dict, run_name: str, name: str) -> dict:
        run = self.run(workflow, run_name)
        body = self.store.get(f"{run['id']}/actions/{name}")
        if body is None:
            raise ArmError(404, "WorkflowRunActionNotFound", f"The workflow run action '{name}' could not be found.")
        return body

    def histories(self, workflow: dict, trigger: str) -> list[dict]:
        items = self.store.list(type=HISTORY, parent=f"{workflow['id']}/triggers/{trigger}")
        return sorted(items, key=lambda h: (h["properties"]["startTime"], h["name"]), reverse=True)

    def history(self, workflow: dict, trigger: str, name: str) -> dict:
        body = self.store.get(f"{workflow['id']}/triggers/{trigger}/histories/{name}")
        if body is None:
            raise ArmError(404, "WorkflowTriggerHistoryNotFound", f"The trigger history '{name}' could not be found.")
        return body

    # -- content links --------------------------------------------------------------------------------
    def _content(self, run_id: str, value: Any) -> dict:
        data = json.dumps(value)
        key = uuid.uuid4().hex
        self.store.execute("INSERT INTO logic_contents (id, run, body) VALUES (?, ?, ?)", (key, run_id.lower(), data))
        base = self.sandbox.server.base_url if self.sandbox.server is not None else "https://management.azure.com"
        return {"uri": f"{base}/logic/contents/{key}", "contentVersion": hashlib.md5(data.encode()).hexdigest()[:16],
                "contentSize": len(data.encode()),
                "contentHash": {"algorithm": "md5",
                                "value": base64.b64encode(hashlib.md5(data.encode()).digest()).decode()}}

    def content(self, key: str) -> bytes:
        row = self.store.execute("SELECT body FROM logic_contents WHERE id = ?", (key,)).fetchone()
        if row is None:
            raise ArmError(404, "ContentNotFound", f"The content '{key}' could not be found.")
        return row[0].encode()

    # -- Microsoft.Web/connections (the API connections a workflow's $connections point at) -----------
    def put_connection(self, subscription: str, resource_group: str, name: str, spec: dict) -> tuple[dict, bool]:
        self.sandbox.backends["resources"].get_group(subscription, resource_group)
        if not spec.get("location"):
            raise missing_field("location")
        if not isinstance(spec["location"], str) or not isinstance(spec.get("tags") or {}, dict):
            raise invalid_value("location" if not isinstance(spec["location"], str) else "tags",
                                spec["location"] if not isinstance(spec["location"], str) else spec.get("tags"),
                                "a location name such as 'eastus'" if not isinstance(spec["location"], str)
                                else "an object of string values")
        props = spec.get("properties") or {}
        if not isinstance(props, dict):
            raise invalid_value("properties", props, "a JSON object with 'api': {'id': ...}")
        api = props.get("api") or {}
        if not isinstance(api, dict):
            raise invalid_value("properties.api", api, "a JSON object with the managed API's 'id'")
        api = api.get("id")
        if not isinstance(api, str) or "/managedApis/" not in api:
            raise invalid_value("properties.api.id", api,
                                "the id of a managed API, '/subscriptions/{id}/providers/Microsoft.Web/locations/"
                                "{location}/managedApis/{office365|azureeventgrid|azuredatafactory}'")
        rid = f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Web/connections/{name}"
        old = self.store.get(rid)
        now = self.sandbox.clock.isoformat()
        body = {"id": rid, "name": name, "type": CONNECTION, "location": spec["location"],
                "tags": spec.get("tags") or {}, "kind": spec.get("kind", "V1"),
                "properties": {**{k: v for k, v in props.items() if k != "parameterValues"},
                               "statuses": [{"status": "Connected"}],
                               "createdTime": old["properties"]["createdTime"] if old else now, "changedTime": now,
                               "api": {"id": api, "name": api.rsplit("/", 1)[-1], "type": "Microsoft.Web/locations/managedApis"}}}
        self.store.put(rid, CONNECTION, body)
        return body, old is None

    def get_connection(self, subscription: str, resource_group: str, name: str) -> dict:
        rid = f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Web/connections/{name}"
        body = self.store.get(rid)
        if body is None:
            raise not_found(CONNECTION, name, resource_group)
        return body

    def list_connections(self, subscription: str, resource_group: str) -> list[dict]:
        return self.store.list(type=CONNECTION, under=f"/subscriptions/{subscription}/resourceGroups/{resource_group}")

    def delete_connection(self, subscription: str, resource_group: str, name: str) -> bool:
        return self.store.delete(
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Web/connections/{name}")


def _parameter(workflow: dict, name: str) -> Any:
    props = workflow["properties"]
    given = (props.get("parameters") or {}).get(name)
    if isinstance(given, dict) and "value" in given:
        return given["value"]
    return ((props["definition"].get("parameters") or {}).get(name) or {}).get("defaultValue")


def _trigger_key(workflow: dict, name: str) -> str:
    for key in workflow["properties"]["definition"].get("triggers") or {}:
        if key.lower() == name.lower():
            return key
    raise trigger_not_found(workflow["name"], name)


def _subscription_name(workflow: str, trigger: str) -> str:
    """A valid Event Grid subscription name (3-64 letters, digits, '-') for a workflow's trigger."""
    raw = re.sub(r"[^A-Za-z0-9-]+", "-", f"LogicApp-{workflow}-{trigger}").strip("-")
    return raw[:64].rstrip("-")


_MAX_TICKS = 10 ** 19


def _run_name(now: float) -> str:
    """A run name shaped like Azure's (decreasing digits + 'CU' + digits): newer runs sort first."""
    ticks = int(now * 10 ** 7) + 621355968000000000
    return f"{_MAX_TICKS - ticks:020d}{secrets.randbelow(10 ** 9):09d}CU{secrets.randbelow(100):02d}"


def _version(now: float) -> str:
    return f"{_MAX_TICKS - int(now * 10 ** 7) - 621355968000000000:020d}"

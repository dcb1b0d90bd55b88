"""Microsoft.DataFactory state: factories, linked services, datasets, pipelines and their runs.

Pipeline runs really run, in a background thread that follows the sandbox clock: ``Wait`` waits in
sandbox time, ``Copy`` copies files between local folders (``FileServer`` linked services), and
``Web`` calls an HTTP endpoint — ARM URLs (``https://management.azure.com/...``) go through the
sandbox's own router, which is how a pipeline submits an Azure ML job (see ``runner.py``).
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

from ....events.models import parse_time
from ...arm.errors import ArmError, invalid_value, missing_field
from .exceptions import bad_parameters, not_found, run_not_found
from .runner import PipelineRunner, check_pipeline

if TYPE_CHECKING:
    from ...app import Sandbox

NS = "Microsoft.DataFactory"
FACTORY = f"{NS}/factories"
KINDS = {"pipelines": f"{NS}/factories/pipelines", "linkedservices": f"{NS}/factories/linkedservices",
         "datasets": f"{NS}/factories/datasets"}
RUN = f"{NS}/factories/pipelineruns"
ACTIVITY_RUN = f"{NS}/factories/pipelineruns/activityruns"
TERMINAL = ("Succeeded", "Failed", "Cancelled")


def factory_id(subscription: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{NS}/factories/{name}"


class DataFactoryBackend:
    """Factories and their child resources in the store; runs executed by ``PipelineRunner`` threads."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self._threads: dict[str, threading.Thread] = {}
        self._wake = threading.Condition()
        self._closing = False
        self.store.on("clock", self.wake)

    def wake(self) -> None:
        """The sandbox clock moved: let waiting activities look again."""
        with self._wake:
            self._wake.notify_all()

    def sleep_until(self, when: float) -> bool:
        """Block until sandbox time reaches ``when`` (False if the sandbox is closing)."""
        with self._wake:
            while not self._closing and self.sandbox.clock.now() < when:
                self._wake.wait(timeout=min(0.2, max(0.01, when - self.sandbox.clock.now())))
        return not self._closing

    def stop(self) -> None:
        self._closing = True
        self.wake()
        for t in list(self._threads.values()):
            t.join(timeout=5)

    # -- factories ------------------------------------------------------------------------------------
    def get_factory(self, subscription: str, resource_group: str, name: str) -> dict:
        body = self.store.get(factory_id(subscription, resource_group, name))
        if body is None:
            raise not_found("factory", name)
        return body

    def put_factory(self, subscription: str, resource_group: str, name: str, spec: dict) -> dict:
        self.sandbox.backends["resources"].get_group(subscription, resource_group)
        if not (3 <= len(name) <= 63) or not all(c.isalnum() or c == "-" for c in name) or not name[0].isalnum():
            raise invalid_value("factoryName", name, "3-63 letters, digits or '-', starting with a letter or digit")
        if not spec.get("location"):
            raise missing_field("location")
        rid = factory_id(subscription, resource_group, name)
        old = self.store.get(rid)
        props = dict(spec.get("properties") or {})
        props.update(provisioningState="Succeeded", version="2018-06-01",
                     createTime=(old or {}).get("properties", {}).get("createTime") or self.sandbox.clock.isoformat())
        body = {"id": rid, "name": name, "type": FACTORY, "location": spec["location"], "tags": spec.get("tags") or {},
                "eTag": f'"{uuid.uuid4()}"', "properties": props}
        if spec.get("identity"):
            ident = dict(spec["identity"])
            ident.setdefault("principalId", str(uuid.uuid5(uuid.NAMESPACE_URL, rid)))
            ident.setdefault("tenantId", "72f988bf-86f1-41af-91ab-2d7cd011db47")
            body["identity"] = ident
        self.store.put(rid, FACTORY, body)
        return body

    def list_factories(self, subscription: str, resource_group: str | None = None) -> list[dict]:
        under = f"/subscriptions/{subscription}" + (f"/resourceGroups/{resource_group}" if resource_group else "")
        return sorted(self.store.list(type=FACTORY, under=under), key=lambda b: b["name"].lower())

    def delete_factory(self, subscription: str, resource_group: str, name: str) -> bool:
        return self.store.delete(factory_id(subscription, resource_group, name))

    # -- pipelines, linked services, datasets ----------------------------------------------------------
    def child_id(self, factory: dict, kind: str, name: str) -> str:
        return f"{factory['id']}/{kind}/{name}"

    def get_child(self, factory: dict, kind: str, name: str) -> dict:
        body = self.store.get(self.child_id(factory, kind, name))
        if body is None:
            raise not_found(kind.rstrip("s"), name)
        return body

    def put_child(self, factory: dict, kind: str, name: str, spec: dict) -> dict:
        if not name or len(name) > 260 or any(c in name for c in "./<>*#%&:\\?+"):
            raise invalid_value(f"{kind.rstrip('s')}Name", name, "up to 260 characters, none of . / < > * # % & : \\ ? +")
        props = spec.get("properties")
        if not isinstance(props, dict):
            raise missing_field("properties")
        if kind == "pipelines":
            check_pipeline(props)
        elif not props.get("type") or not isinstance(props["type"], str):
            raise missing_field("properties.type")
        if kind == "datasets":
            ref = props.get("linkedServiceName")
            ls = ref.get("referenceName") if isinstance(ref, dict) else None
            if not ls or not isinstance(ls, str):
                raise missing_field("properties.linkedServiceName.referenceName")
        rid = self.child_id(factory, kind, name)
        body = {"id": rid, "name": name, "type": KINDS[kind], "etag": uuid.uuid4().hex, "properties": props}
        self.store.put(rid, KINDS[kind], body, parent=factory["id"])
        return body

    def list_children(self, factory: dict, kind: str) -> list[dict]:
        return sorted(self.store.list(type=KINDS[kind], parent=factory["id"]), key=lambda b: b["name"].lower())

    def delete_child(self, factory: dict, kind: str, name: str) -> bool:
        return self.store.delete(self.child_id(factory, kind, name))

    # -- runs ------------------------------------------------------------------------------------------
    def create_run(self, factory: dict, pipeline_name: str, parameters: Any, *, invoked_by: str = "Manual") -> str:
        """Queue a run of a pipeline with its parameters and start it in the background; returns its runId."""
        pipeline = self.get_child(factory, "pipelines", pipeline_name)
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise ArmError(400, "BadRequest", "The body of createRun must be a JSON object of pipeline parameters.")
        declared = pipeline["properties"].get("parameters") or {}
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            raise bad_parameters(pipeline_name, f"the parameter(s) {', '.join(unknown)} are not declared by the "
                                                f"pipeline (it declares: {', '.join(sorted(declared)) or 'none'})")
        values = {n: parameters[n] if n in parameters else (spec or {}).get("defaultValue")
                  for n, spec in declared.items()}
        missing = sorted(n for n, v in values.items() if v is None and n not in parameters)
        if missing:
            raise bad_parameters(pipeline_name, f"the parameter(s) {', '.join(missing)} have no default value and "
                                                "were not given")
        run_id = str(uuid.uuid4())
        now = self.sandbox.clock.isoformat()
        body = {"id": f"{factory['id']}/pipelineruns/{run_id}", "runId": run_id, "runGroupId": run_id,
                "isLatest": True, "pipelineName": pipeline["name"],
                "parameters": {k: _as_text(v) for k, v in parameters.items()},
                "runDimensions": {}, "invokedBy": {"id": uuid.uuid4().hex, "name": invoked_by,
                                                   "invokedByType": invoked_by},
                "runStart": None, "runEnd": None, "durationInMs": None, "status": "Queued", "message": "",
                "lastUpdated": now, "annotations": pipeline["properties"].get("annotations") or []}
        self.store.put(body["id"], RUN, body, parent=factory["id"])
        runner = PipelineRunner(self, factory, pipeline, body, values)
        thread = threading.Thread(target=runner.run, name=f"adf-run-{run_id[:8]}", daemon=True)
        self._threads[run_id] = thread
        thread.start()
        return run_id

    def get_run(self, factory: dict, run_id: str) -> dict:
        body = self.store.get(f"{factory['id']}/pipelineruns/{run_id}")
        if body is None:
            raise run_not_found(run_id)
        return _public(body)

    def save_run(self, body: dict) -> None:
        body["lastUpdated"] = self.sandbox.clock.isoformat()
        self.store.put(body["id"], RUN, body, parent=body["id"].rsplit("/pipelineruns/", 1)[0])

    def cancel_run(self, factory: dict, run_id: str) -> None:
        body = self.store.get(f"{factory['id']}/pipelineruns/{run_id}")
        if body is None:
            raise run_not_found(run_id)
        if body["status"] not in TERMINAL:
            body["_cancel"] = True
            body["status"] = "Cancelling" if body["status"] == "InProgress" else "Cancelled"
            self.save_run(body)
            self.wake()

    def cancel_requested(self, run_body: dict) -> bool:
        current = self.store.get(run_body["id"]) or {}
        return bool(current.get("_cancel"))

    def query_runs(self, factory: dict, query: dict) -> list[dict]:
        """Runs filtered by lastUpdated window, PipelineName/Status/RunId filters, newest first by default."""
        runs = [_public(b) for b in self.store.list(type=RUN, parent=factory["id"])]
        runs = [r for r in runs if _in_window(r["lastUpdated"], query)]
        for f in query.get("filters") or []:
            field = {"pipelinename": "pipelineName", "status": "status", "runid": "runId"}.get(
                str(f.get("operand", "")).lower())
            if field is None:
                raise invalid_value("filters[].operand", f.get("operand"), "PipelineName, Status or RunId")
            values = [str(v).lower() for v in f.get("values") or []]
            keep = str(f.get("operator", "Equals")).lower() in ("equals", "in")
            runs = [r for r in runs if (str(r.get(field, "")).lower() in values) == keep]
        order = (query.get("orderBy") or [{"orderBy": "RunStart", "order": "DESC"}])[0]
        key = {"runstart": "runStart", "runend": "runEnd", "pipelinename": "pipelineName", "status": "status"}.get(
            str(order.get("orderBy", "RunStart")).lower(), "runStart")
        runs.sort(key=lambda r: (r.get(key) or "", r["runId"]), reverse=str(order.get("order", "DESC")).upper() == "DESC")
        return runs

    def activity_runs(self, factory: dict, run_id: str) -> list[dict]:
        run = self.store.get(f"{factory['id']}/pipelineruns/{run_id}")
        if run is None:
            raise run_not_found(run_id)
        items = self.store.list(type=ACTIVITY_RUN, parent=run["id"])
        return sorted((_public(a) for a in items), key=lambda a: (a.get("activityRunStart") or "", a["activityName"]))

    def save_activity_run(self, run_body: dict, body: dict) -> None:
        self.store.put(f"{run_body['id']}/activityruns/{body['activityRunId']}", ACTIVITY_RUN, body,
                       parent=run_body["id"])

    def wait(self, factory: dict, run_id: str, *, timeout: float = 60.0) -> dict:
        """Block until a run ends (for tests and lessons; the SDK polls ``pipeline_runs.get`` instead)."""
        thread = self._threads.get(run_id)
        if thread is not None:
            thread.join(timeout=timeout)
        return self.get_run(factory, run_id)


def _public(body: dict) -> dict:
    return {k: v for k, v in body.items() if not k.startswith("_") and k != "id"}


def _as_text(value: Any) -> str:
    """Pipeline run parameters are reported as strings (arrays and objects as JSON)."""
    import json
    return value if isinstance(value, str) else json.dumps(value)


def _when(text: Any) -> float | None:
    if not text:
        return None
    value = parse_time(str(text))  # 7 fractional digits and 'Z' too, on every Python
    if value is None:
        raise invalid_value("lastUpdatedAfter/lastUpdatedBefore", text, "an ISO 8601 date-time")
    return value.timestamp()


def _in_window(updated: str, query: dict) -> bool:
    after, before, at = _when(query.get("lastUpdatedAfter")), _when(query.get("lastUpdatedBefore")), _when(updated)
    return (after is None or at >= after) and (before is None or at <= before)

"""Managed online endpoints and deployments: long-running create/update/delete, keys, traffic, scoring.

A deployment's operation ends when its model is loaded and the scoring server answers its
readiness probe over HTTP; then ModelDeployed is published, when the deployment was created or now
serves another model (an update that only scales it or changes its settings publishes nothing). A
model that does not load fails the operation (provisioningState Failed, the reason in the error) and
publishes nothing. Only a deployment whose provisioning succeeded may take traffic above 0%.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import shutil
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ...arm.errors import ArmError, invalid_value, missing_field, not_found
from ...arm.http import Request, Response
from .scoring import Predictor, ScoringError, ScoringServer, load_predictor

if TYPE_CHECKING:
    from .models import MLBackend

NS = "Microsoft.MachineLearningServices"
ENDPOINT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
SERVICE = "ml-scoring"
AUTH_MODES = ("Key", "AMLToken", "AADToken")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]")
_DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")

# The model each deployment served when its last operation succeeded (what ModelDeployed announced):
# an update that keeps the model is not a new deployment of it. Sandbox bookkeeping, never on the wire.
SCHEMA = """
CREATE TABLE IF NOT EXISTS ml_deployed_models (
    deployment_id TEXT PRIMARY KEY,
    model TEXT NOT NULL
);
"""


class Endpoints:
    """Online endpoints, their deployments and the loaded models behind the scoring server."""

    def __init__(self, backend: "MLBackend") -> None:
        self.backend = backend
        self.sandbox = backend.sandbox
        self.store = backend.store
        self._predictors: dict[tuple[str, str], Predictor] = {}
        self._lock = threading.RLock()
        self.store.executescript(SCHEMA)
        self.sandbox.add_service(SERVICE, lambda: ScoringServer(self._resolve, self.predictor))
        ops = self.sandbox.operations
        ops.register("ml-endpoint", on_succeeded=self._endpoint_succeeded)
        ops.register("ml-deployment", completer=self._complete_deployment, on_succeeded=self._deployment_succeeded)

    def endpoint_id(self, name: str) -> str:
        return f"{self.backend.assets.ws}/onlineEndpoints/{name}"

    def deployment_id(self, endpoint: str, name: str) -> str:
        return f"{self.endpoint_id(endpoint)}/deployments/{name}"

    def scoring_base(self) -> str:
        return self.sandbox.service(SERVICE).base_url

    # -- endpoints ----------------------------------------------------------------------------------
    def get_endpoint(self, name: str) -> dict[str, Any]:
        body = self.store.get(self.endpoint_id(name))
        if body is None:
            raise not_found(ENDPOINT_TYPE, name)
        return self._live(body)

    def _live(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fill the URIs from the scoring server running now (its port is chosen when it starts)."""
        body = dict(body)
        props = body["properties"] = dict(body["properties"])
        if props.get("provisioningState") != "Deleting":
            base = f"{self.scoring_base()}/online-endpoints/{body['name']}"
            props["scoringUri"] = f"{base}/score"
            props["swaggerUri"] = f"{base}/swagger.json"
        props.pop("keys", None)
        return body

    def list_endpoints(self) -> list[dict[str, Any]]:
        return [self._live(b) for b in self.store.list(type=ENDPOINT_TYPE, parent=self.backend.assets.ws)]

    def put_endpoint(self, request: Request, subscription: str, name: str, body: dict[str, Any]) -> Response:
        props = body.get("properties")
        if not isinstance(props, dict):
            raise missing_field("properties")
        if not _NAME.fullmatch(name):
            raise invalid_value("name", name, "3-32 characters: letters, digits and '-', starting with a letter "
                                "and not ending with '-'")
        auth = props.get("authMode") or "Key"
        if auth not in AUTH_MODES:
            raise invalid_value("properties.authMode", auth, ", ".join(AUTH_MODES))
        existing = self.store.get(self.endpoint_id(name))
        traffic = {k: int(v) for k, v in (props.get("traffic") or {}).items()}
        if traffic:
            self._check_traffic(name, traffic, (existing or {}).get("properties", {}).get("traffic") or {})
        if existing is None:
            out = {"id": self.endpoint_id(name), "name": name, "type": ENDPOINT_TYPE,
                   "location": body.get("location") or self.backend.location,
                   "identity": {"type": "SystemAssigned", "principalId": self.backend.tenant_id,
                                "tenantId": self.backend.tenant_id},
                   "kind": "Managed", "tags": body.get("tags") or {},
                   "properties": {"description": props.get("description"), "properties": props.get("properties") or {},
                                  "authMode": auth, "traffic": traffic, "mirrorTraffic": {},
                                  "publicNetworkAccess": props.get("publicNetworkAccess") or "Enabled",
                                  "provisioningState": "Creating",
                                  "keys": {"primaryKey": secrets.token_urlsafe(24),
                                           "secondaryKey": secrets.token_urlsafe(24)}},
                   "systemData": self.backend.system_data()}
            status = 201
        else:
            out = existing
            p = out["properties"]
            if auth != p["authMode"]:
                raise ArmError(400, "BadArgument", f"authMode cannot change ({p['authMode']} -> {auth}); "
                               "delete and recreate the endpoint.")
            for key in ("description", "properties"):
                if key in props:
                    p[key] = props[key]
            p["traffic"] = traffic
            if "tags" in body:
                out["tags"] = body["tags"] or {}
            p["provisioningState"] = "Updating"
            out["systemData"] = self.backend.system_data(out["systemData"])
            status = 200
        self.store.put(out["id"], ENDPOINT_TYPE, out)
        return self.sandbox.operations.start(request, subscription=subscription, namespace=NS, resource_id=out["id"],
                                             kind="ml-endpoint", status=status, body=self._live(out))

    def patch_endpoint(self, request: Request, subscription: str, name: str, body: dict[str, Any]) -> Response:
        current = self.store.get(self.endpoint_id(name))
        if current is None:
            raise not_found(ENDPOINT_TYPE, name)
        merged = {"location": current["location"], "tags": body.get("tags", current.get("tags")),
                  "properties": {**current["properties"], **(body.get("properties") or {})}}
        return self.put_endpoint(request, subscription, name, merged)

    def _check_traffic(self, endpoint: str, traffic: dict[str, int], current: dict[str, Any]) -> None:
        for dep, weight in traffic.items():
            body = self.store.get(self.deployment_id(endpoint, dep))
            if body is None:
                raise ArmError(400, "BadArgument", f"traffic names deployment '{dep}', which endpoint '{endpoint}' "
                               "does not have.")
            if weight < 0 or weight > 100:
                raise invalid_value(f"properties.traffic.{dep}", weight, "an integer from 0 to 100")
            state = body["properties"].get("provisioningState")
            # a deployment being updated keeps serving what it already had; nothing else that has not succeeded
            # may take traffic (the scoring server would not send it any, and the split would silently not hold)
            keeps = state == "Updating" and weight <= int(current.get(dep, 0) or 0)
            if weight > 0 and state != "Succeeded" and not keeps:
                raise ArmError(400, "BadArgument", f"Deployment '{dep}' is in provisioning state {state}: only a "
                               f"deployment that succeeded can take traffic; give it 0% (it asks for {weight}%).")
        if sum(traffic.values()) not in (0, 100):
            raise ArmError(400, "BadArgument", f"Traffic values must add up to 100 (or 0); they add up to "
                           f"{sum(traffic.values())}.")

    def _endpoint_succeeded(self, op: dict[str, Any]) -> None:
        body = self.store.get(op["resource_id"])
        if body is not None and body["properties"]["provisioningState"] in ("Creating", "Updating"):
            body["properties"]["provisioningState"] = "Succeeded"
            self.store.put(body["id"], ENDPOINT_TYPE, body)

    def delete_endpoint(self, request: Request, subscription: str, name: str) -> Response:
        body = self.store.get(self.endpoint_id(name))
        if body is None:
            return Response(204, None)
        with self._lock:
            for key in [k for k in self._predictors if k[0] == name]:
                self._predictors.pop(key)
        self.store.delete(body["id"])  # deployments go with it
        self._forget_deployed(body["id"] + "/deployments/")
        shutil.rmtree(self.sandbox.folder / "deployments" / name, ignore_errors=True)
        return self.sandbox.operations.start(request, subscription=subscription, namespace=NS,
                                             resource_id=body["id"], kind="ml-endpoint-delete", status=202)

    def keys(self, name: str) -> dict[str, str]:
        body = self.store.get(self.endpoint_id(name))
        if body is None:
            raise not_found(ENDPOINT_TYPE, name)
        if body["properties"]["authMode"] != "Key":
            raise ArmError(400, "BadArgument", f"Endpoint '{name}' uses {body['properties']['authMode']} auth; "
                           "keys exist only for authMode Key.")
        return dict(body["properties"]["keys"])

    def regenerate_keys(self, request: Request, subscription: str, name: str, body: dict[str, Any]) -> Response:
        current = self.store.get(self.endpoint_id(name))
        if current is None:
            raise not_found(ENDPOINT_TYPE, name)
        which = body.get("keyType") or "Primary"
        if which not in ("Primary", "Secondary"):
            raise invalid_value("keyType", which, "Primary, Secondary")
        current["properties"]["keys"][f"{which.lower()}Key"] = body.get("keyValue") or secrets.token_urlsafe(24)
        self.store.put(current["id"], ENDPOINT_TYPE, current)
        return self.sandbox.operations.start(request, subscription=subscription, namespace=NS,
                                             resource_id=current["id"], kind="ml-keys", status=202)

    # -- deployments --------------------------------------------------------------------------------
    def get_deployment(self, endpoint: str, name: str) -> dict[str, Any]:
        body = self.store.get(self.deployment_id(endpoint, name))
        if body is None:
            raise not_found(DEPLOYMENT_TYPE, f"{endpoint}/{name}")
        return body

    def list_deployments(self, endpoint: str) -> list[dict[str, Any]]:
        self.get_endpoint(endpoint)
        return self.store.list(type=DEPLOYMENT_TYPE, parent=self.endpoint_id(endpoint))

    def put_deployment(self, request: Request, subscription: str, endpoint: str, name: str,
                       body: dict[str, Any]) -> Response:
        self.get_endpoint(endpoint)
        props = body.get("properties")
        if not isinstance(props, dict):
            raise missing_field("properties")
        if not _DEPLOYMENT_NAME.fullmatch(name):
            raise invalid_value("name", name, "1-32 characters: letters, digits and '-', starting with a letter or digit")
        if not props.get("model"):
            raise missing_field("properties.model")
        model_name, model_version = self.model_ref(props["model"])
        self.backend.assets.get_version(model_name, model_version)  # 404 now if it does not exist
        compute = props.get("endpointComputeType") or "Managed"
        if compute != "Managed":
            raise invalid_value("properties.endpointComputeType", compute, "Managed (the sandbox's only kind)")
        existing = self.store.get(self.deployment_id(endpoint, name))
        sku = body.get("sku") or {"name": "Default", "capacity": 1}
        out = {"id": self.deployment_id(endpoint, name), "name": name, "type": DEPLOYMENT_TYPE,
               "location": body.get("location") or self.backend.location, "kind": "Managed",
               "tags": body.get("tags") or {}, "sku": {"name": sku.get("name", "Default"), "tier": "Standard",
                                                       "capacity": sku.get("capacity", 1)},
               "properties": {
                   "description": props.get("description"), "properties": props.get("properties") or {},
                   "model": props["model"], "codeConfiguration": props.get("codeConfiguration"),
                   "environmentId": props.get("environmentId"),
                   "environmentVariables": props.get("environmentVariables") or {},
                   "instanceType": props.get("instanceType") or "Standard_DS3_v2",
                   "endpointComputeType": "Managed", "appInsightsEnabled": bool(props.get("appInsightsEnabled")),
                   "scaleSettings": props.get("scaleSettings") or {"scaleType": "Default"},
                   "requestSettings": props.get("requestSettings") or {"maxQueueWait": "PT0.5S", "requestTimeout": "PT5S",
                                                                       "maxConcurrentRequestsPerInstance": 1},
                   "livenessProbe": props.get("livenessProbe") or _probe(30),
                   "readinessProbe": props.get("readinessProbe") or _probe(30),
                   "egressPublicNetworkAccess": props.get("egressPublicNetworkAccess") or "Enabled",
                   "provisioningState": "Updating" if existing else "Creating"},
               "systemData": self.backend.system_data((existing or {}).get("systemData"))}
        self.store.put(out["id"], DEPLOYMENT_TYPE, out, parent=self.endpoint_id(endpoint))
        with self._lock:
            self._predictors.pop((endpoint, name), None)
        return self.sandbox.operations.start(request, subscription=subscription, namespace=NS, resource_id=out["id"],
                                             kind="ml-deployment", status=200 if existing else 201, body=out)

    def patch_deployment(self, request: Request, subscription: str, endpoint: str, name: str,
                         body: dict[str, Any]) -> Response:
        current = self.get_deployment(endpoint, name)
        merged = {"location": current["location"], "tags": body.get("tags", current["tags"]),
                  "sku": body.get("sku") or current["sku"],
                  "properties": {**current["properties"], **(body.get("properties") or {})}}
        return self.put_deployment(request, subscription, endpoint, name, merged)

    def delete_deployment(self, request: Request, subscription: str, endpoint: str, name: str) -> Response:
        body = self.store.get(self.deployment_id(endpoint, name))
        if body is None:
            return Response(204, None)
        ep = self.store.get(self.endpoint_id(endpoint))
        if ep and ep["properties"]["traffic"].get(name, 0) > 0:
            raise ArmError(400, "BadArgument", f"Deployment '{name}' still takes {ep['properties']['traffic'][name]}% "
                           "of the endpoint's traffic; move it to another deployment first.")
        if ep and name in ep["properties"]["traffic"]:
            ep["properties"]["traffic"].pop(name)
            self.store.put(ep["id"], ENDPOINT_TYPE, ep)
        with self._lock:
            self._predictors.pop((endpoint, name), None)
        self.store.delete(body["id"])
        self._forget_deployed(body["id"])
        shutil.rmtree(self.sandbox.folder / "deployments" / endpoint / name, ignore_errors=True)
        return self.sandbox.operations.start(request, subscription=subscription, namespace=NS,
                                             resource_id=body["id"], kind="ml-deployment-delete", status=202)

    def logs(self, endpoint: str, name: str, tail: int | None) -> str:
        self.get_deployment(endpoint, name)
        path = self.sandbox.folder / "deployments" / endpoint / name / "log.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        return "\n".join(lines[-tail:] if tail else lines)

    def model_ref(self, model: str) -> tuple[str, str]:
        """(name, version) of ``azureml:name:version`` or a model version ARM id."""
        m = re.search(r"/models/([^/]+)/versions/([^/]+)$", model)
        if m:
            return m.group(1), m.group(2)
        if model.startswith("azureml:") and model.count(":") == 2:
            _, name, version = model.split(":")
            return name, version
        raise invalid_value("properties.model", model, "a registered model version: 'azureml:<name>:<version>' "
                            "or its ARM id")

    # -- loading and the LRO --------------------------------------------------------------------------
    def predictor(self, endpoint: str, name: str) -> Predictor:
        """The loaded model of a deployment (loaded on first use, e.g. after the sandbox restarted)."""
        with self._lock:
            loaded = self._predictors.get((endpoint, name))
            if loaded is not None:
                return loaded
            body = self.store.get(self.deployment_id(endpoint, name))
            if body is None:
                raise ScoringError(f"The endpoint '{endpoint}' has no deployment '{name}'.")
            predictor = self._load(endpoint, name, body)
            self._predictors[(endpoint, name)] = predictor
            return predictor

    def _load(self, endpoint: str, name: str, body: dict[str, Any]) -> Predictor:
        folder = self.sandbox.folder / "deployments" / endpoint / name
        log = folder / "log.txt"
        folder.mkdir(parents=True, exist_ok=True)
        assets = self.backend.assets
        try:
            model_name, version = self.model_ref(body["properties"]["model"])
            model = assets.get_version(model_name, version)
            source = assets.resolve(model["properties"]["modelUri"])
            # AZUREML_MODEL_DIR holds the registered file or folder under its own name, as on Azure
            model_dir = folder / "model"
            shutil.rmtree(model_dir, ignore_errors=True)
            leaf = model["properties"]["modelUri"].rstrip("/").split("/")[-1]
            if source.is_dir():
                shutil.copytree(source, model_dir / leaf)
            else:
                (model_dir).mkdir(parents=True)
                shutil.copy2(source, model_dir / source.name)
            code_dir, script = None, None
            conf = body["properties"].get("codeConfiguration") or {}
            if conf.get("scoringScript"):
                script = conf["scoringScript"]
                code_dir = folder / "code"
                shutil.rmtree(code_dir, ignore_errors=True)
                parts = (conf.get("codeId") or "").rstrip("/").split("/")
                if len(parts) < 3:
                    raise ScoringError("codeConfiguration.codeId must name a code version.")
                code = assets.get_code_version(parts[-3], parts[-1])
                src = assets.resolve(code["properties"]["codeUri"])
                shutil.copytree(src, code_dir) if src.is_dir() else (code_dir.mkdir(), shutil.copy2(src, code_dir))
            predictor = load_predictor(model_dir, code_dir, script)
        except (ScoringError, ArmError) as exc:
            message = exc.message if isinstance(exc, ArmError) else str(exc)
            log.write_text(f"Model load failed: {message}\n")
            raise ScoringError(message) from exc
        log.write_text(f"Loaded {model_name}:{version} ({predictor.description}).\nReady to score.\n")
        return predictor

    def _complete_deployment(self, op: dict[str, Any]) -> tuple[str, dict | None]:
        """The deployment's LRO ends when the scoring server says it is ready (a real HTTP probe)."""
        body = self.store.get(op["resource_id"])
        if body is None:
            return "Failed", {"code": "NotFound", "message": "The deployment was deleted while being created."}
        endpoint = op["resource_id"].split("/")[-3]
        status, message = self._probe(endpoint, body["name"])
        if status == 200:
            return "Succeeded", None
        body["properties"]["provisioningState"] = "Failed"
        self.store.put(body["id"], DEPLOYMENT_TYPE, body, parent=self.endpoint_id(endpoint))
        self._forget_deployed(body["id"])  # it serves nothing now: its next success deploys a model again
        return "Failed", {"code": "ResourceNotReady",
                          "message": f"User container has crashed or terminated: {message}"}

    def _probe(self, endpoint: str, name: str) -> tuple[int, str]:
        host = urlsplit(self.scoring_base())
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        try:
            conn.request("GET", f"/online-endpoints/{quote(endpoint, safe='')}/deployments/{quote(name, safe='')}/ready")
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
        finally:
            conn.close()
        try:
            return resp.status, json.loads(text)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            return resp.status, text

    def _deployment_succeeded(self, op: dict[str, Any]) -> None:
        body = self.store.get(op["resource_id"])
        if body is None:
            return
        endpoint = op["resource_id"].split("/")[-3]
        body["properties"]["provisioningState"] = "Succeeded"
        self.store.put(body["id"], DEPLOYMENT_TYPE, body, parent=self.endpoint_id(endpoint))
        name, version = self.model_ref(body["properties"]["model"])
        model, key = f"{name}:{version}", body["id"].lower()
        row = self.store.execute("SELECT model FROM ml_deployed_models WHERE deployment_id = ?", (key,)).fetchone()
        if row is not None and row[0] == model:
            return  # the same model, scaled or reconfigured: not a new deployment of it
        self.store.execute("INSERT INTO ml_deployed_models (deployment_id, model) VALUES (?, ?) "
                           "ON CONFLICT(deployment_id) DO UPDATE SET model = excluded.model", (key, model))
        self.backend.model_deployed(endpoint, body)

    def _forget_deployed(self, deployment_id: str) -> None:
        """Drop the record of what a deployment (or, with a trailing '/', every one under a prefix) served."""
        key = deployment_id.lower()
        if key.endswith("/"):
            self.store.execute("DELETE FROM ml_deployed_models WHERE substr(deployment_id, 1, ?) = ?", (len(key), key))
        else:
            self.store.execute("DELETE FROM ml_deployed_models WHERE deployment_id = ?", (key,))

    def _resolve(self, endpoint: str) -> tuple[list[str], dict[str, int]]:
        body = self.store.get(self.endpoint_id(endpoint))
        if body is None:
            raise LookupError(endpoint)
        deployments = {d["name"]: 0 for d in self.store.list(type=DEPLOYMENT_TYPE, parent=body["id"])
                       if d["properties"]["provisioningState"] == "Succeeded"}
        for dep, weight in body["properties"]["traffic"].items():
            if dep in deployments:
                deployments[dep] = int(weight)
        keys = body["properties"]["keys"]
        return [keys["primaryKey"], keys["secondaryKey"]], deployments

    def forward_score(self, endpoint: str, request: Request) -> Response:
        """Pass a scoring call that reached the sandbox (in-process clients) to the scoring server.

        The endpoint name goes on percent-encoded (it came unquoted in ``request.path``) and the headers as
        UTF-8 bytes, so any name or header the client managed to send is answered by the scoring server.
        """
        host = urlsplit(self.scoring_base())
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        headers = {k: v.encode("utf-8", "surrogateescape") for k, v in request.headers.items() if k.lower() in
                   ("authorization", "content-type", "azureml-model-deployment") and "\n" not in v and "\r" not in v}
        try:
            conn.request("POST", f"/online-endpoints/{quote(endpoint, safe='')}/score", body=request.body,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, data, {"Content-Type": resp.getheader("Content-Type") or "application/json"})
        finally:
            conn.close()


def _probe(failure_threshold: int) -> dict[str, Any]:
    return {"failureThreshold": failure_threshold, "successThreshold": 1, "timeout": "PT2S", "period": "PT10S",
            "initialDelay": "PT10S"}

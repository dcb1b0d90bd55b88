"""Workspace assets: the default datastore, models (containers and versions), code and environments."""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ... import defaults
from ...arm.errors import ArmError, invalid_value, missing_field, not_found

if TYPE_CHECKING:
    from .models import MLBackend

DATASTORE = "workspaceblobstore"
ARTIFACT_STORE = "workspaceartifactstore"  # where run logs go (jobs.stream reads them there)
DATASTORES = (DATASTORE, ARTIFACT_STORE)
MODEL_TYPES = {"custom_model": "custom_model", "mlflow_model": "mlflow_model", "triton_model": "triton_model",
               "custommodel": "custom_model", "mlflowmodel": "mlflow_model", "tritonmodel": "triton_model"}
LIST_VIEWS = ("ActiveOnly", "ArchivedOnly", "All")
CURATED_PREFIX = "azureml"

_DATASTORE_URI = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/(?:providers/Microsoft\.MachineLearningServices/)?"
    r"workspaces/[^/]+/)?datastores/(?P<ds>[^/]+)/paths/(?P<path>.*)$", re.IGNORECASE)
_JOB_URI = re.compile(r"^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/workspaces/[^/]+/)?"
                      r"jobs/(?P<job>[^/]+)/outputs/(?P<output>[^/]+)(?:/paths/(?P<path>.*))?$", re.IGNORECASE)


class Assets:
    """Models, code and environments of the workspace, with their files in the sandbox's blob store."""

    def __init__(self, backend: "MLBackend") -> None:
        self.backend = backend
        self.store = backend.store
        self.blobs = backend.blobs

    @property
    def ws(self) -> str:
        return defaults.WORKSPACE_ID

    # -- datastore ----------------------------------------------------------------------------------
    def datastore(self, name: str) -> dict[str, Any]:
        if name.lower() not in DATASTORES:
            raise not_found("Microsoft.MachineLearningServices/workspaces/datastores", name)
        return self.datastore_body(name.lower())

    def datastores(self) -> list[dict[str, Any]]:
        return [self.datastore_body(n) for n in DATASTORES]

    def datastore_body(self, name: str = DATASTORE) -> dict[str, Any]:
        return {
            "id": f"{self.ws}/datastores/{name}", "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob", "accountName": self.backend.account_name,
                "containerName": self.backend.container, "endpoint": "core.windows.net", "protocol": "https",
                "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity", "isDefault": name == DATASTORE,
                "credentials": {"credentialsType": "AccountKey"}, "description": "The sandbox's blob storage",
                "tags": {}, "properties": {},
            },
            "systemData": self.backend.system_data(),
        }

    def list_secrets(self, name: str) -> dict[str, Any]:
        self.datastore(name)
        if name.lower() == ARTIFACT_STORE:  # azure-ai-ml signs log URLs with the account key
            return {"secretsType": "AccountKey", "key": "c2FuZGJveC1hY2NvdW50LWtleS1ub3QtYS1zZWNyZXQ="}
        return {"secretsType": "Sas", "sasToken": self.backend.sas_token()}

    # -- models -------------------------------------------------------------------------------------
    def container_id(self, name: str) -> str:
        return f"{self.ws}/models/{name}"

    def version_id(self, name: str, version: str) -> str:
        return f"{self.ws}/models/{name}/versions/{version}"

    def get_container(self, name: str) -> dict[str, Any]:
        body = self.store.get(self.container_id(name))
        if body is None:
            raise not_found("Microsoft.MachineLearningServices/workspaces/models", name)
        return body

    def list_containers(self, view: str = "ActiveOnly") -> list[dict[str, Any]]:
        containers = self.store.list(type="Microsoft.MachineLearningServices/workspaces/models", parent=self.ws)
        return [c for c in containers if _in_view(c, view)]

    def put_container(self, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        props = body.get("properties") or {}
        existing = self.store.get(self.container_id(name))
        out = existing or self._container_body(name)
        for key in ("description", "tags", "properties", "isArchived"):
            if key in props:
                out["properties"][key] = props[key]
        out["systemData"] = self.backend.system_data(out.get("systemData"))
        self.store.put(self.container_id(name), "Microsoft.MachineLearningServices/workspaces/models", out)
        return out, existing is None

    def _container_body(self, name: str) -> dict[str, Any]:
        return {"id": self.container_id(name), "name": name, "type": "Microsoft.MachineLearningServices/workspaces/models",
                "properties": {"description": None, "tags": {}, "properties": {}, "isArchived": False,
                               "latestVersion": None, "nextVersion": "1", "provisioningState": "Succeeded"},
                "systemData": self.backend.system_data()}

    def get_version(self, name: str, version: str) -> dict[str, Any]:
        body = self.store.get(self.version_id(name, version))
        if body is None:
            raise not_found("Microsoft.MachineLearningServices/workspaces/models/versions", f"{name}/{version}")
        return body

    def list_versions(self, name: str, *, view: str = "ActiveOnly", order_by: str | None = None,
                      top: int | None = None, skip: int = 0, version: str | None = None,
                      tags: str | None = None) -> list[dict[str, Any]]:
        if view not in LIST_VIEWS:
            raise invalid_value("listViewType", view, ", ".join(LIST_VIEWS))
        versions = self.store.list(type="Microsoft.MachineLearningServices/workspaces/models/versions",
                                   parent=self.container_id(name))
        versions = [v for v in versions if _in_view(v, view)]
        if version:
            versions = [v for v in versions if v["name"] == version]
        if tags:
            versions = [v for v in versions if _has_tags(v["properties"].get("tags") or {}, tags)]
        versions = _ordered(versions, order_by)
        versions = versions[skip:]
        return versions[:top] if top is not None else versions

    def put_version(self, name: str, version: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or update a model version; returns (body, created)."""
        props = body.get("properties")
        if not isinstance(props, dict):
            raise missing_field("properties")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}", name):
            raise invalid_value("name", name, "letters, digits, '-', '_' and '.', starting with a letter or digit")
        uri = props.get("modelUri")
        if not uri:
            raise missing_field("properties.modelUri")
        model_type = MODEL_TYPES.get(str(props.get("modelType") or "custom_model").lower())
        if model_type is None:
            raise invalid_value("properties.modelType", props.get("modelType"), "custom_model, mlflow_model, triton_model")
        existing = self.store.get(self.version_id(name, version))
        if existing is not None:
            if existing["properties"]["modelUri"] != uri:
                raise ArmError(409, "UserError", f"Model {name}:{version} already exists with a different path; "
                               "a model version's files cannot change. Register a new version instead.")
            for key in ("description", "tags", "properties", "isArchived", "stage"):
                if key in props:
                    existing["properties"][key] = props[key]
            existing["systemData"] = self.backend.system_data(existing["systemData"])
            self.store.put(self.version_id(name, version), "Microsoft.MachineLearningServices/workspaces/models/versions",
                           existing, parent=self.container_id(name))
            return existing, False
        local = self.resolve(uri)  # the files must exist: a 400 now beats a failed deployment later
        flavors = read_flavors(local) if model_type == "mlflow_model" else {}
        if model_type == "mlflow_model" and not flavors:
            raise ArmError(400, "UserError", f"The mlflow_model at {uri!r} has no MLmodel file with flavors.")
        out = {
            "id": self.version_id(name, version), "name": version,
            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
            "properties": {
                "description": props.get("description"), "tags": props.get("tags") or {},
                "properties": props.get("properties") or {}, "isAnonymous": bool(props.get("isAnonymous", False)),
                "isArchived": bool(props.get("isArchived", False)), "flavors": flavors, "modelType": model_type,
                "modelUri": uri, "jobName": props.get("jobName") or _job_of(uri), "stage": props.get("stage") or "Development",
                "provisioningState": "Succeeded",
            },
            "systemData": self.backend.system_data(),
        }
        with self.store.transaction():
            container, _ = self.put_container(name, {})
            self.store.put(out["id"], "Microsoft.MachineLearningServices/workspaces/models/versions", out,
                           parent=self.container_id(name))
            latest = self.list_versions(name, view="All", order_by="createdtime desc", top=1)[0]["name"]
            container["properties"]["latestVersion"] = latest
            container["properties"]["nextVersion"] = str(int(latest) + 1) if latest.isdigit() else None
            self.store.put(container["id"], "Microsoft.MachineLearningServices/workspaces/models", container)
        return out, True

    def delete_version(self, name: str, version: str) -> None:
        self.get_version(name, version)
        self.store.delete(self.version_id(name, version))

    # -- code ----------------------------------------------------------------------------------------
    def code_id(self, name: str, version: str | None = None) -> str:
        return f"{self.ws}/codes/{name}" + (f"/versions/{version}" if version else "")

    def list_code_versions(self, name: str, hash_: str | None = None) -> list[dict[str, Any]]:
        versions = self.store.list(type="Microsoft.MachineLearningServices/workspaces/codes/versions",
                                   parent=self.code_id(name))
        if hash_:
            versions = [v for v in versions if v["properties"].get("properties", {}).get("hash") == hash_
                        or v["properties"].get("hash") == hash_]
        return versions

    def get_code_version(self, name: str, version: str) -> dict[str, Any]:
        body = self.store.get(self.code_id(name, version))
        if body is None:
            raise not_found("Microsoft.MachineLearningServices/workspaces/codes/versions", f"{name}/{version}")
        return body

    def start_pending_upload(self, name: str, version: str) -> dict[str, Any]:
        """Where the SDK should upload a code snapshot: a SAS URL on the sandbox's blob store."""
        # One container per upload, as Azure does: the SDK uploads the folder at its root.
        blob_uri = f"{self.backend.account_url}/azureml-code-{uuid.uuid4()}"
        return {"blobReferenceForConsumption": {
                    "blobUri": blob_uri,
                    "storageAccountArmId": self.backend.storage_account_id,
                    "credential": {"credentialType": "SAS", "sasUri": f"{blob_uri}?{self.backend.sas_token()}"}},
                "pendingUploadId": str(uuid.uuid4()), "pendingUploadType": "TemporaryBlobReference"}

    def put_code_version(self, name: str, version: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        props = body.get("properties") or {}
        if not props.get("codeUri"):
            raise missing_field("properties.codeUri")
        existing = self.store.get(self.code_id(name, version))
        out = {"id": self.code_id(name, version), "name": version,
               "type": "Microsoft.MachineLearningServices/workspaces/codes/versions",
               "properties": {"description": props.get("description"), "tags": props.get("tags") or {},
                              "properties": props.get("properties") or {}, "isAnonymous": bool(props.get("isAnonymous")),
                              "isArchived": False, "codeUri": props["codeUri"], "provisioningState": "Succeeded"},
               "systemData": self.backend.system_data()}
        with self.store.transaction():
            if self.store.get(self.code_id(name)) is None:
                self.store.put(self.code_id(name), "Microsoft.MachineLearningServices/workspaces/codes",
                               {"id": self.code_id(name), "name": name, "type": "Microsoft.MachineLearningServices/workspaces/codes",
                                "properties": {"isArchived": False, "tags": {}, "properties": {}},
                                "systemData": self.backend.system_data()})
            self.store.put(out["id"], "Microsoft.MachineLearningServices/workspaces/codes/versions", out,
                           parent=self.code_id(name))
        return out, existing is None

    # -- environments (curated ones are accepted and run on the sandbox's Python) ---------------------
    def environment_version(self, name: str, version: str) -> dict[str, Any]:
        return {"id": f"{self.ws}/environments/{name}/versions/{version}", "name": version,
                "type": "Microsoft.MachineLearningServices/workspaces/environments/versions",
                "properties": {"description": "Runs on the sandbox's own Python interpreter.", "tags": {},
                               "properties": {}, "isAnonymous": False, "isArchived": False,
                               "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
                               "osType": "Linux", "environmentType": "Curated", "provisioningState": "Succeeded"},
                "systemData": self.backend.system_data()}

    # -- files behind a URI ---------------------------------------------------------------------------
    def resolve(self, uri: str) -> Path:
        """The local file or folder behind a model/code/input URI (blob prefixes are materialised)."""
        m = _JOB_URI.match(uri)
        if m:
            return self.backend.jobs.output_path(m["job"], m["output"], m["path"] or "")
        m = _DATASTORE_URI.match(uri)
        if m:
            if m["ds"].lower() not in DATASTORES:
                raise invalid_value("modelUri", uri, f"paths on the '{DATASTORE}' datastore (the sandbox's only one)")
            return self._materialise(self.backend.container, m["path"].strip("/"))
        if uri.startswith(self.backend.account_url + "/"):
            rest = uri[len(self.backend.account_url) + 1:].split("?")[0]
            container, _, prefix = rest.partition("/")
            return self._materialise(container, prefix.strip("/"))
        if uri.startswith("azureml:") or uri.startswith("http"):
            raise invalid_value("uri", uri, "azureml://datastores/<ds>/paths/<path>, azureml://jobs/<job>/outputs/<name>, "
                                "or a local path uploaded by azure-ai-ml (other storage is not reachable from the sandbox)")
        raise invalid_value("uri", uri, "an azureml:// URI")

    def _materialise(self, container: str, prefix: str) -> Path:
        exact = self.blobs.properties(container, prefix)
        blobs = [exact] if exact else self.blobs.list(container, prefix.rstrip("/") + "/")
        if not blobs:
            raise ArmError(400, "UserError", f"No file exists at '{prefix}' in the '{DATASTORE}' datastore.")
        key = hashlib.sha1(f"{container}/{prefix}/{[b['md5'] for b in blobs]}".encode()).hexdigest()[:16]
        dest = self.backend.sandbox.folder / "cache" / key
        if exact:
            target = dest / Path(prefix).name
            if not target.exists():
                dest.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.blobs.path(container, prefix).read_bytes())
            return target
        if not dest.exists():
            tmp = dest.with_name(key + f".tmp{uuid.uuid4().hex[:6]}")
            self.blobs.copy_tree(container, prefix.rstrip("/") + "/", tmp)
            try:
                tmp.rename(dest)
            except OSError:  # another thread got there first
                shutil.rmtree(tmp, ignore_errors=True)
        return dest


def read_flavors(path: Path) -> dict[str, Any]:
    """The ``flavors`` of an MLflow model folder, in the wire form ``{flavor: {"data": {k: str}}}``."""
    mlmodel = path / "MLmodel" if path.is_dir() else path
    if mlmodel.name != "MLmodel" or not mlmodel.is_file():
        return {}
    try:
        spec = yaml.safe_load(mlmodel.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ArmError(400, "UserError", f"The model's MLmodel file is not valid YAML: {exc}") from None
    flavors = spec.get("flavors") if isinstance(spec, dict) else None
    if not isinstance(flavors, dict):
        return {}
    out = {}
    for name, conf in flavors.items():
        conf = conf if isinstance(conf, dict) else {}
        out[str(name)] = {"data": {str(k): str(v) for k, v in conf.items() if not isinstance(v, (dict, list))}}
    return out


def _job_of(uri: str) -> str | None:
    m = _JOB_URI.match(uri)
    return m["job"] if m else None


def _in_view(body: dict[str, Any], view: str) -> bool:
    archived = bool(body.get("properties", {}).get("isArchived"))
    return view == "All" or (view == "ArchivedOnly") == archived


def _has_tags(tags: dict[str, Any], query: str) -> bool:
    for part in query.split(","):
        key, _, value = part.partition("=")
        if key.strip() not in tags or (value and str(tags[key.strip()]) != value.strip()):
            return False
    return True


def _ordered(items: list[dict[str, Any]], order_by: str | None) -> list[dict[str, Any]]:
    """Apply ``$orderBy`` (createdtime / version, asc or desc); store order breaks ties."""
    if not order_by:
        return items
    field, _, direction = order_by.strip().partition(" ")
    field = field.lower()
    if field in ("createdtime", "properties/createdtime", "systemdata/createdat", "createdat"):
        keyed = [(v["systemData"]["createdAt"], i) for i, v in enumerate(items)]
    elif field in ("version", "name"):
        keyed = [((int(v["name"]) if v["name"].isdigit() else 0), i) for i, v in enumerate(items)]
    else:
        raise invalid_value("$orderBy", order_by, "'createdtime desc', 'createdtime asc', 'version desc'")
    keyed.sort(reverse=direction.strip().lower() == "desc")
    return [items[i] for _, i in keyed]

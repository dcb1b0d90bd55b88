"""Microsoft.MachineLearningServices state: the lessons' workspace and what lives in it."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from .... import events
from ... import defaults
from ...arm.errors import not_found
from .assets import Assets
from .blob import BlobStore

log = logging.getLogger("amlevents_kit.sandbox")

if TYPE_CHECKING:
    from ...app import Sandbox

WORKSPACE_TYPE = "Microsoft.MachineLearningServices/workspaces"

EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS ml_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class MLBackend:
    """The workspace the lessons use; models, jobs and endpoints live under it."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.store.executescript(EVENTS_SCHEMA)
        # A storage account name no real account can have (hyphens), unique per sandbox folder:
        # azure-ai-ml's blob uploads to it are routed to this sandbox (see client.py).
        digest = hashlib.sha1(str(sandbox.folder).encode()).hexdigest()[:10]
        self.account_name = f"amlevents-sandbox-{digest}"
        self.account_url = f"https://{self.account_name}.blob.core.windows.net"
        self.container = "azureml-blobstore-3c9e1f2a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
        rg_id = f"/subscriptions/{defaults.SUBSCRIPTION_ID}/resourceGroups/{defaults.RESOURCE_GROUP}"
        self.storage_account_id = f"{rg_id}/providers/Microsoft.Storage/storageAccounts/amleventsstorage"
        self.blobs = BlobStore(sandbox)
        self.assets = Assets(self)
        from .endpoints import Endpoints
        from .jobs import Jobs
        self.jobs = Jobs(self)
        self.endpoints = Endpoints(self)

    # -- shared helpers -------------------------------------------------------------------------
    def system_data(self, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """ARM ``systemData``: created once, modified now (sandbox clock)."""
        now = self.sandbox.clock.isoformat()
        created = (previous or {}).get("createdAt", now)
        return {"createdAt": created, "createdBy": "sandbox-user", "createdByType": "User",
                "lastModifiedAt": now, "lastModifiedBy": "sandbox-user", "lastModifiedByType": "User"}

    location = defaults.LOCATION
    tenant_id = defaults.TENANT_ID

    def get_workspace_mlflow_uri(self) -> str:
        return self.store.get(defaults.WORKSPACE_ID)["properties"]["mlFlowTrackingUri"]

    # -- events ---------------------------------------------------------------------------------------
    def model_registered(self, version: dict[str, Any], name: str) -> None:
        """ModelRegistered for a new model version, with its tags and properties."""
        props = version["properties"]
        self.publish([events.model_registered(
            topic=defaults.WORKSPACE_ID, model_name=name, model_version=version["name"],
            model_tags=props.get("tags") or {}, model_properties=props.get("properties") or {},
            time=self.sandbox.clock.utcnow())])

    def run_finished(self, job: dict[str, Any]) -> None:
        """RunCompleted when a job succeeds; RunStatusChanged when it fails (what Azure documents)."""
        props = job["properties"]
        common = dict(topic=defaults.WORKSPACE_ID, experiment_id=self.jobs.experiment_id(props["experimentName"]),
                      experiment_name=props["experimentName"], run_id=job["name"], run_type=None,
                      run_tags=props.get("tags") or {},
                      run_properties={k: str(v) for k, v in (props.get("properties") or {}).items()},
                      time=self.sandbox.clock.utcnow())
        if props["status"] == "Completed":
            self.publish([events.run_completed(**common)])
        elif props["status"] == "Failed":
            self.publish([events.run_status_changed(run_status="Failed", **common)])

    def model_deployed(self, endpoint: str, deployment: dict[str, Any]) -> None:
        """ModelDeployed when a deployment succeeds: the endpoint is the service."""
        name, version = self.endpoints.model_ref(deployment["properties"]["model"])
        self.publish([events.model_deployed(
            topic=defaults.WORKSPACE_ID, service_name=endpoint, service_compute_type="Managed",
            model_ids=[f"{name}:{version}"], service_tags=deployment.get("tags") or {},
            service_properties={**(deployment["properties"].get("properties") or {}),
                                "deploymentName": deployment["name"]},
            time=self.sandbox.clock.utcnow())])

    def sas_token(self) -> str:
        """A SAS token for the sandbox's blob store (the sandbox checks no signature)."""
        return "sv=2025-01-05&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=sandbox"

    def publish(self, events: list[dict]) -> None:
        """Record the workspace's events and hand them to Event Grid (if that provider is there)."""
        for event in events:
            self.store.execute("INSERT INTO ml_events (id, type, subject, body, at) VALUES (?, ?, ?, ?, ?)",
                               (event["id"], event["eventType"], event["subject"], json.dumps(event),
                                self.sandbox.clock.now()))
        if "eventgrid" not in self.sandbox.backends:
            log.warning("The sandbox has no Microsoft.EventGrid provider: %d workspace event(s) were recorded "
                        "(backends['machinelearningservices'].events()) but not delivered.", len(events))
            return
        self.sandbox.publish(events)

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The events this workspace raised, oldest first (optionally of one type)."""
        sql, args = "SELECT body FROM ml_events", ()
        if event_type:
            sql, args = sql + " WHERE type = ?", (event_type,)
        return [json.loads(r[0]) for r in self.store.execute(sql + " ORDER BY at, rowid", args).fetchall()]

    def seed(self) -> None:
        with self.store.transaction():
            if self.store.get(defaults.WORKSPACE_ID) is None:
                self.store.put(defaults.WORKSPACE_ID, WORKSPACE_TYPE, self._workspace_body())

    @staticmethod
    def _workspace_body() -> dict[str, Any]:
        rg_id = f"/subscriptions/{defaults.SUBSCRIPTION_ID}/resourceGroups/{defaults.RESOURCE_GROUP}"
        name = defaults.WORKSPACE_NAME
        return {
            "id": defaults.WORKSPACE_ID,
            "name": name,
            "type": WORKSPACE_TYPE,
            "location": defaults.LOCATION,
            "identity": {"type": "SystemAssigned", "principalId": defaults.TENANT_ID, "tenantId": defaults.TENANT_ID},
            "sku": {"name": "Basic", "tier": "Basic"},
            "kind": "Default",
            "tags": {"purpose": "amlevents-kit lessons"},
            "properties": {
                "friendlyName": name,
                "description": "The amlevents-kit sandbox workspace",
                "workspaceId": "3c9e1f2a-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
                "provisioningState": "Succeeded",
                "storageAccount": f"{rg_id}/providers/Microsoft.Storage/storageAccounts/amleventsstorage",
                "keyVault": f"{rg_id}/providers/Microsoft.KeyVault/vaults/amleventskv",
                "applicationInsights": f"{rg_id}/providers/microsoft.insights/components/amleventsai",
                "containerRegistry": f"{rg_id}/providers/Microsoft.ContainerRegistry/registries/amleventsacr",
                "discoveryUrl": f"https://{defaults.LOCATION}.api.azureml.ms/discovery",
                "mlFlowTrackingUri": (f"azureml://{defaults.LOCATION}.api.azureml.ms/mlflow/v1.0"
                                      f"{defaults.WORKSPACE_ID}"),
                "hbiWorkspace": False,
                "publicNetworkAccess": "Enabled",
                "v1LegacyMode": False,
                "enableDataIsolation": False,
                "systemDatastoresAuthMode": "accessKey",
            },
            "systemData": {"createdAt": "2026-01-01T00:00:00.000000Z", "createdBy": "amlevents-kit",
                           "createdByType": "Application"},
        }

    def get_workspace(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        rid = (f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
               f"/providers/Microsoft.MachineLearningServices/workspaces/{name}")
        body = self.store.get(rid)
        if body is None:
            raise not_found(WORKSPACE_TYPE, name, resource_group)
        return body

    def list_workspaces(self, subscription: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        under = f"/subscriptions/{subscription}" + (f"/resourceGroups/{resource_group}" if resource_group else "")
        return self.store.list(type=WORKSPACE_TYPE, under=under)

"""Microsoft.MachineLearningServices state: the lessons' workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import defaults
from ...arm.errors import not_found

if TYPE_CHECKING:
    from ...app import Sandbox

WORKSPACE_TYPE = "Microsoft.MachineLearningServices/workspaces"


class MLBackend:
    """The workspace the lessons use; models, jobs and endpoints live under it."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox
        self.store = sandbox.store

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

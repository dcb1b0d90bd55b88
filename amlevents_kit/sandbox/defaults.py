"""The identity of the sandbox's one subscription, resource group and workspace."""

SUBSCRIPTION_ID = "5f7e3b2a-8c1d-4e6f-9a0b-1c2d3e4f5a6b"  # a hex GUID: the SDKs' URL regexes need one
TENANT_ID = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SUBSCRIPTION_NAME = "amlevents-kit sandbox"
RESOURCE_GROUP = "amlevents-rg"
WORKSPACE_NAME = "amlevents-ws"
LOCATION = "eastus"

WORKSPACE_ID = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}"
                f"/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE_NAME}")
LOCATION_DISPLAY = "East US"

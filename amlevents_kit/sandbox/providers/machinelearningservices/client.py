"""What a sandbox ``MLClient`` needs beyond ``transport=``: its blob uploads must reach the sandbox too.

azure-ai-ml uploads local files with a ``BlobServiceClient`` it builds itself, without the
client's ``transport=`` (``azure/ai/ml/_artifacts/_blob_storage_helper.py``), to
``https://{datastore accountName}.blob.{cloud storage endpoint}``. The account name comes from the
sandbox's own datastore answer, so the sandbox names its storage account something no real
account can be called (real names are 3-24 lower-case letters and digits; ours has hyphens) and
teaches azure-ai-ml's blob helper one thing: a client for *that* account uses the sandbox's
transport. Every other account (real Azure) gets azure-storage-blob's clients exactly as before.
Nothing goes in ``os.environ`` (no ``cloud=``, no proxy variables), so a real-Azure ``MLClient``
built later in the same kernel is untouched.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

_accounts: dict[str, Any] = {}     # sandbox storage account name -> azure-core transport
_lock = threading.Lock()
_installed = False


def ml_client_kwargs(target: Any) -> dict[str, Any]:
    """The ``MLClient`` keyword arguments for a sandbox target (and its blob uploads routed)."""
    transport = target._client_kwargs["transport"]
    account = _account_name(target, transport)
    if account:
        register_account(account, transport)
    return {"transport": transport, "enable_telemetry": False, "show_progress": False}


def register_account(account: str, transport: Any) -> None:
    """Route azure-ai-ml's blob clients for ``account`` to ``transport``."""
    _install()
    with _lock:
        _accounts[account.lower()] = transport


def transport_for(account_url: str) -> Any:
    """The transport registered for the account of ``account_url``, or None (a real account)."""
    host = urlsplit(account_url).hostname or ""
    return _accounts.get(host.split(".")[0].lower())


def _account_name(target: Any, transport: Any) -> str | None:
    sandbox = getattr(target, "sandbox", None)
    if sandbox is not None:
        return sandbox.backends["machinelearningservices"].account_name
    # A sandbox served by another process: ask it for its datastore once.
    import json
    import requests
    ds = (f"https://management.azure.com{target.workspace_id}/datastores/workspaceblobstore"
          "?api-version=2024-01-01-preview")
    req = requests.Request("GET", ds).prepare()
    try:
        resp = transport.session.send(req)
        return json.loads(resp.content)["properties"]["accountName"]
    except Exception:  # an older sandbox without datastores: uploads will fail with azure-ai-ml's own error
        return None


def _install() -> None:
    """Give azure-ai-ml's blob helper sandbox-aware client classes (once per process)."""
    global _installed
    if _installed:
        return
    from azure.ai.ml._artifacts import _blob_storage_helper as helper
    from azure.storage.blob import BlobServiceClient, ContainerClient

    class SandboxAwareBlobServiceClient(BlobServiceClient):
        """``BlobServiceClient`` that uses the sandbox transport for a sandbox account."""

        def __init__(self, account_url: str, credential: Any = None, **kwargs: Any) -> None:
            transport = transport_for(account_url)
            if transport is not None:
                kwargs.setdefault("transport", transport)
            super().__init__(account_url, credential=credential, **kwargs)

    class SandboxAwareContainerClient(ContainerClient):
        """``ContainerClient`` that uses the sandbox transport for a sandbox account."""

        def __init__(self, account_url: str, container_name: str, credential: Any = None, **kwargs: Any) -> None:
            transport = transport_for(account_url)
            if transport is not None:
                kwargs.setdefault("transport", transport)
            super().__init__(account_url, container_name, credential=credential, **kwargs)

    helper.BlobServiceClient = SandboxAwareBlobServiceClient
    helper.ContainerClient = SandboxAwareContainerClient
    _installed = True

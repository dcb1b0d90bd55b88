"""Requests the sandbox itself sends: a Logic App's HTTP action, a Data Factory Web activity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ..app import Sandbox

ARM_HOST = "management.azure.com"


def send(sandbox: "Sandbox", method: str, url: str, headers: dict[str, str], data: bytes, *,
         timeout: float) -> tuple[int, dict, bytes]:
    """Send one request: ARM URLs to this sandbox in process, others over the network; (status, headers, body).

    On 127.0.0.1 (the sandbox's own HTTPS server, when served) the sandbox's CA is trusted. A network
    failure raises ``requests.RequestException``, for the caller to report in its own terms.
    """
    host = urlsplit(url).hostname or ""
    if host == ARM_HOST:
        return sandbox.handle(method, url, headers, data)
    import requests
    server = sandbox.server
    verify: Any = str(server.ca_path) if server is not None and host == "127.0.0.1" else True
    resp = requests.request(method, url, headers=headers, data=data or None, timeout=timeout, verify=verify)
    return resp.status_code, dict(resp.headers), resp.content

"""An azure-core transport that hands requests to the sandbox in the same process: no socket, no TLS.

It is azure-core's own ``RequestsTransport`` over a ``requests`` session whose adapter answers
from the sandbox, so streaming, long-running-operation polling and both request styles
(``azure.core.rest`` and the legacy pipeline requests some generated clients still use) behave
exactly as they do against Azure.
"""

from __future__ import annotations

import io
from typing import Callable

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import BaseAdapter
from urllib3 import HTTPResponse

# handle(method, url, headers, body) -> (status, headers, body)
Handler = Callable[[str, str, dict, bytes], "tuple[int, dict, bytes]"]


class _SandboxAdapter(BaseAdapter):
    """A ``requests`` adapter that answers from a handler instead of the network."""

    def __init__(self, handle: Handler) -> None:
        super().__init__()
        self.handle = handle

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout=None, verify=True,
             cert=None, proxies=None) -> requests.Response:
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        status, headers, data = self.handle(request.method or "GET", request.url or "", dict(request.headers), body)
        raw = HTTPResponse(body=io.BytesIO(data), headers=headers, status=status, preload_content=False,
                           decode_content=False, reason=_REASONS.get(status, ""))
        adapter = requests.adapters.HTTPAdapter()
        response = adapter.build_response(request, raw)
        response.connection = self  # requests closes it; nothing to close here
        return response

    def close(self) -> None:
        pass


class InProcessTransport(RequestsTransport):
    """The sandbox as an azure-core transport (``transport=`` on any Azure SDK client)."""

    def __init__(self, handle: Handler, **kwargs) -> None:
        session = requests.Session()
        session.trust_env = False  # never let a proxy or CA variable redirect sandbox traffic
        adapter = _SandboxAdapter(handle)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        super().__init__(session=session, session_owner=False, **kwargs)

    def close(self) -> None:  # the session is shared by every client of the target: keep it open
        pass

    def __exit__(self, *args) -> None:  # clients use the transport as a context manager
        pass


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}


class _RedirectAdapter(requests.adapters.HTTPAdapter):
    """Sends every request to the sandbox server, whatever host the client aimed at."""

    def __init__(self, base_url: str, ca_path: str) -> None:
        super().__init__()
        self.base_url = base_url
        self.ca_path = ca_path

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        from urllib.parse import urlsplit
        parts = urlsplit(request.url or "")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request.url = self.base_url + path
        kwargs["verify"] = self.ca_path
        return super().send(request, **kwargs)


class RemoteTransport(RequestsTransport):
    """A transport to a sandbox served by another process (``amlevents-kit sandbox serve``)."""

    def __init__(self, base_url: str, ca_path: str, **kwargs) -> None:
        session = requests.Session()
        session.trust_env = False
        adapter = _RedirectAdapter(base_url, ca_path)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        super().__init__(session=session, session_owner=False, **kwargs)

    def close(self) -> None:
        pass

    def __exit__(self, *args) -> None:
        pass

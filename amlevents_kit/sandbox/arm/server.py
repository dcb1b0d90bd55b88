"""The sandbox over HTTPS on 127.0.0.1, for other processes and tools (the Azure CLI, a second kernel).

The certificate comes from a ``trustme`` CA written to ``<sandbox>/tls/ca.pem``; clients pass that
path as ``connection_verify`` (or ``REQUESTS_CA_BUNDLE``).
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import trustme

if TYPE_CHECKING:
    from ..app import Sandbox

HOST = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stalls
    server: "_Server"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = f"https://{self.server.netloc}{self.path}"
        status, headers, data = self.server.sandbox.handle(self.command, url, dict(self.headers.items()), body)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args) -> None:  # keep notebooks and test output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: "Sandbox"
    netloc: str


class SandboxServer:
    """A threaded HTTPS server that answers every request from the sandbox."""

    def __init__(self, sandbox: "Sandbox", *, port: int = 0) -> None:
        self.sandbox = sandbox
        tls = sandbox.folder / "tls"
        tls.mkdir(exist_ok=True)
        ca = trustme.CA()
        cert = ca.issue_cert(HOST, "localhost")
        self.ca_path = tls / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        server_pem = tls / "server.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
        self._httpd = _Server((HOST, port), _Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(server_pem))
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.sandbox = sandbox
        self.port = self._httpd.server_address[1]
        self._httpd.netloc = f"{HOST}:{self.port}"
        self.base_url = f"https://{HOST}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sandbox-https", daemon=True)
        self._thread.start()
        info = {"base_url": self.base_url, "ca_path": str(self.ca_path)}
        (self.sandbox.folder / "server.json").write_text(json.dumps(info))

    def serve_forever(self) -> None:
        (self.sandbox.folder / "server.json").write_text(
            json.dumps({"base_url": self.base_url, "ca_path": str(self.ca_path)}))
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        info = self.sandbox.folder / "server.json"
        try:
            if json.loads(info.read_text()).get("base_url") == self.base_url:
                info.unlink()
        except (OSError, ValueError):
            pass

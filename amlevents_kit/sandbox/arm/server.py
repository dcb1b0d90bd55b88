"""The sandbox over HTTPS on 127.0.0.1, for other processes and tools (the Azure CLI, a second kernel).

The certificate comes from a ``trustme`` CA written to ``<sandbox>/tls/ca.pem``; clients pass that
path as ``connection_verify`` (or ``REQUESTS_CA_BUNDLE``).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import trustme

if TYPE_CHECKING:
    from ..app import Sandbox

log = logging.getLogger("amlevents_kit.sandbox")

HOST = "127.0.0.1"
#: Seconds a client gets to finish the TLS handshake, and to send its next request on a kept-alive connection.
HANDSHAKE_TIMEOUT = 10
IDLE_TIMEOUT = 120
#: Bodies larger than this are refused before they are read (blob uploads come in smaller blocks).
MAX_REQUEST_BYTES = 256 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stalls
    server: "_Server"
    timeout = IDLE_TIMEOUT  # an idle or stalled client does not hold its thread for ever

    def _answer(self) -> None:
        body = self._read_body()
        if body is None:
            return
        url = f"https://{self.server.netloc}{self.path}"
        status, headers, data = self.server.sandbox.handle(self.command, url, dict(self.headers.items()), body)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400/413 for a bad Content-Length or framing."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024).split(b";", 1)[0].strip()
                try:
                    size = int(line, 16)
                except ValueError:
                    return self._refuse(400, "InvalidChunkedEncoding", "The chunked request body is malformed.")
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BYTES:
                    return self._refuse(413, "RequestEntityTooLarge",
                                        f"The request body is over the sandbox's limit of {MAX_REQUEST_BYTES} bytes.")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw is not None and raw.strip() else 0
        except ValueError:
            length = -1
        if length < 0:
            return self._refuse(400, "InvalidContentLength",
                                f"The Content-Length header {raw!r} is not a non-negative integer.")
        if length > MAX_REQUEST_BYTES:
            return self._refuse(413, "RequestEntityTooLarge",
                                f"The request body is {length} bytes; the sandbox's limit is {MAX_REQUEST_BYTES}.")
        return self.rfile.read(length) if length else b""

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer an ARM error without reading the body, and close the connection (its framing is lost)."""
        data = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        return None

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def __getattr__(self, name: str):
        """Any other method goes to the router too, which answers it in ARM's words (405 or 501)."""
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a malformed request line, headers too long) as ARM JSON, not HTML."""
        phrase = self.responses.get(code, ("Error",))[0]
        error = {"code": "".join(w[:1].upper() + w[1:] for w in phrase.replace("-", " ").split()),
                 "message": f"{message or phrase}." if not (message or "").endswith(".") else message}
        data = json.dumps({"error": error}).encode()
        self.close_connection = True
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # keep notebooks and test output quiet
        pass


class _Server(ThreadingHTTPServer):
    """Accepts plain TCP and does the TLS handshake in the connection's own thread.

    Wrapping the listening socket would run every handshake in the accept loop, so one client that
    connects and sends nothing would stall the whole server.
    """

    daemon_threads = True
    sandbox: "Sandbox"
    netloc: str
    context: ssl.SSLContext

    def finish_request(self, request: socket.socket, client_address) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):  # not TLS, too slow, or gone: nothing to answer
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up or stalls mid-request is no news; anything else is logged."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            log.exception("sandbox server: error while serving %s", client_address)


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
        self._httpd.context = context
        self._httpd.sandbox = sandbox
        self.port = self._httpd.server_address[1]
        self._httpd.netloc = f"{HOST}:{self.port}"
        self.base_url = f"https://{HOST}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox-https", daemon=True)
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

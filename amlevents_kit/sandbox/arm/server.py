"""The sandbox over HTTPS on 127.0.0.1, for other processes and tools (the Azure CLI, a second kernel).

The certificate comes from the sandbox folder's own ``trustme`` CA, ``<sandbox>/tls/ca.pem``; clients
pass that path as ``connection_verify`` (or ``REQUESTS_CA_BUNDLE``).
"""

from __future__ import annotations

import json
import logging
import os
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


def folder_ca(folder: Path) -> tuple[trustme.CA, Path]:
    """The sandbox folder's own CA (made once, then reused), and the path of its certificate.

    Every server on one folder, in any process, is signed by it, so one CA file (``tls/ca.pem``,
    given to the Azure CLI and to other kernels) keeps working however many servers come and go.
    Its private key is readable by its owner only.
    """
    tls = folder / "tls"
    tls.mkdir(exist_ok=True)
    cert_path, key_path = tls / "ca.pem", tls / "ca-key.pem"
    try:
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes()), cert_path
    except (OSError, ValueError):
        pass  # none yet, or half-written by a process that died: make a new one
    ca = trustme.CA()
    for path, pem in ((key_path, ca.private_key_pem.bytes()), (cert_path, ca.cert_pem.bytes())):
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(path.with_suffix(".tmp"), path)
    os.chmod(cert_path, 0o644)  # the certificate is public
    return ca, cert_path


def _answers(base_url: str) -> bool:
    """True if something listens at ``base_url``'s port on 127.0.0.1."""
    try:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except (OSError, ValueError, IndexError):
        return False


class SandboxServer:
    """A threaded HTTPS server that answers every request from the sandbox."""

    def __init__(self, sandbox: "Sandbox", *, port: int = 0) -> None:
        self.sandbox = sandbox
        ca, self.ca_path = folder_ca(sandbox.folder)
        self._httpd = _Server((HOST, port), _Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(HOST, "localhost").configure_cert(context)  # the key stays in memory
        self._httpd.context = context
        self._httpd.sandbox = sandbox
        self.port = self._httpd.server_address[1]
        self._httpd.netloc = f"{HOST}:{self.port}"
        self.base_url = f"https://{HOST}:{self.port}"
        self._thread: threading.Thread | None = None

    @property
    def _record(self) -> Path:
        return self.sandbox.folder / "server.json"

    def _write_record(self, *, take_over: bool) -> None:
        """Name this server in ``server.json`` (what ``az-env`` and other processes read).

        A kernel's background server leaves a live one recorded there alone (``amlevents-kit
        sandbox serve`` in a terminal, say); the terminal's server takes the record over.
        """
        if not take_over:
            try:
                recorded = json.loads(self._record.read_text()).get("base_url", "")
            except (OSError, ValueError, AttributeError):
                recorded = ""
            if recorded and recorded != self.base_url and _answers(recorded):
                return
        tmp = self._record.with_suffix(".tmp")
        tmp.write_text(json.dumps({"base_url": self.base_url, "ca_path": str(self.ca_path)}))
        os.replace(tmp, self._record)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox-https", daemon=True)
        self._thread.start()
        self._write_record(take_over=False)

    def serve_forever(self) -> None:
        self._write_record(take_over=True)
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        try:
            if json.loads(self._record.read_text()).get("base_url") == self.base_url:
                self._record.unlink()
        except (OSError, ValueError, AttributeError):
            pass

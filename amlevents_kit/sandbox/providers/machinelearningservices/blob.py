"""The workspace's blob storage: the small part of the Azure Blob data plane azure-ai-ml uses.

azure-ai-ml uploads a local model or code folder with ``BlobServiceClient``: HEAD (already
uploaded?), PUT (the file, MD5 checked), PUT ``?comp=metadata`` (the upload confirmation); it
downloads with GET (ranges) and lists a prefix with ``?restype=container&comp=list``. Blobs are
files under ``<sandbox>/blobs/<container>/``; their metadata is a SQLite table.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from xml.sax.saxutils import escape

from ...arm.http import Request, Response
from ...arm.router import Route

if TYPE_CHECKING:
    from ...app import Sandbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS ml_blobs (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    md5 TEXT NOT NULL,
    size INTEGER NOT NULL,
    modified REAL NOT NULL,
    PRIMARY KEY (container, name)
);
"""

# Only the containers the sandbox hands out are blob routes, so they never shadow ARM paths.
CONTAINER = r"(?P<container>azureml-(?:blobstore|code)-[0-9a-f-]+)"


MAX_NAME = 1024      # Azure Storage: a blob name is 1 to 1,024 characters
MAX_SEGMENT = 255    # the sandbox keeps each blob as a file: one '/'-separated part is a file name


class BlobNameError(ValueError):
    """A blob name the store cannot take, with the Azure Storage error code that says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_name(name: str) -> None:
    """Refuse what Azure Storage refuses (empty, over 1,024 characters, control characters, '.'/'..' parts)
    and what a file name cannot hold (a part over 255 bytes)."""
    shown = repr(name[:80]) + ("..." if len(name) > 80 else "")
    if not name or len(name) > MAX_NAME:
        raise BlobNameError("InvalidResourceName", f"The blob name {shown} is {len(name)} characters long; "
                            f"a blob name is 1 to {MAX_NAME} characters.")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise BlobNameError("InvalidResourceName", f"The blob name {shown} contains a control character.")
    parts = name.split("/")
    if any(p in (".", "..") for p in parts):
        raise BlobNameError("InvalidUri", f"The blob name {shown} has a '.' or '..' part: it would not name a "
                            "blob inside its container.")
    for part in parts:
        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError:
            raise BlobNameError("InvalidResourceName", f"The blob name {shown} is not valid UTF-8 text.") from None
        if size > MAX_SEGMENT:
            raise BlobNameError("InvalidResourceName", f"The blob name {shown} has a part of {size} bytes between "
                                f"'/'s; the sandbox stores blobs as files and allows at most {MAX_SEGMENT}.")


class BlobStore:
    """Blobs of the workspace's default datastore, kept on disk."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.store.executescript(SCHEMA)

    @property
    def root(self) -> Path:
        return self.sandbox.folder / "blobs"

    def path(self, container: str, name: str) -> Path:
        """The file of a blob; a name that is not valid or would leave the container folder is a BlobNameError."""
        check_name(name)
        base = (self.root / container).resolve()
        path = (base / name).resolve()
        if base not in path.parents:
            raise BlobNameError("InvalidUri", f"The blob name {name[:80]!r} would leave its container.")
        return path

    def put(self, container: str, name: str, data: bytes, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        path = self.path(container, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        self.store.execute(
            "INSERT OR REPLACE INTO ml_blobs (container, name, metadata, md5, size, modified) VALUES (?, ?, ?, ?, ?, ?)",
            (container, name, json.dumps(metadata or {}), md5, len(data), time.time()))
        return self.properties(container, name)

    def properties(self, container: str, name: str) -> dict[str, Any] | None:
        row = self.store.execute("SELECT metadata, md5, size, modified FROM ml_blobs WHERE container = ? AND name = ?",
                                 (container, name)).fetchone()
        if row is None:
            return None
        return {"name": name, "metadata": json.loads(row[0]), "md5": row[1], "size": row[2], "modified": row[3]}

    def set_metadata(self, container: str, name: str, metadata: dict[str, str]) -> bool:
        cur = self.store.execute("UPDATE ml_blobs SET metadata = ?, modified = ? WHERE container = ? AND name = ?",
                                 (json.dumps(metadata), time.time(), container, name))
        return bool(cur.rowcount)

    def list(self, container: str, prefix: str = "") -> list[dict[str, Any]]:
        rows = self.store.execute("SELECT name FROM ml_blobs WHERE container = ? AND substr(name, 1, ?) = ? "
                                  "ORDER BY name", (container, len(prefix), prefix)).fetchall()
        return [self.properties(container, r[0]) for r in rows]

    def copy_tree(self, container: str, prefix: str, destination: Path) -> list[Path]:
        """Write every blob under ``prefix`` into ``destination`` (a file blob keeps its name)."""
        written = []
        for blob in self.list(container, prefix):
            rel = blob["name"][len(prefix):].lstrip("/") or Path(blob["name"]).name
            target = destination / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.path(container, blob["name"]).read_bytes())
            written.append(target)
        return written

    # -- wire ---------------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        blob = "/" + CONTAINER + r"/(?P<name>.+)"
        return [
            Route("HEAD", blob, _named(self._head, head=True), arm=False),
            Route("GET", blob, _named(self._get), arm=False),
            Route("PUT", blob, _named(self._put), arm=False),
            Route("GET", "/" + CONTAINER, self._list, arm=False),
        ]

    def _headers(self, props: dict[str, Any]) -> dict[str, str]:
        headers = {"Content-Length": str(props["size"]), "Content-MD5": props["md5"],
                   "ETag": f'"0x{int(props["modified"] * 1e6):X}"', "Last-Modified": formatdate(props["modified"], usegmt=True),
                   "x-ms-blob-type": "BlockBlob", "x-ms-version": "2025-01-05", "Content-Type": "application/octet-stream",
                   "Accept-Ranges": "bytes"}
        for key, value in props["metadata"].items():
            headers[f"x-ms-meta-{key}"] = value
        return headers

    def _head(self, request: Request, container: str, name: str) -> Response:
        props = self.properties(container, name)
        if props is None:
            return Response(404, b"", {"x-ms-error-code": "BlobNotFound"})
        return Response(200, b"", self._headers(props))

    def _get(self, request: Request, container: str, name: str) -> Response:
        props = self.properties(container, name)
        if props is None:
            return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
        data = self.path(container, name).read_bytes()
        headers = self._headers(props)
        rng = request.headers.get("x-ms-range") or request.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, _, end_s = rng[6:].partition("-")
            try:
                start = int(start_s or 0)
                end = min(int(end_s) if end_s else len(data) - 1, len(data) - 1)
            except ValueError:
                start, end = -1, -1
            if start < 0 or (start > end and data):  # an empty blob's first range answers 206 with no bytes
                return _storage_error(416, "InvalidRange", f"The range {rng!r} cannot be satisfied for a blob of "
                                      f"{len(data)} bytes.")
            chunk = data[start:end + 1]
            headers.update({"Content-Range": f"bytes {start}-{end}/{len(data)}", "Content-Length": str(len(chunk))})
            headers.pop("Content-MD5", None)
            return Response(206, chunk, headers)
        return Response(200, data, headers)

    def _put(self, request: Request, container: str, name: str) -> Response:
        comp = request.query.get("comp")
        metadata = {k[len("x-ms-meta-"):]: v for k, v in request.headers.items() if k.lower().startswith("x-ms-meta-")}
        if comp == "metadata":
            if not self.set_metadata(container, name, metadata):
                return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
            return Response(200, b"", {"x-ms-request-server-encrypted": "true"})
        if comp:
            return _storage_error(501, "NotImplemented",
                                  f"The sandbox's blob storage does not implement '?comp={comp}' (files over "
                                  "64 MB are uploaded in blocks; keep sandbox uploads small).")
        sent_md5 = request.headers.get("Content-MD5")
        actual = base64.b64encode(hashlib.md5(request.body).digest()).decode()
        if sent_md5 and sent_md5 != actual:
            return _storage_error(400, "Md5Mismatch", "The MD5 value specified in the request did not match the "
                                  "MD5 value calculated by the server.")
        props = self.put(container, name, request.body, metadata)
        headers = self._headers(props)
        headers["Content-Length"] = "0"
        return Response(201, b"", headers)

    def _list(self, request: Request, container: str) -> Response:
        if request.query.get("comp") != "list":
            return _storage_error(501, "NotImplemented", "Only listing (?restype=container&comp=list) is emulated "
                                  "on a container.")
        prefix = request.query.get("prefix") or ""
        items = []
        for blob in self.list(container, prefix):
            meta = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in blob["metadata"].items())
            items.append(f"<Blob><Name>{escape(blob['name'])}</Name><Properties>"
                         f"<Last-Modified>{formatdate(blob['modified'], usegmt=True)}</Last-Modified>"
                         f"<Content-Length>{blob['size']}</Content-Length><Content-MD5>{blob['md5']}</Content-MD5>"
                         f"<BlobType>BlockBlob</BlobType></Properties><Metadata>{meta}</Metadata></Blob>")
        xml = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ContainerName="{container}">'
               f"<Prefix>{escape(prefix)}</Prefix><Blobs>{''.join(items)}</Blobs><NextMarker /></EnumerationResults>")
        return Response(200, xml.encode(), {"Content-Type": "application/xml"})


def _named(handler: Callable[..., Response], *, head: bool = False) -> Callable[..., Response]:
    """A blob route whose name is checked first: a bad name is Azure Storage's 400, not a 500."""
    def checked(request: Request, container: str, name: str) -> Response:
        try:
            check_name(name)
        except BlobNameError as exc:
            if head:  # HEAD answers carry no body: the code is in the header only
                return Response(400, b"", {"x-ms-error-code": exc.code})
            return _storage_error(400, exc.code, exc.message)
        return handler(request, container, name)
    return checked


def _storage_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>'
    return Response(status, body.encode(), {"x-ms-error-code": code, "Content-Type": "application/xml"})

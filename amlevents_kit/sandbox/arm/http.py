"""Plain request and response types passed between the wire and the resource providers."""

from __future__ import annotations

import re

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ArmError

MAX_BODY_BYTES = 4 * 1024 * 1024  # ARM refuses request bodies over 4 MB
MAX_JSON_DEPTH = 64  # .NET's JSON readers stop at 64 levels; deeper bodies would hit Python's recursion limit later


class CIDict(dict):
    """A dict with case-insensitive string keys, as HTTP headers and ARM query names are."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        for k, v in dict(items).items():
            self[k] = v

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class Request:
    """One HTTP request as the sandbox sees it, whichever way it arrived."""

    method: str
    url: str
    headers: CIDict = field(default_factory=CIDict)
    body: bytes = b""

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        parts = urlsplit(self.url)
        self.base_url = f"{parts.scheme or 'https'}://{parts.netloc or 'management.azure.com'}"
        self.path = unquote(parts.path).rstrip("/") or "/"
        if self.path.lower().startswith("/subscriptions/") and "//" in self.path:
            # ARM folds empty segments: resources.begin_create_or_update(..., parent_resource_path="") sends them
            self.path = re.sub(r"/{2,}", "/", self.path)
        self.query = CIDict(parse_qsl(parts.query, keep_blank_values=True))
        if not isinstance(self.headers, CIDict):
            self.headers = CIDict(self.headers)

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    def json(self, *, required: bool = True) -> Any:
        """The body parsed as JSON, or a 400 that says what is wrong with it."""
        if len(self.body) > MAX_BODY_BYTES:
            raise ArmError(413, "RequestEntityTooLarge",
                           f"The request body is {len(self.body)} bytes; the limit is {MAX_BODY_BYTES} bytes.")
        if not self.body.strip():
            if required:
                raise ArmError(400, "InvalidRequestContent", "The request content was empty; a JSON body is required.")
            return {}
        try:
            data = json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            raise ArmError(400, "InvalidRequestContent",
                           f"The request content was invalid and could not be deserialized: {exc}.") from None
        brackets = self.body.count(b"[") + self.body.count(b"{")  # fewer than the limit: cannot be too deep
        if brackets > MAX_JSON_DEPTH and _depth(data) > MAX_JSON_DEPTH:
            raise ArmError(400, "InvalidRequestContent", f"The request content is nested more than {MAX_JSON_DEPTH} "
                                                         f"levels deep; at most {MAX_JSON_DEPTH} are allowed.")
        return data

    def json_object(self, *, required: bool = True) -> dict[str, Any]:
        """The body as a JSON object; a list or a scalar is a 400."""
        data = self.json(required=required)
        if not isinstance(data, dict):
            raise ArmError(400, "InvalidRequestContent",
                           f"The request content must be a JSON object, not {type(data).__name__}.")
        return data


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


@dataclass
class Response:
    """What a route answers: a status, headers, and a JSON-able body or raw bytes."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[int, dict[str, str], bytes]:
        headers = dict(self.headers)
        if isinstance(self.body, (bytes, bytearray)):
            data = bytes(self.body)
        elif self.body is None:
            data = b""
        else:
            data = json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        headers["Content-Length"] = str(len(data))
        return self.status, headers, data

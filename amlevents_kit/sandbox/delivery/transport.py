"""The HTTP side of delivery: POST a body to a loopback endpoint and say what happened, nothing else.

One ``httpx.Client`` (kept-alive connections, shared by the sender threads) so thousands of
deliveries per second do not each pay for a new TCP connection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


@dataclass
class Result:
    """The outcome of one HTTP request: a status, or an error kind (timeout, connect, other)."""

    status: int | None
    error: str | None
    detail: str | None
    duration_ms: float
    body: bytes = b""
    headers: dict[str, str] | None = None


class HttpSender:
    """Sends requests with a response timeout; never raises for network trouble."""

    def __init__(self, timeout: float = 30.0, max_connections: int = 64) -> None:
        self.timeout = timeout
        # Endpoints are loopback only (policy.check_endpoint), so certificates prove nothing here;
        # the sandbox's own HTTPS server uses a private CA the sender does not need to know.
        self._client = httpx.Client(
            verify=False, http2=False, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections))

    def request(self, method: str, url: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
                timeout: float | None = None) -> Result:
        limit = self.timeout if timeout is None else timeout
        started = time.perf_counter()
        try:
            response = self._client.request(method, url, content=body, headers=headers,
                                            timeout=httpx.Timeout(limit, connect=min(limit, 5.0)))
            return Result(response.status_code, None, None, (time.perf_counter() - started) * 1000,
                          response.content, dict(response.headers))
        except httpx.TimeoutException as exc:
            kind, detail = "timeout", f"no response within {limit:g} s ({type(exc).__name__})"
        except httpx.ConnectError as exc:
            kind, detail = "connect", f"connection failed: {exc}"
        except httpx.HTTPError as exc:
            kind, detail = "other", f"{type(exc).__name__}: {exc}"
        return Result(None, kind, detail, (time.perf_counter() - started) * 1000)

    def close(self) -> None:
        self._client.close()

"""The sandbox's boundaries, checked on the real thing: sockets, keys, endpoints, notebooks, disk.

- every server the kit starts listens on 127.0.0.1 only (psutil reads the process's listening sockets);
- a custom topic accepts events only with its key or a SAS token signed with it (real SDK, real HTTPS);
- deliveries go only to validated endpoints, and never follow a redirect elsewhere;
- webhook endpoints off this machine are refused with an error that names endpointUrl;
- no saved notebook output holds a key, a token or a signature;
- the Azure target writes no secret to disk.
Delivery faults and load are the delivery suites' subject (tests/*/test_delivery*); this file does not
repeat them.
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlevents_kit.sandbox import defaults

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::1"}
API = "2025-02-15"
RG_ID = f"/subscriptions/{defaults.SUBSCRIPTION_ID}/resourceGroups/{defaults.RESOURCE_GROUP}"
WS_SUBS = f"{defaults.WORKSPACE_ID}/providers/Microsoft.EventGrid/eventSubscriptions"


# -- helpers ---------------------------------------------------------------------------------------------

def listening() -> set[tuple[str, int]]:
    """(address, port) of every socket this process listens on (TCP)."""
    proc = psutil.Process()
    conns = proc.net_connections(kind="inet") if hasattr(proc, "net_connections") else proc.connections(kind="inet")
    return {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}


def addresses_of(port: int) -> set[str]:
    return {ip for ip, p in listening() if p == port}


def other_local_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback (a server on 0.0.0.0 would answer there)."""
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                out.append(a.address)
    return out


def assert_loopback_only(port: int, what: str) -> None:
    found = addresses_of(port)
    assert found, f"{what}: nothing listens on port {port}"
    assert found <= LOOPBACK, f"{what} listens on {sorted(found)}, not only on loopback"
    for address in other_local_addresses():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            assert s.connect_ex((address, port)) != 0, f"{what} answers on {address}:{port}"


def call(sandbox, method: str, path: str, body: Any = None, api: str | None = API, headers: dict | None = None):
    url = f"https://management.azure.com{path}" + (f"?api-version={api}" if api else "")
    data = b"" if body is None else json.dumps(body).encode()
    status, out_headers, raw = sandbox.handle(method, url, {"Content-Type": "application/json", **(headers or {})},
                                              data)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    return status, out_headers, parsed


def put_subscription(sandbox, path: str, body: dict, method: str = "PUT") -> dict:
    """PUT (or PATCH) an event subscription and poll its operation to the end, as ARMPolling does."""
    status, headers, created = call(sandbox, method, path, body)
    assert status in (200, 201), created
    if "Azure-AsyncOperation" in headers:
        for _ in range(20):
            _, _, op = call(sandbox, "GET", headers["Azure-AsyncOperation"].split("management.azure.com", 1)[1],
                            api=None)
            if op["status"] != "InProgress":
                break
            sandbox.clock.advance(seconds=1)
    _, _, got = call(sandbox, "GET", path)
    return got


def register(sandbox) -> None:
    for ns in ("Microsoft.EventGrid", "Microsoft.MachineLearningServices"):
        sandbox.backends["resources"].register(defaults.SUBSCRIPTION_ID, ns)
    sandbox.clock.advance(seconds=30)


class Endpoint:
    """A local webhook: ``mode`` "echo" completes the handshake; "silent" answers 200 without the code;
    "redirect" echoes the handshake but answers notifications with a 307 to ``redirect_to``."""

    def __init__(self, mode: str = "echo", redirect_to: str = "") -> None:
        self.mode = mode
        self.redirect_to = redirect_to
        self.requests: list[tuple[str, str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"null")
                kind = self.headers.get("aeg-event-type") or "plain"
                endpoint.requests.append(("POST", kind, body))
                status, out, extra = 200, b"", {}
                if kind == "SubscriptionValidation" and endpoint.mode in ("echo", "redirect"):
                    out = json.dumps({"validationResponse": body[0]["data"]["validationCode"]}).encode()
                elif kind == "Notification" and endpoint.mode == "redirect":
                    status, extra = 307, {"Location": endpoint.redirect_to}
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/events"

    def kinds(self) -> list[str]:
        return [k for _, k, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sb(sandbox):
    register(sandbox)
    return sandbox


def webhook(url: str) -> dict:
    return {"properties": {"destination": {"endpointType": "WebHook", "properties": {"endpointUrl": url}},
                           "filter": {"includedEventTypes": ["Microsoft.MachineLearningServices.ModelRegistered"]}}}


def model_event(i: int = 1) -> dict:
    from amlevents_kit import events
    return events.model_registered(topic=defaults.WORKSPACE_ID, model_name="m", model_version=str(i), id=f"ev-{i}")


# -- 1. every server binds 127.0.0.1 only -------------------------------------------------------------------

def test_sandbox_https_server_listens_on_loopback_only(target) -> None:
    info = target.serve()
    assert_loopback_only(int(info["base_url"].rsplit(":", 1)[1]), "the sandbox HTTPS server")


def test_delivery_receiver_listens_on_loopback_only() -> None:
    receiver_module = pytest.importorskip("amlevents_kit.receiver", reason="the delivery receiver is not built yet")
    receiver = receiver_module.Receiver().start()
    try:
        assert_loopback_only(receiver.port, "the delivery receiver")
    finally:
        receiver.stop()


def test_mailbox_smtp_server_listens_on_loopback_only(sandbox) -> None:
    if "mailbox" not in sandbox._service_factories:
        pytest.skip("the mailbox SMTP server is not built yet")
    host, port = sandbox.service("mailbox").address
    assert host == "127.0.0.1"
    assert_loopback_only(port, "the mailbox SMTP server")


def test_scoring_server_listens_on_loopback_only(sandbox) -> None:
    if "ml-scoring" not in sandbox._service_factories:
        pytest.skip("the ML scoring server is not built yet")
    base = sandbox.service("ml-scoring").base_url
    assert base.startswith("http://127.0.0.1:"), base
    assert_loopback_only(int(base.rsplit(":", 1)[1]), "the ML scoring server")


def test_the_serve_command_listens_on_loopback_only(tmp_path: Path) -> None:
    """``amlevents-kit sandbox serve`` in its own process: every socket it listens on is loopback."""
    import subprocess
    import sys
    exe = Path(sys.executable).with_name("amlevents-kit")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "amlevents_kit.cli"]
    proc = subprocess.Popen([*command, "sandbox", "serve", "--folder", str(tmp_path / "sb"), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.poll() is not None else "no output"
        info = json.loads(line)
        port = int(info["base_url"].rsplit(":", 1)[1])
        child = psutil.Process(proc.pid)
        conns = child.net_connections(kind="inet") if hasattr(child, "net_connections") else child.connections("inet")
        listeners = {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
        assert (("127.0.0.1", port) in listeners) and {ip for ip, _ in listeners} <= LOOPBACK, listeners
        for address in other_local_addresses():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                assert s.connect_ex((address, port)) != 0, f"the served sandbox answers on {address}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def test_every_socket_the_sandbox_opens_is_loopback(target) -> None:
    """Whatever servers exist now or later: start every service and the HTTPS server, then look at all."""
    before = listening()
    sandbox = target.sandbox
    sandbox.ensure_services()
    target.serve()
    for name in list(sandbox.services):
        service = sandbox.services[name]
        getattr(service, "address", None)  # lazily started listeners (the mailbox) start now
    opened = listening() - before
    assert opened, "starting the sandbox opened no listening socket at all"
    assert {ip for ip, _ in opened} <= LOOPBACK, sorted(opened)


# -- 2. custom topics need their key ----------------------------------------------------------------------------

@pytest.fixture
def topics(sb):
    """Two custom topics (Event Grid schema) served over HTTPS, with their keys."""
    server = sb.serve()
    out = {}
    for name in ("rb-orders", "rb-other"):
        status, _, body = call(sb, "PUT", f"{RG_ID}/providers/Microsoft.EventGrid/topics/{name}",
                               {"location": "eastus", "properties": {"inputSchema": "EventGridSchema"}})
        assert status in (200, 201), body
        sb.clock.advance(seconds=5)
        _, _, body = call(sb, "GET", f"{RG_ID}/providers/Microsoft.EventGrid/topics/{name}")
        _, _, keys = call(sb, "POST", f"{RG_ID}/providers/Microsoft.EventGrid/topics/{name}/listKeys")
        out[name] = {"endpoint": body["properties"]["endpoint"], "keys": keys, "id": body["id"]}
    out["ca"] = str(server.ca_path)
    return out


def _send(endpoint: str, credential: Any, ca: str) -> int:
    """Publish one event with the real EventGridPublisherClient over HTTPS; the HTTP status."""
    from azure.core.exceptions import HttpResponseError
    from azure.eventgrid import EventGridEvent, EventGridPublisherClient
    client = EventGridPublisherClient(endpoint, credential)
    event = EventGridEvent(subject="orders/1", event_type="Contoso.Orders.Created", data={"n": 1}, data_version="1")
    try:
        client.send([event], connection_verify=ca)
        return 200
    except HttpResponseError as exc:
        return exc.status_code
    finally:
        client.close()


def test_custom_topic_publishing_requires_its_key(sb, topics) -> None:
    from azure.core.credentials import AzureKeyCredential, AzureSasCredential
    from azure.eventgrid import generate_sas
    orders, other, ca = topics["rb-orders"], topics["rb-other"], topics["ca"]
    engine = sb.service("delivery")
    receiver = Endpoint()
    try:
        body = put_subscription(sb, f"{orders['id']}/providers/Microsoft.EventGrid/eventSubscriptions/all",
                                {"properties": {"destination": {"endpointType": "WebHook",
                                                                "properties": {"endpointUrl": receiver.url}}}})
        assert body["properties"]["provisioningState"] == "Succeeded", body
        published = engine.stats()["published"]
        now = datetime.now(timezone.utc)
        refused = {
            "a wrong key": AzureKeyCredential("d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk0NDQ="),
            "the other topic's key": AzureKeyCredential(other["keys"]["key1"]),
            "a short junk key": AzureKeyCredential("x"),
            "an expired SAS": AzureSasCredential(generate_sas(orders["endpoint"], orders["keys"]["key1"],
                                                              now - timedelta(minutes=5))),
            "a SAS signed with the other topic's key": AzureSasCredential(
                generate_sas(orders["endpoint"], other["keys"]["key1"], now + timedelta(hours=1))),
            "a SAS made for the other topic": AzureSasCredential(
                generate_sas(other["endpoint"], orders["keys"]["key1"], now + timedelta(hours=1))),
        }
        for what, credential in refused.items():
            assert _send(orders["endpoint"], credential, ca) == 401, what
        assert engine.stats()["published"] == published, "a refused publish still queued deliveries"
        # No credential at all: the SDK insists on one, so send the request without it.
        import requests
        answer = requests.post(orders["endpoint"] + "?api-version=2018-01-01", json=[{
            "id": "x", "subject": "s", "eventType": "T", "eventTime": now.isoformat(), "data": {}, "dataVersion": "1"}],
            verify=ca, timeout=30)
        assert answer.status_code == 401 and "aeg-sas-key" in answer.json()["error"]["message"]
        # And the right ones work: key1, key2 and a SAS token signed with either.
        for credential in (AzureKeyCredential(orders["keys"]["key1"]), AzureKeyCredential(orders["keys"]["key2"]),
                           AzureSasCredential(generate_sas(orders["endpoint"], orders["keys"]["key2"],
                                                           now + timedelta(hours=1)))):
            assert _send(orders["endpoint"], credential, ca) == 200
        assert engine.stats()["published"] == published + 3
    finally:
        receiver.close()


# -- 3. deliveries go only to validated endpoints -----------------------------------------------------------------

def test_an_endpoint_that_never_completed_the_handshake_gets_no_events(sb) -> None:
    silent = Endpoint(mode="silent")  # 200 without the validation code: AwaitingManualAction
    try:
        body = put_subscription(sb, f"{WS_SUBS}/rb-silent", webhook(silent.url))
        assert body["properties"]["provisioningState"] == "AwaitingManualAction", body
        sb.publish([model_event(1), model_event(2)])
        engine = sb.service("delivery")
        engine.pump()
        assert silent.kinds() == ["SubscriptionValidation"], silent.kinds()
        sb.clock.advance(minutes=10)  # past the manual-validation window: still nothing
        sb.publish([model_event(3)])
        engine.pump()
        assert "Notification" not in silent.kinds()
    finally:
        silent.close()


def test_moving_a_subscription_to_an_unvalidated_endpoint_sends_nothing_there(sb) -> None:
    good, silent = Endpoint(), Endpoint(mode="silent")
    try:
        body = put_subscription(sb, f"{WS_SUBS}/rb-move", webhook(good.url))
        assert body["properties"]["provisioningState"] == "Succeeded", body
        body = put_subscription(sb, f"{WS_SUBS}/rb-move", {"destination": {  # EventSubscriptionUpdateParameters
            "endpointType": "WebHook", "properties": {"endpointUrl": silent.url}}}, method="PATCH")
        assert body["properties"]["provisioningState"] == "AwaitingManualAction", body
        sb.publish([model_event(7)])
        sb.service("delivery").pump()
        assert silent.kinds() == ["SubscriptionValidation"], "events went to an endpoint that never validated"
    finally:
        good.close()
        silent.close()


def test_a_delivery_never_follows_a_redirect(sb) -> None:
    elsewhere = Endpoint()
    redirecting = Endpoint(mode="redirect", redirect_to=elsewhere.url)
    try:
        body = put_subscription(sb, f"{WS_SUBS}/rb-redirect", webhook(redirecting.url))
        assert body["properties"]["provisioningState"] == "Succeeded", body
        sb.publish([model_event(9)])
        engine = sb.service("delivery")
        engine.pump()
        assert redirecting.kinds().count("Notification") == 1
        assert elsewhere.requests == [], "the delivery followed a redirect to an endpoint it never validated"
        (entry,) = engine.deliveries(event_id="ev-9")
        assert entry["state"] == "pending" and entry["last_status"] == 307  # a failure, retried later
    finally:
        elsewhere.close()
        redirecting.close()


# -- 4. webhooks off this machine are refused -----------------------------------------------------------------------

OFF_MACHINE = ["https://example.com/api/events", "http://10.0.0.1/x", "http://0.0.0.0:8080/", "http://127.1/",
               "http://2130706433/", "http://[::ffff:127.0.0.1]/", "http://127.0.0.1@evil.example/",
               "http://evil.example#@127.0.0.1/", "http://evil.example?@127.0.0.1/", "http://127.0.0.1.nip.io/",
               "http://localhost.evil.example/", "http://0177.0.0.1/", "http://169.254.169.254/metadata"]


@pytest.mark.parametrize("url", OFF_MACHINE)
def test_off_machine_webhooks_are_refused_with_a_clear_error(sb, url: str) -> None:
    status, _, body = call(sb, "PUT", f"{WS_SUBS}/rb-far", webhook(url))
    assert status == 400, body
    message = body["error"]["message"]
    assert "endpointUrl" in message and "127.0.0.1" in message, message
    assert sb.store.get(f"{WS_SUBS}/rb-far") is None


def test_off_machine_azure_function_is_refused(sb) -> None:
    engine = sb.service("delivery")
    with pytest.raises(ValueError, match="endpointUrl"):
        engine.register_function(f"{RG_ID}/providers/Microsoft.Web/sites/app/functions/f",
                                 "https://example.com/api/f")


_hosts = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "evil.example", "10.0.0.1", "127.0.0.1.evil.example",
                          "0.0.0.0", "[::ffff:7f00:1]", "LOCALHOST", "127.0.0.2"])
_tricks = st.sampled_from(["", "@", "\\@", "#@", "?@", "%40", ":80@", "/\\", "%2F@", " @", "\t"])


@settings(max_examples=300, deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
          suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["http", "https", "HTTP"]), _hosts, _tricks, _hosts, st.text(max_size=8))
def test_the_endpoint_check_and_the_sender_agree_on_the_host(scheme, first, trick, second, path) -> None:
    """Any URL the policy lets through reaches a loopback host by the sender's own parser (httpx)."""
    import httpx
    from amlevents_kit.sandbox.delivery.policy import check_endpoint, is_loopback
    url = f"{scheme}://{first}{trick}{second if trick else ''}/{path}"
    try:
        check_endpoint(url)
    except ValueError as exc:
        assert "endpointUrl" in str(exc)
        return
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        return  # the sender cannot send it at all
    assert is_loopback(host.lower()), f"{url!r} passed the check but httpx would connect to {host!r}"


# -- 5. no secrets in saved notebook outputs ----------------------------------------------------------------------

SECRET_PATTERNS = {
    "an Event Grid topic key": r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=",
    "a SAS signature": r"(?:[?&]s(?:ig)?=)[A-Za-z0-9%+/=_-]{16,}",
    "a SharedAccessSignature": r"SharedAccessSignature\s+\S",
    "a bearer token": r"Bearer\s+[A-Za-z0-9._~+/=-]{8,}",
    "the sandbox credential's token": r"sandbox-token",
    "a key field": r"(?i)[\"']?(primaryKey|secondaryKey|key1|key2|accountKey|sasToken|aeg-sas-key)[\"']?\s*[:=]\s*"
                   r"[\"']?[A-Za-z0-9+/_-]{16,}",
}
URLSAFE_32 = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])")  # secrets.token_urlsafe(24)


def _saved_outputs(notebook: dict) -> list[tuple[str, str]]:
    """(where, text) for every saved output and the notebook's metadata (widget state included)."""
    out = [("metadata", json.dumps(notebook.get("metadata", {})))]
    for i, cell in enumerate(notebook.get("cells", [])):
        for o in cell.get("outputs", []):
            parts = ["".join(o["text"]) if isinstance(o.get("text"), list) else str(o.get("text", ""))]
            for mime, value in (o.get("data") or {}).items():
                if mime.startswith("image/") and mime != "image/svg+xml":
                    continue  # base64 pixels: any 32 characters of it look like a key
                parts.append("".join(value) if isinstance(value, list) else json.dumps(value))
            parts.append("\n".join(o.get("traceback", [])))
            out.append((f"cell {i}", "\n".join(parts)))
    return out


def find_secrets(notebook: dict) -> list[str]:
    found = []
    for where, text in _saved_outputs(notebook):
        for what, pattern in SECRET_PATTERNS.items():
            for m in re.finditer(pattern, text):
                found.append(f"{where}: {what}: {m.group(0)[:24]}…")
        for m in URLSAFE_32.finditer(text):
            token = m.group(0)
            if re.fullmatch(r"[0-9a-f]{32}", token):  # a hex id (the sanitizer's business), not a key
                continue
            if re.search(r"\d", token) and re.search(r"[a-z]", token) and re.search(r"[A-Z]", token):
                found.append(f"{where}: a 32-character URL-safe key: {token[:8]}…")
    return found


def test_the_secret_scanner_finds_what_it_looks_for() -> None:
    """The scanner is tested on outputs that do hold secrets, so a clean result means something."""
    import base64
    import secrets
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    leaky = {"metadata": {}, "cells": [
        {"cell_type": "code", "outputs": [{"output_type": "stream", "text": [f"key1: {key}\n"]}]},
        {"cell_type": "code", "outputs": [{"output_type": "execute_result", "data": {
            "text/plain": ["{'primaryKey': '" + secrets.token_urlsafe(24) + "'}"]}}]},
        {"cell_type": "code", "outputs": [{"output_type": "stream", "text": ["Authorization: Bearer sandbox-token"]}]},
        {"cell_type": "code", "outputs": [{"output_type": "stream", "text": [
            "https://127.0.0.1:1/x?sp=%2Fx&sv=1.0&sig=" + secrets.token_urlsafe(24)]}]},
    ]}
    found = find_secrets(leaky)
    assert {f.split(":")[0] for f in found} == {"cell 0", "cell 1", "cell 2", "cell 3"}, found
    clean = {"metadata": {}, "cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "text": ["UndeliverableDueToHttpBadRequest 0123456789abcdef0123456789abcdef\n"]},
        {"output_type": "display_data", "data": {"image/png": base64.b64encode(secrets.token_bytes(3000)).decode()}}]}]}
    assert find_secrets(clean) == []


@pytest.mark.parametrize("path", sorted(glob.glob(str(ROOT / "notebooks" / "*.ipynb"))) or ["<none>"],
                         ids=lambda p: Path(p).name)
def test_no_secret_in_saved_notebook_outputs(path: str) -> None:
    if path == "<none>":
        pytest.skip("no built notebooks yet")
    found = find_secrets(json.loads(Path(path).read_text()))
    assert not found, "\n".join(found)


# -- 6. the Azure target writes no secrets to disk ------------------------------------------------------------------

class FakeCredential:
    """Stands in for a real Azure AD credential (no tenant here); its token is a recognisable secret."""

    SECRET = "fake-azure-ad-token-" + "s3cr3t" * 8

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken
        self.calls += 1
        return AccessToken(self.SECRET, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo
        self.calls += 1
        return AccessTokenInfo(self.SECRET, int(time.time()) + 3600)

    def close(self) -> None:
        pass


def fake_arm_transport(authorizations: list[str]):
    """An azure-core transport that answers like ARM without a tenant (mocked: the real
    management.azure.com needs a real login); it records the Authorization headers it was sent."""
    from amlevents_kit.sandbox.arm.transport import InProcessTransport

    def answer(method: str, url: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        authorizations.append(headers.get("Authorization", ""))
        group = {"id": "/subscriptions/s/resourceGroups/rg", "name": "rg", "location": "eastus",
                 "properties": {"provisioningState": "Succeeded"}}
        return 200, {"Content-Type": "application/json"}, json.dumps(group).encode()

    return InProcessTransport(answer)


def _snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for folder in folders:
        for dirpath, _, files in os.walk(folder):
            for name in files:
                p = Path(dirpath) / name
                try:
                    st_ = p.stat()
                except OSError:
                    continue
                out[str(p)] = (st_.st_size, st_.st_mtime_ns)
    return out


def test_the_azure_target_writes_no_secrets_to_disk(tmp_path: Path, monkeypatch) -> None:
    """connect("azure") with a fake credential, build clients and make a call through a fake ARM transport
    (both mocked: they need a real tenant); nothing new appears under home, cwd or the sandbox folder, and
    the token is in no file there."""
    from azure.mgmt.resource.resources import ResourceManagementClient
    from amlevents_kit import connect
    home, work, sandbox_dir = tmp_path / "home", tmp_path / "work", tmp_path / "sandbox"
    for d in (home, work, sandbox_dir):
        d.mkdir()
    (work / "config.json").write_text(json.dumps({"subscription_id": "00000000-0000-0000-0000-000000000001",
                                                  "resource_group": "rg", "workspace_name": "ws"}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AMLEVENTS_SANDBOX_DIR", str(sandbox_dir))
    monkeypatch.delenv("AMLEVENTS_TARGET", raising=False)
    monkeypatch.chdir(work)
    before = _snapshot(home, work, sandbox_dir)
    credential = FakeCredential()
    target = connect("azure", credential=credential)
    assert not target.is_sandbox and target.subscription_id.endswith("0001")
    authorizations: list[str] = []
    rm = target.client(ResourceManagementClient, transport=fake_arm_transport(authorizations))
    group = rm.resource_groups.get("rg")
    assert group.name == "rg"
    assert authorizations == [f"Bearer {FakeCredential.SECRET}"] and credential.calls >= 1
    ml = target.ml_client()
    assert ml.workspace_name == "ws"
    repr(target), target._repr_html_(), target.summary()
    after = _snapshot(home, work, sandbox_dir)
    changed = sorted(p for p in after if before.get(p) != after[p])
    assert changed == [], f"the Azure target wrote {changed}"
    for p in after:
        assert FakeCredential.SECRET not in Path(p).read_text(errors="replace"), p
    assert FakeCredential.SECRET not in repr(target) + target._repr_html_() + json.dumps(target.summary())

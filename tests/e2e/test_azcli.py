"""The real Azure CLI (azure-cli 2.91, from .venv-az) against a served sandbox, as a custom cloud.

Every az process runs with the environment `amlevents-kit sandbox az-env` prints, plus an audit
hook (sitecustomize.py on PYTHONPATH) that logs each socket.getaddrinfo/connect: the tests check
that az only ever reached 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.mgmt.resource.resources import ResourceManagementClient

from amlevents_kit import azcli, cli, connect

pytestmark = pytest.mark.azcli

ROOT = Path(__file__).resolve().parents[2]
AZ = ROOT / ".venv-az" / "bin" / "az"

AUDIT_HOOK = '''
import os, sys
_log = os.environ.get("AMLEVENTS_SOCKET_AUDIT")
if _log:
    def _audit(event, args):
        if event == "socket.getaddrinfo":
            host = args[0]
        elif event == "socket.connect" and isinstance(args[1], tuple):
            host = args[1][0]
        else:
            return
        with open(_log, "a") as f:
            f.write(f"{event} {host}\\n")
    sys.addaudithook(_audit)
'''


def _missing_az() -> None:
    """Skip where azure-cli was never installed; fail under ./kit test (CI), which installs it first."""
    message = f"azure-cli is not installed in {AZ.parent.parent}: run scripts/install-azure-cli.sh"
    if os.environ.get("AMLEVENTS_REQUIRE_AZCLI") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def az(tmp_path_factory):
    """A served sandbox, az configured for it (cloud register, cloud set, login --identity), and a runner."""
    if not AZ.is_file():
        _missing_az()
    tmp = tmp_path_factory.mktemp("azcli")
    target = connect(folder=tmp / "sandbox")
    info = target.serve()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["sandbox", "az-env", "--folder", str(tmp / "sandbox"), "--json",
                         "--config-dir", str(tmp / "azconfig")]) == 0
    printed = json.loads(out.getvalue())
    hook = tmp / "audit"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_"))}
    env = {**base, **printed["env"], "PYTHONPATH": str(hook), "AMLEVENTS_SOCKET_AUDIT": str(hook / "log.txt")}

    def run(*args: str) -> azcli.AzResult:
        return azcli.run_az(args, env=env, az=str(AZ))

    setup = [azcli.run_az(command[1:], env=env, az=str(AZ)) for command in printed["setup"]]
    ns = SimpleNamespace(target=target, info=info, env=env, run=run, setup=setup, audit=hook / "log.txt")
    yield ns
    target.sandbox.close()


def hosts_reached(az) -> set[str]:
    return {line.split()[1] for line in az.audit.read_text().splitlines()} if az.audit.exists() else set()


def test_cloud_register_and_managed_identity_login(az):
    register, select, login = az.setup
    assert register.returncode == 0, register.stderr
    assert select.returncode == 0 and "Switched active cloud to 'AmleventsSandbox'" in select.stderr
    assert login.returncode == 0, login.stderr
    [account] = login.json
    assert account["environmentName"] == "AmleventsSandbox"
    assert account["id"] == az.target.subscription_id
    assert account["tenantId"] == account["homeTenantId"] == "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert account["user"]["type"] == "servicePrincipal"
    clouds = (Path(az.env["AZURE_CONFIG_DIR"]) / "clouds.config").read_text()
    assert f"resource_manager = {az.info['base_url']}/" in clouds
    assert hosts_reached(az) == {"127.0.0.1"}


def test_provider_register_and_show(az):
    """The guide's `az provider register` / `az provider show`: Registering, then Registered."""
    rm = az.target.client(ResourceManagementClient)
    ns = "Microsoft.EventGrid"
    assert rm.providers.get(ns).registration_state == "NotRegistered"
    az.target.sandbox.clock.freeze()  # a slow az start on a busy machine must not finish the registration

    registered = az.run("provider", "register", "--namespace", ns)
    assert registered.returncode == 0, registered.stderr
    assert "Registering is still on-going" in registered.stderr

    shown = az.run("provider", "show", "--namespace", ns, "--query", "registrationState")
    assert (shown.returncode, shown.json) == (0, "Registering")
    assert rm.providers.get(ns).registration_state == "Registering"

    az.target.sandbox.clock.advance(seconds=5)  # registration takes 2 s of sandbox time
    shown = az.run("provider", "show", "--namespace", ns, "--query", "registrationState")
    assert (shown.returncode, shown.json) == (0, "Registered")
    assert rm.providers.get(ns).registration_state == "Registered"
    az.target.sandbox.clock.follow_wall_clock()
    assert hosts_reached(az) == {"127.0.0.1"}


class _Webhook(BaseHTTPRequestHandler):
    """A learner's webhook: answers Event Grid's validation handshake, records what it receives."""

    protocol_version = "HTTP/1.1"
    server: "ThreadingHTTPServer"

    def do_POST(self) -> None:
        events = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"[]")
        if self.path.startswith("/reject"):
            self._reply(403, {"error": "this endpoint refuses Event Grid"})
            return
        self.server.received.extend(events)
        first = events[0] if events else {}
        if first.get("eventType") == "Microsoft.EventGrid.SubscriptionValidationEvent":
            self._reply(200, {"validationResponse": first["data"]["validationCode"]})
        else:
            self._reply(200, {})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture
def webhook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    server.daemon_threads = True
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def test_event_subscription_create_show_list_delete(az, webhook):
    """The guide's event-subscription commands, with a server-side handshake before create returns."""
    sandbox = az.target.sandbox
    sandbox.backends["resources"].register(az.target.subscription_id, "Microsoft.EventGrid")
    sandbox.clock.advance(seconds=5)
    src = az.target.workspace_id
    name = "az-model-registered"

    created = az.run("eventgrid", "event-subscription", "create", "--name", name, "--source-resource-id", src,
                     "--endpoint", webhook.url + "/api/events",
                     "--included-event-types", "Microsoft.MachineLearningServices.ModelRegistered",
                     "--subject-begins-with", "models/mymodelname",
                     "--advanced-filter", "data.modelTags.stage", "StringIn", "production")
    assert created.returncode == 0, created.stderr
    body = created.json
    assert body["provisioningState"] == "Succeeded"
    assert body["filter"]["includedEventTypes"] == ["Microsoft.MachineLearningServices.ModelRegistered"]
    assert body["filter"]["subjectBeginsWith"] == "models/mymodelname"
    assert body["filter"]["advancedFilters"] == [
        {"key": "data.modelTags.stage", "operatorType": "StringIn", "values": ["production"]}]
    validations = [e for e in webhook.received if e["eventType"].endswith("SubscriptionValidationEvent")]
    assert len(validations) == 1, "the handshake happens (server-side) before create returns"

    shown = az.run("eventgrid", "event-subscription", "show", "--name", name, "--source-resource-id", src)
    assert shown.returncode == 0 and shown.json["id"] == body["id"]
    assert shown.json["destination"]["endpointBaseUrl"] == webhook.url + "/api/events"
    listed = az.run("eventgrid", "event-subscription", "list", "--source-resource-id", src)
    assert listed.returncode == 0 and name in [s["name"] for s in listed.json]
    from azure.mgmt.eventgrid import EventGridManagementClient
    sdk = az.target.client(EventGridManagementClient).event_subscriptions.get(src, name)
    assert sdk.filter.subject_begins_with == "models/mymodelname"

    # The filters az sent are the ones the sandbox applies: only the production model is delivered.
    from amlevents_kit import events
    wanted = events.model_registered(topic=src, model_name="mymodelname", model_version="2",
                                     model_tags={"stage": "production"})
    other = events.model_registered(topic=src, model_name="mymodelname", model_version="3",
                                    model_tags={"stage": "staging"})
    sandbox.publish([wanted, other])
    sandbox.service("delivery").pump()
    delivered = [e["id"] for e in webhook.received if e["eventType"].endswith("ModelRegistered")]
    assert delivered == [wanted["id"]]

    deleted = az.run("eventgrid", "event-subscription", "delete", "--name", name, "--source-resource-id", src)
    assert deleted.returncode == 0, deleted.stderr
    gone = az.run("eventgrid", "event-subscription", "show", "--name", name, "--source-resource-id", src)
    assert gone.returncode == 3 and "ResourceNotFound" in gone.stderr
    assert hosts_reached(az) == {"127.0.0.1"}


def test_event_subscription_create_fails_when_the_handshake_fails(az, webhook):
    """An endpoint that refuses the handshake fails the create operation, in Azure's words."""
    sandbox = az.target.sandbox
    sandbox.backends["resources"].register(az.target.subscription_id, "Microsoft.EventGrid")
    sandbox.clock.advance(seconds=5)
    created = az.run("eventgrid", "event-subscription", "create", "--name", "az-refused",
                     "--source-resource-id", az.target.workspace_id, "--endpoint", webhook.url + "/reject")
    assert created.returncode == 1, "a failed operation is az's exit code 1"
    assert "ERROR: (Url validation) Webhook validation handshake failed" in created.stderr
    assert "response code 403" in created.stderr


def test_terminal_flow_with_served_sandbox_and_printed_environment(tmp_path):
    """The README's terminal steps: `sandbox serve` in one process, `eval "$(sandbox az-env)"` and az in a shell."""
    if not AZ.is_file():
        _missing_az()
    kit = Path(sys.executable).parent / "amlevents-kit"
    folder = tmp_path / "sandbox"
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        server = subprocess.Popen([str(kit), "sandbox", "serve", "--json", "--folder", str(folder)],
                                  stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        first = server.stdout.readline()
        assert first, f"amlevents-kit sandbox serve did not start: {log.read_text()}"
        info = json.loads(first)
        script = "\n".join([
            "set -e",
            "shopt -s expand_aliases",  # the printed `alias az=...` (interactive shells expand it anyway)
            f'eval "$({kit} sandbox az-env --folder {folder})"',
            "az provider show --namespace Microsoft.MachineLearningServices --query registrationState -o tsv",
            'echo "config=$AZURE_CONFIG_DIR"',
        ])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_"))}
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[-2:] == ["NotRegistered", f"config={folder.resolve()}/azure-cli/{info['base_url'].rsplit(':', 1)[1]}"]
    finally:
        server.terminate()
        server.wait(timeout=30)

"""The custom-cloud routes the Azure CLI reads, and the az environment helpers, without running az."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from urllib.parse import urlencode

import pytest

from amlevents_kit import azcli, cli
from amlevents_kit.sandbox import defaults

ARM = "https://management.azure.com"


def call(sandbox, method: str, path: str, headers: dict | None = None, body: bytes = b"") -> tuple[int, dict]:
    status, _, data = sandbox.handle(method, ARM + path, headers or {}, body)
    return status, (json.loads(data) if data else {})


def claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.mark.parametrize("path", ["/metadata/endpoints?api-version=2022-09-01",
                                  "//metadata/endpoints?api-version=2022-09-01"])
def test_metadata_document_has_what_cloud_register_reads(sandbox, path):
    status, doc = call(sandbox, "GET", path)
    assert status == 200
    assert doc["resourceManager"] == ARM + "/"
    assert doc["authentication"]["loginEndpoint"] == ARM
    assert doc["authentication"]["audiences"] == ["https://management.core.windows.net/"]
    assert doc["suffixes"] == {}


def test_msi_token_is_a_jwt_with_the_sandbox_tenant(sandbox):
    resource = "https://management.core.windows.net/"
    status, body = call(sandbox, "GET", "/msi/token?" + urlencode({"api-version": "2019-08-01", "resource": resource}),
                        {"X-IDENTITY-HEADER": "anything"})
    assert status == 200
    assert body["resource"] == resource and body["token_type"] == "Bearer"
    token = claims(body["access_token"])
    assert token["tid"] == defaults.TENANT_ID and token["aud"] == resource
    assert int(body["expires_on"]) == token["exp"]


def test_msi_token_names_what_is_missing(sandbox):
    status, body = call(sandbox, "GET", "/msi/token?api-version=2019-08-01&resource=x")
    assert status == 400 and "X-IDENTITY-HEADER" in body["error"]["message"]
    status, body = call(sandbox, "GET", "/msi/token?api-version=2017-09-01", {"secret": "s"})
    assert status == 400 and "resource" in body["error"]["message"]


def test_service_principal_discovery_and_token(sandbox):
    tenant = defaults.TENANT_ID
    status, oidc = call(sandbox, "GET", f"/{tenant}/v2.0/.well-known/openid-configuration")
    assert status == 200 and oidc["token_endpoint"] == f"{ARM}/{tenant}/oauth2/v2.0/token"
    form = urlencode({"grant_type": "client_credentials", "client_id": "app", "client_secret": "s",
                      "scope": "https://management.core.windows.net//.default"}).encode()
    status, body = call(sandbox, "POST", f"/{tenant}/oauth2/v2.0/token",
                        {"Content-Type": "application/x-www-form-urlencoded"}, form)
    assert status == 200 and body["expires_in"] > 0
    assert claims(body["access_token"])["aud"] == "https://management.core.windows.net/"
    status, body = call(sandbox, "POST", f"/{tenant}/oauth2/v2.0/token", {}, b"grant_type=password")
    assert status == 400 and body["error"]["code"] == "unsupported_grant_type"


def test_tenants_and_subscriptions_agree(sandbox):
    status, tenants = call(sandbox, "GET", "/tenants?api-version=2022-12-01")
    assert status == 200 and [t["tenantId"] for t in tenants["value"]] == [defaults.TENANT_ID]
    status, subs = call(sandbox, "GET", "/subscriptions?api-version=2022-12-01")
    assert [(s["subscriptionId"], s["tenantId"], s["state"]) for s in subs["value"]] == [
        (defaults.SUBSCRIPTION_ID, defaults.TENANT_ID, "Enabled")]


def test_az_environment_points_az_at_the_server(target, tmp_path):
    info = target.serve()
    env = azcli.az_environment(target, tmp_path / "az", base={"MSI_ENDPOINT": "http://169.254.169.254", "KEEP": "1"})
    assert env["AZURE_CONFIG_DIR"] == str((tmp_path / "az").resolve())
    assert env["IDENTITY_ENDPOINT"] == info["base_url"] + "/msi/token" and env["IDENTITY_HEADER"]
    assert "MSI_ENDPOINT" not in env and env["KEEP"] == "1"
    assert env["AZURE_CORE_COLLECT_TELEMETRY"] == "no" and env["AZURE_CORE_INSTANCE_DISCOVERY"] == "false"
    bundle = open(env["REQUESTS_CA_BUNDLE"]).read()
    assert open(info["ca_path"]).read().strip() in bundle
    assert azcli.setup_commands(info)[0][-1] == info["base_url"] + "/"


def test_az_environment_needs_a_server(tmp_path):
    with pytest.raises(FileNotFoundError, match="sandbox serve"):
        azcli.az_environment(tmp_path / "no-server", tmp_path / "az")
    with pytest.raises(ValueError, match="ca_path"):
        azcli.server_info({"base_url": "https://127.0.0.1:1"})


def test_az_env_subcommand_prints_exports_and_setup(target, tmp_path):
    info = target.serve()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["sandbox", "az-env", "--folder", str(target.sandbox.folder),
                         "--config-dir", str(tmp_path / "az")]) == 0
    text = out.getvalue()
    assert f"export IDENTITY_ENDPOINT={info['base_url']}/msi/token" in text
    assert f"--endpoint-resource-manager {info['base_url']}/" in text
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["sandbox", "az-env", "--folder", str(target.sandbox.folder), "--json",
                         "--config-dir", str(tmp_path / "az")]) == 0
    data = json.loads(out.getvalue())
    assert data["server"] == info and data["env"]["AZURE_CONFIG_DIR"] == str((tmp_path / "az").resolve())
    assert [c[1:3] for c in data["setup"]] == [["cloud", "register"], ["cloud", "set"], ["login", "--identity"]]


def test_az_env_subcommand_without_a_server(tmp_path, capsys):
    assert cli.main(["sandbox", "az-env", "--folder", str(tmp_path)]) == 1
    assert "amlevents-kit sandbox serve" in capsys.readouterr().err


def test_run_az_says_how_to_install_az(monkeypatch, tmp_path):
    monkeypatch.setenv("AMLEVENTS_AZ", "")
    monkeypatch.setattr(azcli, "find_az", lambda: None)
    with pytest.raises(FileNotFoundError, match="install-azure-cli.sh"):
        azcli.run_az(["version"], env={})
    failed = azcli.AzResult(["group", "show"], 3, "", "ERROR: (ResourceGroupNotFound) ...")
    with pytest.raises(azcli.AzError, match="exited 3: ERROR: \\(ResourceGroupNotFound\\)"):
        failed.check()

"""Microsoft.Resources and the workspace through the real SDK clients, in-process and over HTTPS."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient

from amlevents_kit import connect


def _wait_registered(rm, namespace: str, sandbox=None, timeout: float = 20) -> list[str]:
    seen = [rm.providers.get(namespace).registration_state]
    deadline = time.monotonic() + timeout
    while seen[-1] != "Registered" and time.monotonic() < deadline:
        if sandbox is not None:
            sandbox.clock.advance(seconds=1)
        else:
            time.sleep(0.2)
        state = rm.providers.get(namespace).registration_state
        if state != seen[-1]:
            seen.append(state)
    return seen


def test_register_goes_through_registering(target):
    rm = target.client(ResourceManagementClient)
    assert rm.providers.get("Microsoft.EventGrid").registration_state == "NotRegistered"
    assert rm.providers.register("Microsoft.EventGrid").registration_state == "Registering"
    assert _wait_registered(rm, "Microsoft.EventGrid", target.sandbox)[-2:] == ["Registering", "Registered"]
    names = {p.namespace for p in rm.providers.list()}
    assert {"Microsoft.EventGrid", "Microsoft.MachineLearningServices", "Microsoft.Logic"} <= names


def test_provider_body_matches_the_published_example(target, fixtures_dir):
    example = json.loads((fixtures_dir / "arm/resources/2024-11-01/GetProvider.json").read_text())
    expected = example["responses"]["200"]["body"]
    rm = target.client(ResourceManagementClient)
    raw = rm.providers.get("Microsoft.EventGrid").as_dict()
    body = target.sandbox.backends["resources"].provider(target.subscription_id, "Microsoft.EventGrid")
    assert set(expected) - {"resourceTypes"} <= set(body)
    assert set(expected["resourceTypes"][0]) - {"locationMappings"} <= set(body["resourceTypes"][0])
    assert raw["namespace"] == "Microsoft.EventGrid"


def test_unknown_namespace_is_the_arm_error_azure_gives(target):
    rm = target.client(ResourceManagementClient)
    with pytest.raises(ResourceNotFoundError) as err:
        rm.providers.register("Microsoft.DoesNotExist")
    assert err.value.error.code == "InvalidResourceNamespace"
    assert "Microsoft.DoesNotExist" in err.value.error.message


def test_resource_groups_create_list_delete(target):
    rm = target.client(ResourceManagementClient)
    group = rm.resource_groups.create_or_update("lesson-rg", {"location": "westeurope", "tags": {"a": "b"}})
    assert (group.name, group.location, group.tags) == ("lesson-rg", "westeurope", {"a": "b"})
    assert rm.resource_groups.check_existence("lesson-rg") is True
    rm.resource_groups.begin_delete("lesson-rg").result()
    assert rm.resource_groups.check_existence("lesson-rg") is False
    with pytest.raises(HttpResponseError) as err:
        rm.resource_groups.create_or_update("lesson-rg", {"tags": {}})
    assert err.value.status_code == 400 and "location" in str(err.value)


def test_ml_client_reads_the_workspace_in_process(target):
    ml = target.ml_client()
    ws = ml.workspaces.get(target.workspace_name)
    assert ws.name == target.workspace_name and ws.id == target.workspace_id


def test_https_server_serves_the_same_state(target):
    info = target.serve()
    remote = connect(url=info["base_url"], ca_path=info["ca_path"])
    rm_remote = remote.client(ResourceManagementClient)
    rm_local = target.client(ResourceManagementClient)
    rm_remote.providers.register("Microsoft.EventGrid")
    assert rm_local.providers.get("Microsoft.EventGrid").registration_state == "Registering"
    rm_remote.resource_groups.create_or_update("over-https", {"location": "eastus"})
    assert rm_local.resource_groups.check_existence("over-https")
    rm_remote.resource_groups.begin_delete("over-https").result()  # LRO polled over HTTPS
    assert not rm_local.resource_groups.check_existence("over-https")
    assert remote.ml_client().workspaces.get(remote.workspace_name).id == target.workspace_id


def test_https_server_refuses_clients_without_the_ca(target):
    info = target.serve()
    rm = ResourceManagementClient(target.credential, target.subscription_id, base_url=info["base_url"])
    with pytest.raises(Exception) as err:
        rm.providers.get("Microsoft.EventGrid", retry_total=0)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)


def test_second_process_sees_the_registration(sandbox_folder, tmp_path):
    """`amlevents-kit sandbox serve` in one process; the SDK in this one, and the in-process view, agree."""
    proc = subprocess.Popen([sys.executable, "-m", "amlevents_kit.cli", "sandbox", "serve", "--json",
                             "--folder", str(sandbox_folder)], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        remote = connect(url=info["base_url"], ca_path=info["ca_path"])
        rm = remote.client(ResourceManagementClient)
        assert rm.providers.register("Microsoft.EventGrid").registration_state == "Registering"
        seen = _wait_registered(rm, "Microsoft.EventGrid")
        assert seen[-1] == "Registered"
        local = connect(folder=sandbox_folder)
        assert local.client(ResourceManagementClient).providers.get("Microsoft.EventGrid").registration_state == "Registered"
        local.sandbox.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_sdk_auto_registers_on_missing_registration(target):
    """A plain write into an unregistered provider: the SDK's policy registers it, waits (a fixed 10 s)
    and retries. The retried call is one the sandbox does not emulate, so it ends in the error that names it.
    """
    from azure.core.rest import HttpRequest
    rm = target.client(ResourceManagementClient)
    url = f"https://management.azure.com{target.workspace_id}/privateEndpointConnections/pe1/approve?api-version=2024-10-01"
    response = rm.send_request(HttpRequest("POST", url, json={}))
    assert response.status_code == 501 and "privateEndpointConnections/pe1" in response.json()["error"]["message"]
    assert rm.providers.get("Microsoft.MachineLearningServices").registration_state == "Registered"


def test_long_running_create_into_unregistered_provider_fails_plainly(target):
    """Long-running creates are sent streamed: the SDK cannot read the 409 body, so it does not auto-register."""
    rm = target.client(ResourceManagementClient)
    path = f"{target.workspace_id}/privateEndpointConnections/pe1"
    with pytest.raises(HttpResponseError) as err:
        rm.resources.begin_create_or_update_by_id(path, api_version="2024-10-01", parameters={"location": "eastus"})
    assert err.value.status_code == 409 and err.value.error.code == "MissingSubscriptionRegistration"
    assert rm.providers.get("Microsoft.MachineLearningServices").registration_state == "NotRegistered"

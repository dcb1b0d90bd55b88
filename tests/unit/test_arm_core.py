"""The ARM core on its own: store, clock, router errors and long-running operations."""

from __future__ import annotations

import json

import pytest

from amlevents_kit.sandbox import Sandbox, defaults
from amlevents_kit.sandbox.arm.errors import ArmError
from amlevents_kit.sandbox.arm.http import Request, Response
from amlevents_kit.sandbox.arm.router import Route, Router
from amlevents_kit.sandbox.arm.store import Store
from amlevents_kit.sandbox.arm.clock import Clock

SUB = defaults.SUBSCRIPTION_ID
API = "?api-version=2021-04-01"


def call(sandbox: Sandbox, method: str, path: str, body=None, raw: bytes | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    status, headers, payload = sandbox.handle(method, f"https://management.azure.com{path}", {}, data)
    return status, headers, (json.loads(payload) if payload else None)


def test_store_ids_are_case_insensitive_and_delete_cascades(tmp_path):
    store = Store(tmp_path / "s.db")
    store.put("/A/B", "t", {"name": "b"})
    store.put("/a/b/c/D", "t2", {"name": "d"})
    assert store.get("/a/B") == {"name": "b"}
    assert [r["name"] for r in store.list(under="/A/b")] == ["d"]
    assert store.delete("/a/b") is True
    assert store.get("/a/b/c/d") is None
    assert store.delete("/a/b") is False


def test_store_transaction_rolls_back_on_error(tmp_path):
    store = Store(tmp_path / "s.db")
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.put("/x", "t", {})
            raise RuntimeError("boom")
    assert store.get("/x") is None


def test_clock_advances_frozen_and_following(tmp_path):
    clock = Clock(Store(tmp_path / "s.db"))
    clock.freeze()
    t0 = clock.now()
    assert clock.advance(minutes=5) == pytest.approx(t0 + 300)
    clock.follow_wall_clock()
    assert clock.now() >= t0 + 300
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(seconds=-1)


def test_clock_is_shared_by_two_stores_on_one_file(tmp_path):
    a, b = Clock(Store(tmp_path / "s.db")), Clock(Store(tmp_path / "s.db"))
    a.freeze()
    a.advance(hours=1)
    assert b.now() == a.now()


def test_router_answers_arm_errors_for_unknown_and_broken_requests():
    router = Router()

    def boom(request):
        raise KeyError("x")

    router.add([Route("GET", r"/ok", lambda r: Response(200, {"ok": True})), Route("GET", r"/boom", boom, arm=False)])
    ok = router.dispatch(Request("GET", "https://h/ok?api-version=1"))
    assert ok.status == 200 and ok.headers["x-ms-request-id"]
    missing = router.dispatch(Request("GET", "https://h/ok"))
    assert (missing.status, missing.body["error"]["code"]) == (400, "MissingApiVersionParameter")
    not_here = router.dispatch(Request("DELETE", "https://h/ok?api-version=1"))  # Azure may allow it
    assert (not_here.status, not_here.body["error"]["code"]) == (501, "SandboxNotImplemented")
    assert "'DELETE /ok'" in not_here.body["error"]["message"]
    wrong = router.dispatch(Request("BREW", "https://h/ok?api-version=1"))
    assert (wrong.status, wrong.body["error"]["code"]) == (405, "MethodNotAllowed")
    unknown = router.dispatch(Request("GET", "https://h/subscriptions/s/providers/Microsoft.Sql/servers?api-version=1"))
    assert (unknown.status, unknown.body["error"]["code"]) == (501, "SandboxNotImplemented")
    assert "does not emulate the resource provider Microsoft.Sql" in unknown.body["error"]["message"]
    broken = router.dispatch(Request("GET", "https://h/subscriptions/s/providers/Not-A!Namespace/x?api-version=1"))
    assert (broken.status, broken.body["error"]["code"]) == (400, "InvalidResourceNamespace")
    bug = router.dispatch(Request("GET", "https://h/boom"))
    assert bug.status == 500 and bug.body["error"]["code"] == "InternalServerError"


def test_unimplemented_operation_names_itself(sandbox):
    status, _, body = call(sandbox, "POST", f"/subscriptions/{SUB}/resourceGroups/amlevents-rg/moveResources{API}", {})
    assert status == 501
    assert body["error"]["code"] == "SandboxNotImplemented"
    assert "POST /subscriptions/" in body["error"]["message"] and "moveResources" in body["error"]["message"]


@pytest.mark.parametrize("raw, fragment", [
    (b"{not json", "could not be deserialized"),
    (b"[1, 2]", "must be a JSON object"),
    (b"", "was empty"),
    (b'{"a": ' * 500 + b"1" + b"}" * 500, "nested more than 64 levels"),  # parses, but deeper than ARM reads
    (b"[" * 10_000 + b"]" * 10_000, "could not be deserialized"),
])
def test_malformed_bodies_are_400_invalid_request_content(sandbox, raw, fragment):
    status, _, body = call(sandbox, "PUT", f"/subscriptions/{SUB}/resourcegroups/rg1{API}", raw=raw)
    assert status == 400
    assert body["error"]["code"] == "InvalidRequestContent"
    assert fragment in body["error"]["message"]


def test_json_nesting_up_to_the_limit_is_read():
    body = b'{"a": ' * 63 + b"[1]" + b"}" * 63  # 64 levels
    value = Request("PUT", "https://management.azure.com/x", {}, body).json()
    for _ in range(63):
        value = value["a"]
    assert value == [1]


def test_resource_group_validation_names_the_field(sandbox):
    status, _, body = call(sandbox, "PUT", f"/subscriptions/{SUB}/resourcegroups/rg1{API}", {"tags": {}})
    assert status == 400 and "'location'" in body["error"]["message"]
    status, _, body = call(sandbox, "PUT", f"/subscriptions/{SUB}/resourcegroups/bad%20name!{API}", {"location": "eastus"})
    assert status == 400 and "resourceGroupName" in body["error"]["message"]


def test_unknown_subscription_is_404(sandbox):
    status, _, body = call(sandbox, "GET", f"/subscriptions/00000000-0000-0000-0000-000000000000/providers{API}")
    assert (status, body["error"]["code"]) == (404, "SubscriptionNotFound")


def test_long_running_delete_answers_like_arm(sandbox):
    call(sandbox, "PUT", f"/subscriptions/{SUB}/resourcegroups/rg1{API}", {"location": "eastus"})
    status, headers, _ = call(sandbox, "DELETE", f"/subscriptions/{SUB}/resourcegroups/rg1{API}")
    assert status == 202 and headers["retry-after-ms"] == "10"
    op_path = headers["Azure-AsyncOperation"].replace("https://management.azure.com", "")
    assert call(sandbox, "GET", op_path)[2]["status"] == "InProgress"
    assert call(sandbox, "GET", f"/subscriptions/{SUB}/resourcegroups/rg1{API}")[0] == 200
    done = call(sandbox, "GET", op_path)[2]
    assert done["status"] == "Succeeded" and "endTime" in done
    # The operation's times are sandbox time, like the resources' own timestamps.
    sandbox.clock.advance(hours=48)
    call(sandbox, "PUT", f"/subscriptions/{SUB}/resourcegroups/rg2{API}", {"location": "eastus"})
    later = call(sandbox, "DELETE", f"/subscriptions/{SUB}/resourcegroups/rg2{API}")[1]["Azure-AsyncOperation"]
    started = call(sandbox, "GET", later.replace("https://management.azure.com", ""))[2]["startTime"]
    assert started[:13] == sandbox.clock.isoformat()[:13] and started > done["endTime"]
    assert call(sandbox, "GET", f"/subscriptions/{SUB}/resourcegroups/rg1{API}")[0] == 404


def test_writes_into_an_unregistered_provider_are_409(sandbox):
    path = (f"/subscriptions/{SUB}/resourceGroups/amlevents-rg/providers/Microsoft.MachineLearningServices"
            f"/workspaces/amlevents-ws{API}")
    assert call(sandbox, "GET", path)[0] == 200  # reading works
    status, _, body = call(sandbox, "PUT", path, {"location": "eastus"})
    assert status == 409
    assert body["error"]["code"] == "MissingSubscriptionRegistration"
    # The SDK's auto-registration policy reads the namespace from the message's last quoted word.
    assert body["error"]["message"].rsplit("'", 2)[1] == "Microsoft.MachineLearningServices"


def test_registration_takes_sandbox_time(sandbox):
    resources = sandbox.backends["resources"]
    sandbox.clock.freeze()
    assert resources.register(SUB, "microsoft.eventgrid")["registrationState"] == "Registering"
    assert resources.state(SUB, "Microsoft.EventGrid") == "Registering"
    sandbox.clock.advance(seconds=2)
    assert resources.state(SUB, "Microsoft.EventGrid") == "Registered"
    resources.unregister(SUB, "Microsoft.EventGrid")
    sandbox.clock.advance(seconds=2)
    assert resources.state(SUB, "Microsoft.EventGrid") == "NotRegistered"
    with pytest.raises(ArmError) as err:
        resources.unregister(SUB, "Microsoft.Resources")
    assert err.value.status == 409


def test_reset_keeps_existing_clients_working(target):
    from azure.mgmt.resource.resources import ResourceManagementClient
    rm = target.client(ResourceManagementClient)
    rm.resource_groups.create_or_update("extra", {"location": "eastus"})
    target.sandbox.reset()
    assert [g.name for g in rm.resource_groups.list()] == ["amlevents-rg"]


def test_empty_path_segments_are_folded_as_arm_does():
    """resources.begin_create_or_update(..., parent_resource_path="") sends '/Microsoft.Web//connections/x'."""
    request = Request("PUT", f"https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg/providers/"
                             "Microsoft.Web//connections/x?api-version=2016-06-01")
    assert request.path == f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/connections/x"
    assert Request("GET", "https://h/azureml//x").path == "/azureml//x"  # data-plane paths are left as sent

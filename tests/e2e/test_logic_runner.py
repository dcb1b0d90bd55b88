"""The workflow runner through its callback URL (a Request trigger): HTTP, Compose, runAfter,
run-time expression failures and disabled workflows, read back with LogicManagementClient."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from azure.mgmt.logic import LogicManagementClient

from amlevents_kit import workflows as wf


def _deploy(target, name: str, actions: dict, parameters: dict | None = None) -> str:
    logic = target.client(LogicManagementClient)
    definition = {"$schema": wf.SCHEMA, "contentVersion": "1.0.0.0",
                  "parameters": {"threshold": {"type": "Float", "defaultValue": 0.5}},
                  "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {"schema": {}}}},
                  "actions": actions, "outputs": {}}
    logic.workflows.create_or_update(target.resource_group, name, {
        "location": "eastus", "definition": definition, "parameters": parameters or {}})
    return logic.workflow_triggers.list_callback_url(target.resource_group, name, "manual").value


def _post(target, url: str, body) -> requests.Response:
    return requests.post(url, json=body, verify=str(target.sandbox.server.ca_path), timeout=30)


@pytest.fixture
def receiver():
    """A plain local HTTP endpoint that records what it receives and answers per path."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "body": data})
            status = 500 if self.path == "/broken" else 200
            payload = json.dumps({"received": data}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_http_compose_and_expressions(target, receiver):
    base, seen = receiver
    target.sandbox.clock.freeze()
    url = _deploy(target, "chain", {
        "Compose": {"type": "Compose", "runAfter": {},
                    "inputs": {"model": "@triggerBody()?['name']", "high": "@greater(triggerBody()?['score'], parameters('threshold'))",
                               "run": "@workflow()['run']['name']", "at": "@utcNow()",
                               "type": "@triggerOutputs()?['headers']?['Content-Type']"}},
        "Post": {"type": "Http", "runAfter": {"Compose": ["Succeeded"]},
                 "inputs": {"method": "POST", "uri": f"{base}/hook", "body": "@outputs('Compose')"}},
        "Workspace": {"type": "Http", "runAfter": {"Post": ["Succeeded"]},
                      "inputs": {"method": "GET",
                                 "uri": f"https://management.azure.com{target.workspace_id}?api-version=2024-04-01"}},
    })
    resp = _post(target, url, {"name": "churn", "score": 0.8})
    assert resp.status_code == 202
    (run_name,) = resp.json()["runs"]
    (run,) = wf.run_history(target, "chain")
    assert run.name == run_name and run.status == "Succeeded"
    composed = run.action("Compose").outputs
    at = composed["at"]
    assert {k: v for k, v in composed.items() if k != "at"} == \
        {"model": "churn", "high": True, "run": run_name, "type": "application/json"}
    assert at.startswith(target.sandbox.clock.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")) and at.endswith("0Z")
    assert seen == [{"path": "/hook", "body": composed}]                    # real HTTP left the sandbox
    assert run.action("Post").outputs["body"] == {"received": composed}
    assert run.action("Post").code == "OK"
    assert run.action("Workspace").outputs["body"]["name"] == target.workspace_name   # ARM, in process


def test_failure_skips_dependents_and_run_after_failed_handles_it(target, receiver):
    base, _ = receiver
    url = _deploy(target, "failing", {
        "Call": {"type": "Http", "runAfter": {}, "inputs": {"method": "POST", "uri": f"{base}/broken", "body": {}}},
        "OnSuccess": {"type": "Compose", "runAfter": {"Call": ["Succeeded"]}, "inputs": "ok"},
        "OnFailure": {"type": "Compose", "runAfter": {"Call": ["Failed"]}, "inputs": "@actions('Call')['status']"},
    })
    _post(target, url, {})
    (run,) = wf.run_history(target, "failing")
    call = run.action("Call")
    assert call.status == "Failed" and call.code == "InternalServerError" and call.outputs["statusCode"] == 500
    skipped = run.action("OnSuccess")
    assert skipped.status == "Skipped" and skipped.code == "ActionConditionFailed"
    assert "Expected status values 'Succeeded' and actual value 'Failed'" in skipped.error["message"]
    assert run.action("OnFailure").outputs == "Failed"
    assert run.status == "Succeeded"                    # the failure was handled by a runAfter: Failed


def test_runtime_expression_failure_fails_the_action_and_the_run(target):
    url = _deploy(target, "strict", {
        "Compose": {"type": "Compose", "runAfter": {}, "inputs": "@triggerBody()['missing']"}})
    _post(target, url, {"present": 1})
    logic = target.client(LogicManagementClient)
    (run,) = list(logic.workflow_runs.list(target.resource_group, "strict"))
    assert run.status == "Failed" and run.code == "ActionFailed"
    action = logic.workflow_run_actions.get(target.resource_group, "strict", run.name, "Compose")
    assert action.status == "Failed" and action.code == "InvalidTemplate"
    assert "property 'missing' doesn't exist; available properties are 'present'" in action.error["message"]


def test_disabled_workflow_refuses_invocations(target):
    url = _deploy(target, "paused", {"Compose": {"type": "Compose", "runAfter": {}, "inputs": 1}})
    logic = target.client(LogicManagementClient)
    logic.workflows.disable(target.resource_group, "paused")
    resp = _post(target, url, {})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "WorkflowNotEnabled"
    logic.workflows.enable(target.resource_group, "paused")
    assert _post(target, url, {}).status_code == 202
    assert [r.status for r in logic.workflow_runs.list(target.resource_group, "paused")] == ["Succeeded"]


def test_update_keeps_the_callback_and_history_links_resolve(target):
    url = _deploy(target, "versioned", {"Compose": {"type": "Compose", "runAfter": {}, "inputs": "v1"}})
    _post(target, url, {})
    url2 = _deploy(target, "versioned", {"Compose": {"type": "Compose", "runAfter": {}, "inputs": "v2"}})
    assert url2 == url
    _post(target, url, {})
    logic = target.client(LogicManagementClient)
    runs = list(logic.workflow_runs.list(target.resource_group, "versioned"))
    assert len(runs) == 2 and runs[0].workflow.name != runs[1].workflow.name   # each run names its version
    outputs = sorted(r.action("Compose").outputs for r in wf.run_history(target, "versioned"))
    assert outputs == ["v1", "v2"]
    link = logic.workflow_run_actions.get(target.resource_group, "versioned", runs[0].name, "Compose").outputs_link
    assert link.uri.startswith(target.sandbox.server.base_url + "/logic/contents/")
    assert requests.get(link.uri, verify=str(target.sandbox.server.ca_path), timeout=30).status_code == 200


def test_a_run_can_invoke_another_workflow(target):
    inner = _deploy(target, "inner", {"Compose": {"type": "Compose", "runAfter": {}, "inputs": "@triggerBody()"}})
    _deploy(target, "outer", {"Call": {"type": "Http", "runAfter": {},
                                       "inputs": {"method": "POST", "uri": inner, "body": {"from": "outer"}}}})
    outer_url = target.client(LogicManagementClient).workflow_triggers.list_callback_url(
        target.resource_group, "outer", "manual").value
    assert _post(target, outer_url, {}).status_code == 202
    (outer_run,) = wf.run_history(target, "outer")
    assert outer_run.status == "Succeeded" and outer_run.action("Call").outputs["statusCode"] == 202
    (inner_run,) = wf.run_history(target, "inner")
    assert inner_run.action("Compose").outputs == {"from": "outer"}


@pytest.mark.parametrize("expression, function", [
    ("@first(triggerBody()?['n'])", "first"),
    ("@last(triggerBody()?['n'])", "last"),
    ("@join(triggerBody()?['n'], ',')", "join"),
    ("@join(createArray('a', 'b'), triggerBody()?['n'])", "join"),
    ("@split('a,b', '')", "split"),
    ("@int(triggerBody()?['huge'])", "int"),
    ("@mul(triggerBody()?['n'], 4611686018427387904)", "mul"),
])
def test_a_built_in_given_the_wrong_type_fails_its_action_not_the_call(target, expression, function):
    """These raised TypeError/AttributeError/ValueError: a 500 from the trigger's call and no run at all."""
    url = _deploy(target, "typed", {"Compose": {"type": "Compose", "runAfter": {}, "inputs": expression}})
    resp = requests.post(url, data='{"n": 5, "huge": 1e400}', headers={"Content-Type": "application/json"},
                         verify=str(target.sandbox.server.ca_path), timeout=30)
    assert resp.status_code == 202
    (run,) = wf.run_history(target, "typed")
    assert run.status == "Failed"
    action = run.action("Compose")
    assert action.status == "Failed" and action.code == "InvalidTemplate"
    assert f"The template language function '{function}'" in action.error["message"]


def _boom(*args):
    raise RuntimeError("a fault of the sandbox")


def test_a_fault_while_running_an_action_fails_it_and_the_run(target, receiver, monkeypatch):
    base, _ = receiver
    url = _deploy(target, "faulty", {
        "Call": {"type": "Http", "runAfter": {}, "inputs": {"method": "POST", "uri": f"{base}/hook", "body": {}}},
        "Then": {"type": "Compose", "runAfter": {"Call": ["Succeeded"]}, "inputs": "next"}})
    monkeypatch.setattr(target.sandbox.backends["logic"].connectors, "http", _boom)
    assert _post(target, url, {}).status_code == 202
    logic = target.client(LogicManagementClient)
    (run,) = list(logic.workflow_runs.list(target.resource_group, "faulty"))
    assert run.status == "Failed" and run.code == "ActionFailed"
    call = logic.workflow_run_actions.get(target.resource_group, "faulty", run.name, "Call")
    assert call.status == "Failed" and call.code == "InternalServerError"
    assert call.error["message"] == ("The sandbox failed while running action 'Call': "
                                     "RuntimeError: a fault of the sandbox")
    then = logic.workflow_run_actions.get(target.resource_group, "faulty", run.name, "Then")
    assert then.status == "Skipped" and then.code == "ActionConditionFailed"


def test_a_fault_while_evaluating_inputs_or_a_condition_fails_that_action(target, monkeypatch):
    from amlevents_kit.sandbox.providers.logic import expressions as ex
    monkeypatch.setitem(ex.BUILTINS, "guid", (_boom, 0, 0))
    url = _deploy(target, "faulty-inputs", {
        "Compose": {"type": "Compose", "runAfter": {}, "inputs": "@guid()"},
        "Check": {"type": "If", "runAfter": {"Compose": ["Failed"]}, "expression": "@equals(guid(), 'x')",
                  "actions": {"Inner": {"type": "Compose", "runAfter": {}, "inputs": 1}}, "else": {"actions": {}}},
        "Handled": {"type": "Compose", "runAfter": {"Check": ["Failed"]}, "inputs": "@actions('Check')['code']"}})
    assert _post(target, url, {}).status_code == 202
    (run,) = wf.run_history(target, "faulty-inputs")
    compose, check = run.action("Compose"), run.action("Check")
    assert (compose.status, compose.code) == ("Failed", "InternalServerError")
    assert "evaluating the inputs of action 'Compose': RuntimeError" in compose.error["message"]
    assert (check.status, check.code) == ("Failed", "InternalServerError")
    assert "evaluating the condition of action 'Check': RuntimeError" in check.error["message"]
    assert run.action("Inner").status == "Skipped"
    assert run.action("Handled").outputs == "InternalServerError"
    assert run.status == "Succeeded"                    # both failures were handled by runAfter: Failed


def test_http_headers_that_are_not_an_object_are_a_bad_request(target):
    url = _deploy(target, "headers", {"Call": {"type": "Http", "runAfter": {},
                                               "inputs": {"method": "GET", "uri": "http://127.0.0.1:9/",
                                                          "headers": "@triggerBody()?['h']"}}})
    assert _post(target, url, {"h": "X-Evil: 1"}).status_code == 202
    (run,) = wf.run_history(target, "headers")
    call = run.action("Call")
    assert (call.status, call.code) == ("Failed", "BadRequest")
    assert "'headers' must be an object" in call.error["message"]

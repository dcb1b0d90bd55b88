"""Issue 6 end to end: a kit-built workflow deployed with LogicManagementClient fires on workspace
events delivered by Event Grid over real HTTPS, and sends real SMTP mail into the mailbox."""

from __future__ import annotations

import json
import shlex

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.logic import LogicManagementClient

from amlevents_kit import events
from amlevents_kit import workflows as wf
from amlevents_kit.mailbox import open_mailbox
from amlevents_kit.providers import ensure_providers


@pytest.fixture
def alert(target):
    ensure_providers(target, quiet=True)
    plan = wf.email_alert(target, name="run-alert", event_types=["RunCompleted"],
                          subject_begins_with="experiments/",
                          condition=wf.equals("@triggerBody()?['data']?['experimentName']", "churn"),
                          to="team@example.com")
    plan.deploy(target)
    return plan


def _publish_and_deliver(target, *evs):
    target.sandbox.publish(list(evs))
    target.sandbox.service("delivery").pump()


def test_deployed_workflow_subscribes_itself(target, alert):
    logic = target.client(LogicManagementClient)
    got = logic.workflows.get(target.resource_group, "run-alert")
    assert got.state == "Enabled" and got.provisioning_state == "Succeeded"
    assert [t.name for t in logic.workflow_triggers.list(target.resource_group, "run-alert")] == \
        ["When_a_resource_event_occurs"]
    eg = target.client(EventGridManagementClient)
    subs = list(eg.event_subscriptions.list_by_resource(
        target.resource_group, "Microsoft.MachineLearningServices", "workspaces", target.workspace_name))
    assert len(subs) == 1
    sub = subs[0]
    assert sub.provisioning_state == "Succeeded"          # the handshake went over HTTPS to the callback
    assert sub.filter.included_event_types == ["Microsoft.MachineLearningServices.RunCompleted"]
    assert sub.filter.subject_begins_with == "experiments/"
    full = eg.event_subscriptions.get_full_url(target.workspace_id, sub.name).endpoint_url
    assert full.startswith(target.sandbox.server.base_url + "/logic/workflows/")


def test_matching_event_sends_a_real_email(target, alert):
    ev = events.run_completed(topic=target.workspace_id, experiment_id="exp-1", experiment_name="churn", run_id="run-1")
    _publish_and_deliver(target, ev)
    box = open_mailbox(target)
    assert len(box) == 1
    msg = box.latest()
    assert msg.recipients == ["team@example.com"]
    assert msg.subject == "AML Microsoft.MachineLearningServices.RunCompleted on experiments/exp-1/runs/run-1"
    assert "experiments/exp-1/runs/run-1" in msg.body
    runs = wf.run_history(target, "run-alert")
    assert len(runs) == 1 and runs[0].status == "Succeeded"
    assert msg.run_id.endswith(f"/workflows/run-alert/runs/{runs[0].name}")
    assert runs[0].action("Send_an_email_(V2)").status == "Succeeded"
    assert runs[0].action("Send_an_email_(V2)").inputs["body"]["To"] == "team@example.com"
    assert runs[0].trigger_body["id"] == ev["id"]


def test_condition_false_sends_nothing_and_history_says_why(target, alert):
    ev = events.run_completed(topic=target.workspace_id, experiment_id="exp-2", experiment_name="other", run_id="run-2")
    _publish_and_deliver(target, ev)
    assert len(open_mailbox(target)) == 0
    (run,) = wf.run_history(target, "run-alert")
    cond = run.action("Condition")
    assert cond.status == "Succeeded" and cond.outputs == {"expression": {"result": False}}
    assert cond.inputs["expression"] == {"equals": ["other", "churn"], "result": False}
    email = run.action("Send_an_email_(V2)")
    assert email.status == "Skipped" and email.code == "ActionBranchingConditionNotSatisfied"
    assert "branching condition" in str(run)


def test_filtered_events_never_start_a_run(target, alert):
    model = events.model_registered(topic=target.workspace_id, model_name="churn", model_version="1")
    _publish_and_deliver(target, model)                  # another event type: Event Grid drops it
    assert wf.run_history(target, "run-alert") == []
    assert len(open_mailbox(target)) == 0


def test_one_run_per_event(target, alert):
    evs = [events.run_completed(topic=target.workspace_id, experiment_id=f"e{i}", experiment_name="churn",
                                run_id=f"r{i}") for i in range(3)]
    _publish_and_deliver(target, *evs)
    assert len(wf.run_history(target, "run-alert")) == 3
    assert sorted(m.subject.rsplit("/", 1)[-1] for m in open_mailbox(target)) == ["r0", "r1", "r2"]
    logic = target.client(LogicManagementClient)
    hist = list(logic.workflow_trigger_histories.list(target.resource_group, "run-alert", "When_a_resource_event_occurs"))
    assert len(hist) == 3 and all(h.fired for h in hist)


def test_disable_enable_and_delete_unsubscribes(target, alert):
    logic = target.client(LogicManagementClient)
    logic.workflows.disable(target.resource_group, "run-alert")
    assert logic.workflows.get(target.resource_group, "run-alert").state == "Disabled"
    logic.workflows.enable(target.resource_group, "run-alert")
    logic.workflows.delete(target.resource_group, "run-alert")
    eg = target.client(EventGridManagementClient)
    assert list(eg.event_subscriptions.list_by_resource(
        target.resource_group, "Microsoft.MachineLearningServices", "workspaces", target.workspace_name)) == []
    assert [w.name for w in logic.workflows.list_by_resource_group(target.resource_group)] == []


def test_callback_needs_its_signature(target, alert):
    logic = target.client(LogicManagementClient)
    url = logic.workflow_triggers.list_callback_url(target.resource_group, "run-alert",
                                                    "When_a_resource_event_occurs").value
    forged = url.split("&sig=")[0] + "&sig=forged"
    resp = requests.post(forged, json=[], verify=str(target.sandbox.server.ca_path), timeout=30)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "DirectApiInvalidAuthorizationSignature"


def test_unsupported_definition_is_refused_at_create(target):
    ensure_providers(target, quiet=True)
    plan = wf.email_alert(target, name="bad", event_types=["RunCompleted"], to="t@x.org")
    plan.definition["actions"]["Loop"] = {"type": "Until", "expression": "@true", "actions": {}, "runAfter": {}}
    with pytest.raises(HttpResponseError) as info:
        plan.deploy(target)
    assert info.value.status_code == 400 and "'Until'" in info.value.message
    assert "definition.actions.Loop.type" in info.value.message


def test_bad_expression_is_refused_at_create(target):
    ensure_providers(target, quiet=True)
    plan = wf.email_alert(target, name="bad", event_types=["RunCompleted"], to="t@x.org",
                          subject="Run @{triggerBody()?['subject']")
    with pytest.raises(HttpResponseError) as info:
        plan.deploy(target)
    assert info.value.error.code == "InvalidTemplate"
    assert "definition.actions.Send_an_email_(V2).inputs.body.Subject" in info.value.message
    logic = target.client(LogicManagementClient)
    assert [w.name for w in logic.workflows.list_by_resource_group(target.resource_group)] == []


def test_without_event_grid_registered_the_trigger_cannot_subscribe(target):
    plan = wf.email_alert(target, name="early", event_types=["RunCompleted"], to="t@x.org")
    with pytest.raises(HttpResponseError) as info:
        plan.deploy(target)
    assert info.value.error.code == "WorkflowTriggerSubscriptionFailed"
    assert "MissingSubscriptionRegistration" in info.value.message


def test_line_breaks_in_event_data_are_folded_in_the_subject_and_inject_nothing(target):
    """An event value with CR/LF in the Subject once failed the trigger's call with a 500: no run,
    and Event Grid retried for ever. Now the header is one line, and nothing is injected."""
    ensure_providers(target, quiet=True)
    wf.email_alert(target, name="crlf-alert", event_types=["RunCompleted"], to="team@example.com",
                   subject="Run @{triggerBody()?['data']?['experimentName']} completed").deploy(target)
    ev = events.run_completed(topic=target.workspace_id, experiment_id="exp-9", run_id="run-9",
                              experiment_name="churn\r\nBcc: evil@example.org\r\nX-Injected: yes")
    _publish_and_deliver(target, ev)
    stats = target.sandbox.service("delivery").stats()
    assert (stats["delivered"], stats["pending"], stats["dead_lettered"]) == (1, 0, 0)   # no retries
    (run,) = wf.run_history(target, "crlf-alert")
    assert run.status == "Succeeded" and run.action("Send_an_email_(V2)").status == "Succeeded"
    box = open_mailbox(target)
    (msg,) = box.messages()
    assert msg.subject == "Run churn Bcc: evil@example.org X-Injected: yes completed"
    assert msg.recipients == ["team@example.com"] and box.messages(to="evil@example.org") == []
    head = msg.path.read_bytes().split(b"\r\n\r\n", 1)[0].decode()
    names = [line.split(":", 1)[0] for line in head.splitlines() if line and not line[0].isspace()]
    assert "Bcc" not in names and "X-Injected" not in names and names.count("Subject") == 1


@pytest.mark.parametrize("change, path", [
    (lambda t, e: t.update(splitOn="@triggerBody()?['data']"), "definition.triggers.When_a_resource_event_occurs.splitOn"),
    (lambda t, e: e["inputs"].update(retryPolicy={"type": "exponential", "count": 4, "interval": "PT7S"}),
     "definition.actions.Send_an_email_(V2).inputs.retryPolicy"),
    (lambda t, e: e.update(limit={"timeout": "PT1M"}), "definition.actions.Send_an_email_(V2).limit"),
])
def test_what_the_runner_cannot_run_is_refused_at_create_and_nothing_is_left(target, change, path):
    """These were accepted, subscribed to the workspace, and then ignored by every run."""
    ensure_providers(target, quiet=True)
    plan = wf.email_alert(target, name="ignored", event_types=["RunCompleted"], to="t@x.org")
    change(plan.definition["triggers"]["When_a_resource_event_occurs"], plan.definition["actions"]["Send_an_email_(V2)"])
    with pytest.raises(HttpResponseError) as info:
        plan.deploy(target)
    assert info.value.status_code == 400 and info.value.error.code == "SandboxUnsupportedDefinition"
    assert f"(at '{path}')" in info.value.message
    logic = target.client(LogicManagementClient)
    assert [w.name for w in logic.workflows.list_by_resource_group(target.resource_group)] == []
    eg = target.client(EventGridManagementClient)
    assert list(eg.event_subscriptions.list_by_resource(
        target.resource_group, "Microsoft.MachineLearningServices", "workspaces", target.workspace_name)) == []


def _replay_az(target, argv: list[str], files: dict) -> None:
    """Do what an `az` step of WorkflowPlan.az_commands() does, through the same ARM API."""
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.resources.models import GenericResource
    opt = {argv[i]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("-")}
    if argv[1:3] == ["resource", "create"]:
        rid = (f"/subscriptions/{target.subscription_id}/resourceGroups/{opt['-g']}/providers/"
               f"{opt['--resource-type']}/{opt['-n']}")                      # az composes the id so
        target.client(ResourceManagementClient).resources.begin_create_or_update_by_id(
            resource_id=rid, api_version=opt["--api-version"],
            parameters=GenericResource(location=opt["-l"], properties=json.loads(opt["--properties"]))).result()
    else:  # az logic workflow create: the extension sends the file's definition and parameters
        assert argv[1:4] == ["logic", "workflow", "create"]
        document = json.loads(files[opt["--definition"]].read_text())
        target.client(LogicManagementClient).workflows.create_or_update(opt["-g"], opt["-n"], {
            "location": opt["-l"], "definition": document["definition"], "parameters": document.get("parameters")})


def test_the_az_steps_deploy_a_workflow_that_sends_the_email(target, tmp_path):
    ensure_providers(target, quiet=True)
    plan = wf.email_alert(target, name="from-az", event_types=["RunCompleted"], to="team@example.com")
    path = plan.write_az_definition(tmp_path / "workflow.json")
    for command in plan.az_commands(path):
        _replay_az(target, shlex.split(command), {str(path): path})
    _publish_and_deliver(target, events.run_completed(topic=target.workspace_id, experiment_id="e",
                                                     experiment_name="churn", run_id="r"))
    (run,) = wf.run_history(target, "from-az")
    assert run.status == "Succeeded"
    assert [m.recipients for m in open_mailbox(target)] == [["team@example.com"]]

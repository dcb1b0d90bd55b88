"""The workflow builder produces the designer's shapes (spec §8) that the sandbox accepts as-is."""

from __future__ import annotations

import json
import shlex
from types import SimpleNamespace

import pytest

from amlevents_kit import workflows as wf
from amlevents_kit.sandbox.providers.logic import definition as defn

TARGET = SimpleNamespace(subscription_id="sub-1", resource_group="rg", location="eastus",
                         workspace_id="/subscriptions/sub-1/resourceGroups/rg/providers/"
                                      "Microsoft.MachineLearningServices/workspaces/ws")


def test_eventgrid_trigger_matches_the_connector_shape():
    t = wf.eventgrid_trigger(TARGET.workspace_id, event_types=["RunCompleted", "ModelRegistered"],
                             subject_begins_with="experiments/")
    assert t["type"] == "ApiConnectionWebhook" and t["splitOn"] == "@triggerBody()"
    assert defn.plain_path(t["inputs"]["path"]) == \
        "/subscriptions/sub-1/providers/Microsoft.MachineLearningServices.Workspaces/resource/eventSubscriptions"
    props = t["inputs"]["body"]["properties"]
    assert props["topic"] == TARGET.workspace_id
    assert props["destination"] == {"endpointType": "webhook", "properties": {"endpointUrl": "@{listCallbackUrl()}"}}
    assert props["filter"] == {"includedEventTypes": ["Microsoft.MachineLearningServices.RunCompleted",
                                                      "Microsoft.MachineLearningServices.ModelRegistered"],
                               "subjectBeginsWith": "experiments/"}


def test_event_types_are_checked():
    with pytest.raises(ValueError, match="RunFinished.*RunCompleted"):
        wf.eventgrid_trigger(TARGET.workspace_id, event_types=["RunFinished"])


def test_send_email_shape_and_checks():
    a = wf.send_email(to=["a@x.org", "b@x.org"], subject="S", body="<p>B</p>")
    assert a["inputs"]["path"] == "/v2/Mail" and a["inputs"]["method"] == "post"
    assert a["inputs"]["body"] == {"To": "a@x.org;b@x.org", "Subject": "S", "Body": "<p>B</p>", "Importance": "Normal"}
    with pytest.raises(ValueError, match="importance"):
        wf.send_email(to="a@x.org", importance="Urgent")


def test_email_alert_plan_is_deployable_shape():
    plan = wf.email_alert(TARGET, name="alert", event_types=["RunCompleted"], to="team@example.com",
                          condition=wf.all_of(wf.equals("@triggerBody()?['data']?['experimentName']", "churn")),
                          pipeline={"factory": "f", "pipeline": "retrain",
                                    "parameters": {"runId": "@{triggerBody()?['data']?['runId']}"}})
    body = plan.workflow()
    defn.validate(body["properties"]["definition"], body["properties"]["parameters"])
    conns = body["properties"]["parameters"]["$connections"]["value"]
    assert sorted(conns) == ["azuredatafactory", "azureeventgrid", "office365"]
    assert conns["office365"]["connectionId"] == "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Web/connections/office365"
    assert [c["id"].rsplit("/", 1)[-1] for c in plan.connections()] == ["azureeventgrid", "office365", "azuredatafactory"]
    inner = body["properties"]["definition"]["actions"]["Condition"]["actions"]
    assert inner["Create_a_pipeline_run"]["runAfter"] == {"Send_an_email_(V2)": ["Succeeded"]}
    assert json.loads(plan.to_json())["workflow"] == body


def test_without_condition_the_email_is_top_level():
    plan = wf.email_alert(TARGET, name="a", event_types=["RunCompleted"], to="t@x.org")
    assert list(plan.definition["actions"]) == ["Send_an_email_(V2)"]


def test_ml_job_activity_puts_a_job_through_arm():
    act = wf.ml_job_activity("Retrain", workspace_id=TARGET.workspace_id, job_name="@pipeline().RunId",
                             job={"properties": {"jobType": "Command"}})
    assert act["type"] == "WebActivity"
    tp = act["typeProperties"]
    assert tp["method"] == "PUT" and tp["authentication"]["type"] == "MSI"
    assert tp["url"]["type"] == "Expression" and "pipeline().RunId" in tp["url"]["value"]
    plain = wf.ml_job_activity("R", workspace_id=TARGET.workspace_id, job_name="job-1", job={})
    assert plain["typeProperties"]["url"].startswith("https://management.azure.com/subscriptions/sub-1/")
    assert "/jobs/job-1?api-version=" in plain["typeProperties"]["url"]


def test_the_az_definition_file_is_what_az_logic_workflow_create_reads(tmp_path):
    """to_json() is {"connections", "workflow"}: `az logic workflow create --definition` refuses it
    ("does not contain a 'definition' key"). The az file is {"definition", "parameters"}."""
    plan = wf.email_alert(TARGET, name="alert", event_types=["RunCompleted"], to="team@example.com")
    assert "definition" not in json.loads(plan.to_json())
    path = plan.write_az_definition(tmp_path / "workflow.json")
    written = json.loads(path.read_text())
    assert written == plan.az_definition() == {"definition": plan.definition, "parameters": plan.parameters}
    # what the logic extension's logic_workflow_create sends from the file (azext_logic/manual/custom.py)
    sent = {"definition": written["definition"], "parameters": written.get("parameters")}
    assert sent == {k: plan.workflow()["properties"][k] for k in ("definition", "parameters")}
    defn.validate(sent["definition"], sent["parameters"])


def test_az_commands_create_the_connections_first_then_the_workflow():
    plan = wf.email_alert(TARGET, name="alert", event_types=["RunCompleted"], to="team@example.com",
                          pipeline={"factory": "f", "pipeline": "retrain"})
    *connections, create = [shlex.split(c) for c in plan.az_commands("out/wf.json")]
    assert create == ["az", "logic", "workflow", "create", "-g", "rg", "-n", "alert", "-l", "eastus",
                      "--definition", "out/wf.json"]
    assert [c[:3] + c[c.index("-n") + 1:c.index("-n") + 2] for c in connections] == \
        [["az", "resource", "create", api] for api in ("azureeventgrid", "office365", "azuredatafactory")]
    for argv, conn in zip(connections, plan.connections()):
        assert argv[argv.index("--resource-type") + 1] == "Microsoft.Web/connections"
        assert json.loads(argv[argv.index("--properties") + 1]) == conn["properties"]
    ids = {v["connectionId"] for v in plan.az_definition()["parameters"]["$connections"]["value"].values()}
    assert ids == {c["id"] for c in plan.connections()}      # the file points at what the commands create

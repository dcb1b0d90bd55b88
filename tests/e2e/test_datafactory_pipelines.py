"""Data Factory in the sandbox through azure-mgmt-datafactory 9.3.0, and the guide's drift chain:
DatasetDriftDetected -> Logic App "Create a pipeline run" -> Copy + a Web activity submitting an ML job."""

from __future__ import annotations

import json
import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.datafactory import DataFactoryManagementClient
from azure.mgmt.datafactory import models as m

from amlevents_kit import events
from amlevents_kit import workflows as wf
from amlevents_kit.providers import ensure_providers

FACTORY = "amlevents-adf"
WINDOW = m.RunFilterParameters(last_updated_after="2000-01-01T00:00:00Z", last_updated_before="2200-01-01T00:00:00Z")


@pytest.fixture
def adf(target):
    client = target.client(DataFactoryManagementClient)
    rg = target.resource_group
    client.factories.create_or_update(rg, FACTORY, m.Factory(location="eastus", identity=m.FactoryIdentity(type="SystemAssigned")))
    client.linked_services.create_or_update(rg, FACTORY, "localfiles", m.LinkedServiceResource(
        properties=m.FileServerLinkedService(host="lake")))
    ls = m.LinkedServiceReference(type="LinkedServiceReference", reference_name="localfiles")
    for name in ("incoming", "training"):
        client.datasets.create_or_update(rg, FACTORY, name, m.DatasetResource(properties=m.BinaryDataset(
            linked_service_name=ls, location=m.FileServerLocation(folder_path=name))))
    incoming = target.sandbox.folder / "files" / "lake" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "batch-1.csv").write_text("x,y\n1,2\n")
    (incoming / "notes.txt").write_text("not data")
    return client


def _wait(target, run_id: str) -> dict:
    factory = target.sandbox.backends["datafactory"].get_factory(target.subscription_id, target.resource_group, FACTORY)
    return target.sandbox.backends["datafactory"].wait(factory, run_id)


def _copy(name="CopyNewData", **kw):
    return m.CopyActivity(name=name, inputs=[m.DatasetReference(type="DatasetReference", reference_name="incoming")],
                          outputs=[m.DatasetReference(type="DatasetReference", reference_name="training")],
                          source=m.BinarySource(store_settings=m.FileServerReadSettings(wildcard_file_name="*.csv")),
                          sink=m.BinarySink(), **kw)


def test_factory_and_pipeline_crud_answer_200(target, adf):
    rg = target.resource_group
    assert adf.factories.get(rg, FACTORY).provisioning_state == "Succeeded"
    assert [f.name for f in adf.factories.list_by_resource_group(rg)] == [FACTORY]
    p = adf.pipelines.create_or_update(rg, FACTORY, "p1", m.PipelineResource(activities=[_copy()]))
    assert p.name == "p1" and p.activities[0].type == "Copy"
    assert [x.name for x in adf.pipelines.list_by_factory(rg, FACTORY)] == ["p1"]
    adf.pipelines.delete(rg, FACTORY, "p1")
    with pytest.raises(HttpResponseError) as info:
        adf.pipelines.get(rg, FACTORY, "p1")
    assert info.value.status_code == 404


def test_copy_and_wait_follow_the_sandbox_clock(target, adf):
    rg = target.resource_group
    target.sandbox.clock.freeze()
    adf.pipelines.create_or_update(rg, FACTORY, "p2", m.PipelineResource(activities=[
        _copy(), m.WaitActivity(name="Pause", wait_time_in_seconds=600, depends_on=[
            m.ActivityDependency(activity="CopyNewData", dependency_conditions=["Succeeded"])])]))
    run_id = adf.pipelines.create_run(rg, FACTORY, "p2").run_id
    deadline = time.monotonic() + 30   # safety net only: the run waits for sandbox time, not wall time
    while time.monotonic() < deadline:
        acts = adf.activity_runs.query_by_pipeline_run(rg, FACTORY, run_id, WINDOW).value
        if any(a.activity_name == "Pause" for a in acts):
            break
        time.sleep(0.02)
    assert adf.pipeline_runs.get(rg, FACTORY, run_id).status == "InProgress"
    target.sandbox.clock.advance(minutes=10)
    assert _wait(target, run_id)["status"] == "Succeeded"
    acts = {a.activity_name: a for a in adf.activity_runs.query_by_pipeline_run(rg, FACTORY, run_id, WINDOW).value}
    assert acts["CopyNewData"].output["filesWritten"] == 1          # the wildcard kept only *.csv
    assert acts["Pause"].status == "Succeeded"
    assert sorted(p.name for p in (target.sandbox.folder / "files" / "lake" / "training").iterdir()) == ["batch-1.csv"]
    run = adf.pipeline_runs.get(rg, FACTORY, run_id)
    assert run.duration_in_ms >= 600_000


def test_failed_activity_fails_the_run_with_its_error(target, adf):
    rg = target.resource_group
    adf.datasets.create_or_update(rg, FACTORY, "nowhere", m.DatasetResource(properties=m.BinaryDataset(
        linked_service_name=m.LinkedServiceReference(type="LinkedServiceReference", reference_name="localfiles"),
        location=m.FileServerLocation(folder_path="missing"))))
    bad = m.CopyActivity(name="CopyMissing", inputs=[m.DatasetReference(type="DatasetReference", reference_name="nowhere")],
                         outputs=[m.DatasetReference(type="DatasetReference", reference_name="training")],
                         source=m.BinarySource(), sink=m.BinarySink())
    adf.pipelines.create_or_update(rg, FACTORY, "p3", m.PipelineResource(activities=[bad]))
    run_id = adf.pipelines.create_run(rg, FACTORY, "p3").run_id
    assert _wait(target, run_id)["status"] == "Failed"
    (act,) = adf.activity_runs.query_by_pipeline_run(rg, FACTORY, run_id, WINDOW).value
    assert act.status == "Failed" and "does not exist" in act.error["message"]
    failed = adf.pipeline_runs.query_by_factory(rg, FACTORY, m.RunFilterParameters(
        last_updated_after=WINDOW.last_updated_after, last_updated_before=WINDOW.last_updated_before,
        filters=[m.RunQueryFilter(operand="Status", operator="Equals", values=["Failed"])])).value
    assert [r.run_id for r in failed] == [run_id]


def test_create_run_checks_parameters(target, adf):
    rg = target.resource_group
    adf.pipelines.create_or_update(rg, FACTORY, "p4", m.PipelineResource(
        parameters={"reason": m.ParameterSpecification(type="String")}, activities=[_copy()]))
    with pytest.raises(HttpResponseError, match="'?reason'? have no default"):
        adf.pipelines.create_run(rg, FACTORY, "p4")
    with pytest.raises(HttpResponseError, match="typo"):
        adf.pipelines.create_run(rg, FACTORY, "p4", parameters={"reason": "x", "typo": 1})


def test_v1_ml_activity_is_refused_with_the_alternative(target, adf):
    with pytest.raises(HttpResponseError) as info:
        adf.pipelines.create_or_update(target.resource_group, FACTORY, "v1", m.PipelineResource(
            activities=[m.AzureMLExecutePipelineActivity(name="RunPublished", ml_pipeline_id="abc")]))
    assert info.value.status_code == 400
    assert "AzureMLExecutePipeline" in info.value.message and "Web activity" in info.value.message
    assert "properties.activities[0].type" in info.value.message


def test_drift_event_starts_the_pipeline_that_submits_an_ml_job(target, adf):
    ensure_providers(target, quiet=True)
    rg = target.resource_group
    job = {"properties": {"jobType": "Command", "command": "python -c \"print('retrain')\"",
                          "environmentId": "azureml:sklearn-env:1", "experimentName": "retraining",
                          "computeId": "local", "tags": {"reason": "drift"}}}
    submit = wf.ml_job_activity("SubmitRetraining", workspace_id=target.workspace_id,
                                job_name="@concat('retrain-', pipeline().parameters.driftRunId)", job=job,
                                depends_on=[{"activity": "CopyNewData", "dependencyConditions": ["Succeeded"]}])
    pipeline = {"properties": {"parameters": {"driftRunId": {"type": "String"}},
                               "activities": [json.loads(json.dumps(_copy().serialize())), submit]}}
    adf.pipelines.create_or_update(rg, FACTORY, "retrain", pipeline)
    trigger = wf.eventgrid_trigger(target.workspace_id, event_types=["DatasetDriftDetected"])
    plan = wf.WorkflowPlan(name="drift-retrain", resource_group=rg, subscription_id=target.subscription_id,
                           location=target.location, apis=["azureeventgrid", "azuredatafactory"],
                           definition=wf.definition(trigger, {"Create_a_pipeline_run": wf.create_pipeline_run(
                               subscription_id=target.subscription_id, resource_group=rg, factory=FACTORY,
                               pipeline="retrain", parameters={"driftRunId": "@{triggerBody()?['data']?['runId']}"})}))
    plan.deploy(target)
    drift = events.dataset_drift_detected(topic=target.workspace_id, data_drift_id="dd1", data_drift_name="monitor",
                                          run_id="drift-run-7", base_dataset_id="b", target_dataset_id="t",
                                          drift_coefficient=0.83)
    target.sandbox.publish([drift])
    target.sandbox.service("delivery").pump()
    (run,) = wf.run_history(target, "drift-retrain")
    action = run.action("Create_a_pipeline_run")
    assert run.status == "Succeeded" and action.outputs["statusCode"] == 200
    run_id = action.outputs["body"]["runId"]
    done = _wait(target, run_id)
    assert done["status"] == "Succeeded", done["message"]
    assert done["parameters"] == {"driftRunId": "drift-run-7"}
    acts = {a.activity_name: a for a in adf.activity_runs.query_by_pipeline_run(rg, FACTORY, run_id, WINDOW).value}
    assert acts["SubmitRetraining"].status == "Succeeded"
    assert acts["SubmitRetraining"].output["name"] == "retrain-drift-run-7"
    status, _, body = target.sandbox.handle(
        "GET", f"https://management.azure.com{target.workspace_id}/jobs/retrain-drift-run-7?api-version=2024-04-01", {}, b"")
    assert status == 200 and json.loads(body)["properties"]["tags"]["reason"] == "drift"


def _job(command: str) -> dict:
    return {"properties": {"jobType": "Command", "command": command, "environmentId": "azureml:sklearn-env:1",
                           "experimentName": "retraining", "computeId": "local"}}


@pytest.mark.parametrize("command, status, message", [
    ("python -c \"print('trained')\"", "Succeeded", ""),
    ("python -c \"import sys; sys.exit(3)\"", "Failed", "The Azure ML job ended Failed"),
])
def test_pipeline_waits_for_the_ml_job_and_fails_with_it(target, adf, command, status, message):
    ensure_providers(target, quiet=True)
    rg = target.resource_group
    steps = wf.ml_job_steps("Train", workspace_id=target.workspace_id, job_name="@concat('train-', pipeline().RunId)",
                            job=_job(command), poll_seconds=1)
    adf.pipelines.create_or_update(rg, FACTORY, "train", {"properties": {"activities": steps}})
    run_id = adf.pipelines.create_run(rg, FACTORY, "train").run_id
    done = _wait(target, run_id)
    assert done["status"] == status and message in done["message"]
    job = target.ml_client().jobs.get(f"train-{run_id}")
    assert job.status == ("Completed" if status == "Succeeded" else "Failed")
    names = [a.activity_name for a in adf.activity_runs.query_by_pipeline_run(rg, FACTORY, run_id, WINDOW).value]
    assert names[0] == "TrainSubmit" and "TrainGetJob" in names and "TrainCheckJob" in names
    assert ("TrainJobDidNotComplete" in names) == (status == "Failed")


def test_until_times_out_in_sandbox_time(target, adf):
    rg = target.resource_group
    target.sandbox.clock.freeze()
    adf.pipelines.create_or_update(rg, FACTORY, "forever", {"properties": {"activities": [
        {"name": "Loop", "type": "Until", "typeProperties": {
            "expression": {"value": "@equals(1, 2)", "type": "Expression"}, "timeout": "0.00:00:30",
            "activities": [{"name": "Tick", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 10}}]}}]}})
    run_id = adf.pipelines.create_run(rg, FACTORY, "forever").run_id
    for i in range(3):           # each advance lets one Wait of the loop end
        deadline = time.monotonic() + 30   # safety net only
        while time.monotonic() < deadline:
            ticks = [a for a in adf.activity_runs.query_by_pipeline_run(rg, FACTORY, run_id, WINDOW).value
                     if a.activity_name == "Tick"]
            if len(ticks) == i + 1 and ticks[-1].status == "InProgress":
                break
            time.sleep(0.01)
        target.sandbox.clock.advance(seconds=10)
    done = _wait(target, run_id)
    assert done["status"] == "Failed" and "timed out after 0.00:00:30 (3 iterations)" in done["message"]


@pytest.mark.parametrize("activities, fragment", [
    ([{"name": "L", "type": "Until", "typeProperties": {"activities": [
        {"name": "W", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]}}],
     "properties.activities[0].typeProperties.expression"),
    ([{"name": "L", "type": "Until", "typeProperties": {"expression": {"value": "@true", "type": "Expression"},
                                                          "activities": [{"name": "X", "type": "Lookup"}]}}],
     "properties.activities[0].typeProperties.activities[0].type"),
    ([{"name": "A", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}},
      {"name": "I", "type": "IfCondition", "typeProperties": {"expression": {"value": "@true", "type": "Expression"},
                                                               "ifTrueActivities": [{"name": "A", "type": "Fail", "typeProperties": {"message": "m", "errorCode": "e"}}]}}],
     "also used at 'properties.activities[0]'"),
    ([{"name": "L", "type": "Until", "typeProperties": {"expression": {"value": "@true", "type": "Expression"},
                                                          "timeout": "ten minutes",
                                                          "activities": [{"name": "W", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]}}],
     "days.hours:minutes:seconds"),
])
def test_control_activities_are_checked_at_create(target, adf, activities, fragment):
    with pytest.raises(HttpResponseError) as info:
        adf.pipelines.create_or_update(target.resource_group, FACTORY, "bad", {"properties": {"activities": activities}})
    assert info.value.status_code == 400 and fragment in info.value.message

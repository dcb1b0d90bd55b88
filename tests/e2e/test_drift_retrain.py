"""Drift -> DatasetDriftDetected -> Logic App -> Data Factory pipeline run -> Azure ML job -> new model version,
and the direct v2 path (a webhook handler submitting the job with azure-ai-ml), all through the real SDK clients."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.mgmt.datafactory import DataFactoryManagementClient
from azure.mgmt.datafactory import models as m
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import EventSubscription, EventSubscriptionFilter, WebHookEventSubscriptionDestination

from amlevents_kit import events, retrain
from amlevents_kit import workflows as wf
from amlevents_kit.drift import DriftMonitor
from amlevents_kit.mailbox import open_mailbox
from amlevents_kit.providers import ensure_providers
from amlevents_kit.receiver import Receiver

CODE = Path(__file__).resolve().parents[2] / "notebooks" / "jobs" / "retrain"
FACTORY = "drift-adf"
BASE = retrain.sample_batch(2000)
NEW = retrain.sample_batch(2000, shifted=True)


@pytest.fixture
def drifted(target):
    """Providers registered, the new batch on the datastore, and a monitor on the workspace."""
    ensure_providers(target, quiet=True)
    uri = retrain.upload_data(target, NEW, "drift/batches/2026-11.csv")
    monitor = DriftMonitor(target, "churn-drift", baseline=BASE.drop(columns=["label"]))
    return uri, monitor


def test_drift_event_runs_the_guide_chain_to_a_new_model_version(target, drifted):
    uri, monitor = drifted
    rg = target.resource_group
    adf = target.client(DataFactoryManagementClient)
    adf.factories.create_or_update(rg, FACTORY, m.Factory(location=target.location,
                                                          identity=m.FactoryIdentity(type="SystemAssigned")))
    code_id = retrain.upload_code(target, CODE, name="churn-retrain")
    adf.pipelines.create_or_update(rg, FACTORY, "retrain-churn", retrain.retraining_pipeline(
        target, code_id=code_id, model_name="churn", tags={"stage": "production", "ncd": "true"}))
    plan = wf.email_alert(target, name="drift-retrain", event_types=["DatasetDriftDetected"],
                          to="ml-team@example.com",
                          pipeline={"factory": FACTORY, "pipeline": "retrain-churn", "parameters": {
                              "driftRunId": "@{triggerBody()?['data']?['runId']}",
                              "targetDatasetId": "@{triggerBody()?['data']?['targetDatasetId']}"}})
    plan.deploy(target)

    run = monitor.run(NEW.drop(columns=["label"]), target_dataset_id=uri, run_id="drift-2026-11")
    assert run.drifted and run.event is not None
    target.sandbox.service("delivery").pump()

    (la_run,) = wf.run_history(target, "drift-retrain")
    assert la_run.status == "Succeeded", str(la_run)
    assert la_run.trigger_body["id"] == run.event["id"]
    (mail,) = open_mailbox(target).messages(to="ml-team@example.com")
    assert "DatasetDriftDetected" in mail.subject
    pipeline_run_id = la_run.action("Create_a_pipeline_run").outputs["body"]["runId"]
    backend = target.sandbox.backends["datafactory"]
    done = backend.wait(backend.get_factory(target.subscription_id, rg, FACTORY), pipeline_run_id)
    assert done["status"] == "Succeeded", done["message"]
    assert done["parameters"] == {"driftRunId": "drift-2026-11", "targetDatasetId": uri}

    job = retrain.wait_for_job(target, "retrain-drift-2026-11")
    assert job.status == "Completed", job
    assert job.tags["driftRunId"] == "drift-2026-11" and job.inputs["data"].path == uri
    (model,) = target.ml_client().models.list("churn")
    assert model.version == "1"
    assert model.tags["stage"] == "production" and model.tags["ncd"] == "true"
    assert model.tags["trained-by"] == "retrain-drift-2026-11" and model.tags["training-rows"] == "2000"
    registered = target.sandbox.backends["machinelearningservices"].events(events.MODEL_REGISTERED)
    assert [(e["data"]["modelName"], e["data"]["modelTags"]["stage"]) for e in registered] == [("churn", "production")]


def test_direct_v2_handler_submits_the_job_once_per_drift_run(target, drifted):
    uri, monitor = drifted
    handler = retrain.RetrainOnDrift(target, code=CODE, model_name="churn-v2", tags={"stage": "staging"})
    eg = target.client(EventGridManagementClient)
    with Receiver() as receiver:
        receiver.on(events.DATASET_DRIFT_DETECTED)(handler)
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, "retrain-v2", EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
            filter=EventSubscriptionFilter(included_event_types=[events.DATASET_DRIFT_DETECTED]))).result()
        run = monitor.run(NEW.drop(columns=["label"]), target_dataset_id=uri, run_id="drift-v2-1")
        target.sandbox.service("delivery").pump()
        assert receiver.wait_for(1)
        (outcome,) = handler.outcomes
        assert outcome.action == "submitted" and outcome.job == "retrain-drift-v2-1"
        # Event Grid delivers at least once: the same event again finds the job and submits nothing.
        again = handler(receiver.received[0])
        assert again.action == "already submitted" and again.job == outcome.job
    job = retrain.wait_for_job(target, "retrain-drift-v2-1")
    assert job.status == "Completed"
    (model,) = target.ml_client().models.list("churn-v2")
    assert model.tags["stage"] == "staging" and model.tags["trained-by"] == "retrain-drift-v2-1"
    assert run.event["data"]["targetDatasetId"] == uri


def test_handler_checks_topic_type_and_coefficient(target):
    handler = retrain.RetrainOnDrift(target, code=CODE, model_name="churn", min_coefficient=0.5)
    stranger = events.dataset_drift_detected(
        topic=target.workspace_id.replace("amlevents-ws", "other-ws"), data_drift_id="d", data_drift_name="n",
        run_id="r", base_dataset_id="b", target_dataset_id="t", drift_coefficient=0.9)
    assert handler(stranger).action == "skipped" and "not a trusted topic" in handler.outcomes[-1].reason
    weak = events.dataset_drift_detected(topic=target.workspace_id, data_drift_id="d", data_drift_name="n",
                                         run_id="r", base_dataset_id="b", target_dataset_id="t",
                                         drift_coefficient=0.1)
    assert "driftCoefficient 0.100 < 0.5" in handler(weak).reason
    other = events.model_registered(topic=target.workspace_id, model_name="x", model_version="1")
    assert handler(other).reason.endswith("is not DatasetDriftDetected")
    assert target.sandbox.backends["machinelearningservices"].jobs.list() == []

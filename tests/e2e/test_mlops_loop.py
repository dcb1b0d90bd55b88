"""The capstone loop end to end through the real SDK clients, and the timeline that reads it back:
drift -> alert email + retraining pipeline -> job -> tagged model version -> deploy by tags -> ModelDeployed email."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from azure.mgmt.datafactory import DataFactoryManagementClient
from azure.mgmt.datafactory import models as m
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import EventSubscription, EventSubscriptionFilter, WebHookEventSubscriptionDestination

from amlevents_kit import events, retrain, timeline
from amlevents_kit import workflows as wf
from amlevents_kit.deploy import DeploymentRule, TagDeployer
from amlevents_kit.drift import DriftMonitor
from amlevents_kit.mailbox import open_mailbox
from amlevents_kit.providers import ensure_providers
from amlevents_kit.receiver import Receiver

CODE = Path(__file__).resolve().parents[2] / "notebooks" / "jobs" / "retrain"
ONCALL = "oncall@example.com"


def test_drift_to_deployed_model_with_its_timeline(target):
    ensure_providers(target, quiet=True)
    start = target.sandbox.clock.utcnow()
    rg = target.resource_group
    base, new = retrain.sample_batch(2000), retrain.sample_batch(2000, shifted=True)
    features = [c for c in base.columns if c != "label"]
    monitor = DriftMonitor(target, "loop-drift", baseline=base[features])
    uri = retrain.upload_data(target, new, "loop/2026-11.csv")
    adf = target.client(DataFactoryManagementClient)
    adf.factories.create_or_update(rg, "loop-adf", m.Factory(location=target.location))
    adf.pipelines.create_or_update(rg, "loop-adf", "retrain", retrain.retraining_pipeline(
        target, code_id=retrain.upload_code(target, CODE, name="loop-code"), model_name="loop-churn",
        tags={"stage": "production", "ncd": "true"}))
    wf.email_alert(target, name="loop-drift", event_types=["DatasetDriftDetected"], to=ONCALL,
                   subject_begins_with=f"datadrift/{monitor.id}/",
                   pipeline={"factory": "loop-adf", "pipeline": "retrain", "parameters": {
                       "driftRunId": "@{triggerBody()?['data']?['runId']}",
                       "targetDatasetId": "@{triggerBody()?['data']?['targetDatasetId']}"}}).deploy(target)
    wf.email_alert(target, name="loop-deployed", event_types=["ModelDeployed"], to=ONCALL,
                   subject_begins_with="endpoints/loop-ep",
                   subject="Live: @{triggerBody()?['data']?['modelIds']}").deploy(target)
    ml = target.ml_client()
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true", "stage": "production"},
                          endpoint="loop-ep")
    deployer = TagDeployer(rule, ml)
    eg = target.client(EventGridManagementClient)
    with Receiver() as receiver:
        receiver.on(events.MODEL_REGISTERED)(deployer)
        eg.event_subscriptions.begin_create_or_update(target.workspace_id, "loop-deploy",
                                                      rule.to_event_subscription(receiver.url)).result()
        run = monitor.run(new[features], target_dataset_id=uri, run_id="loop-run-1")
        box = open_mailbox(target)
        # the handler records its outcome after routing traffic, just after ModelDeployed: wait for both
        target.wait_for(lambda: deployer.outcomes and [x for x in box.messages(to=ONCALL)
                                                       if x.subject.startswith("Live:")])
    assert [x.subject for x in box.messages(to=ONCALL)] == [
        "AML Microsoft.MachineLearningServices.DatasetDriftDetected on "
        f"datadrift/{monitor.id}/run/loop-run-1", "Live: loop-churn:1"]
    (outcome,) = deployer.outcomes
    assert outcome.action == "deployed" and outcome.model == "loop-churn:1"
    assert ml.online_endpoints.get("loop-ep").traffic == {outcome.deployment: 100}

    tl = timeline.collect(target, since=start, event_types=["DatasetDriftDetected", "ModelRegistered", "ModelDeployed"],
                          subject_prefixes=[f"datadrift/{monitor.id}/", "models/loop-churn:", "endpoints/loop-ep"],
                          subscriptions=["LogicApp-loop-", "loop-"], workflows=["loop-drift", "loop-deployed"],
                          factories=["loop-adf"], experiments=["drift-retraining"], models=["loop-churn"],
                          endpoints=["loop-ep"], mail_to=ONCALL)
    assert tl.sources() == list(timeline.SOURCES)
    steps = [(e.source, e.what) for e in tl]
    assert steps[0] == ("event", f"DatasetDriftDetected datadrift/{monitor.id}/run/loop-run-1")
    assert steps[-1] == ("mail", f"to {ONCALL}: Live: loop-churn:1")
    order = [("event", "DatasetDriftDetected"), ("delivery", "DatasetDriftDetected -> logicapp-loop-drift"),
             ("logic app", "loop-drift run Succeeded"), ("mail", "DatasetDriftDetected"),
             ("pipeline", "loop-adf/retrain run Succeeded"), ("job", "job retrain-loop-run-1 submitted"),
             ("model", "model loop-churn:1 registered"), ("event", "ModelRegistered models/loop-churn:1"),
             ("delivery", "ModelRegistered -> loop-deploy: 200 Delivered"),
             ("deployment", f"deployment loop-ep/{outcome.deployment} created"),
             ("event", "ModelDeployed endpoints/loop-ep"), ("logic app", "loop-deployed run Succeeded"),
             ("mail", "Live: loop-churn:1")]
    positions = [next(i for i, (s, w) in enumerate(steps) if s == src and text in w) for src, text in order]
    assert positions == sorted(positions), steps
    assert tl.first("model").detail == "ncd=true, stage=production, trained-by=retrain-loop-run-1, training-rows=2000"
    table = tl.table()
    assert list(table.columns) == ["time", "t+ (s)", "source", "what", "detail"] and len(table) == len(tl)
    assert table["t+ (s)"].is_monotonic_increasing and table["t+ (s)"].iloc[0] == 0
    assert tl.text().splitlines()[0].startswith(" 1. event      DatasetDriftDetected")
    fig = tl.plot()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(timeline.SOURCES)
    later = timeline.collect(target, since=datetime.now(timezone.utc) + timedelta(days=1), workflows=["loop-drift"])
    assert len(later) == 0                                   # `since` cuts everything before it
    assert run.event["data"]["targetDatasetId"] == uri


def test_timeline_of_deliveries_keeps_retries_and_only_the_named_subscriptions(target):
    ensure_providers(target, quiet=True)
    eg = target.client(EventGridManagementClient)
    with Receiver() as ours, Receiver() as theirs:
        for name, receiver in (("ours", ours), ("theirs", theirs)):
            eg.event_subscriptions.begin_create_or_update(target.workspace_id, name, EventSubscription(
                destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
                filter=EventSubscriptionFilter(included_event_types=[events.MODEL_REGISTERED]))).result()
        ours.fail_with(503, times=1)
        target.sandbox.clock.freeze()
        target.sandbox.publish([events.model_registered(topic=target.workspace_id, model_name="m", model_version="1",
                                                        time=target.sandbox.clock.utcnow())])
        delivery = target.sandbox.service("delivery")
        delivery.pump()
        target.sandbox.clock.advance(seconds=30)            # Azure retries after 10 s, then 30 s ...
        delivery.pump()
        tl = timeline.collect(target, event_types=["ModelRegistered"], subscriptions=["ours"])
    assert [(e.source, e.what, e.detail) for e in tl] == [
        ("event", "ModelRegistered models/m:1", tl.entries[0].detail),
        ("delivery", "ModelRegistered -> ours: 503 Busy", "attempt 1"),
        ("delivery", "ModelRegistered -> ours: 200 Delivered", "attempt 2")]
    assert tl.table()["t+ (s)"].tolist()[-1] == 30.0
    assert len(timeline.collect(target, event_types=["ModelDeployed"])) == 0


def test_timeline_orders_ties_by_cause_and_reads_azure_times():
    t = timeline._when("2026-11-25T20:00:00.1234567Z")       # Azure writes 7 fractional digits
    assert t == datetime(2026, 11, 25, 20, 0, 0, 123456, tzinfo=timezone.utc)
    assert timeline._when(datetime(2026, 1, 1)).tzinfo is timezone.utc and timeline._when(None) is None
    same = t
    tl = timeline.Timeline([timeline.Entry(same, "mail", "m"), timeline.Entry(same, "delivery", "d"),
                            timeline.Entry(same, "event", "e"), timeline.Entry(same - timedelta(seconds=1), "job", "j")])
    assert [e.what for e in tl] == ["j", "e", "d", "m"]       # an event before its delivery before its mail
    assert tl.text(times=True).splitlines()[1] == " 2. t+   1.00s  event      e"
    assert len(timeline.Timeline([]).table()) == 0 and timeline.Timeline([]).plot().axes[0].get_title() == "nothing happened"

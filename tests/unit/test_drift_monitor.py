"""The drift monitor (event bridge): exact DatasetDriftDetected fields, sandbox and custom-topic publishing."""

from __future__ import annotations

import uuid

import pytest
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import EventSubscription, EventSubscriptionFilter, WebHookEventSubscriptionDestination

from amlevents_kit import events
from amlevents_kit.drift import DriftError, DriftMonitor, DriftWarning, create_drift_topic, profile
from amlevents_kit.providers import ensure_providers
from amlevents_kit.receiver import Receiver
from amlevents_kit.retrain import sample_batch
from amlevents_kit.target import AzureTarget

FIELDS = {"dataDriftId", "dataDriftName", "runId", "baseDatasetId", "targetDatasetId", "driftCoefficient",
          "startTime", "endTime"}
BASE = sample_batch(2000, random_state=1).drop(columns=["label"])
SHIFTED = sample_batch(2000, shifted=True, random_state=2).drop(columns=["label"])
SAME = sample_batch(2000, random_state=3).drop(columns=["label"])


def _ml_events(target):
    return target.sandbox.backends["machinelearningservices"].events(events.DATASET_DRIFT_DETECTED)


def test_drifted_run_raises_the_event_on_the_workspace_topic_with_exact_fields(target):
    ensure_providers(target, quiet=True)
    monitor = DriftMonitor(target, "churn-drift", baseline=BASE, base_dataset_id="training-2026-10")
    run = monitor.run(SHIFTED, target_dataset_id="batch-2026-11", run_id="drift-run-1",
                      start_time="2026-11-01T00:00:00+00:00", end_time="2026-12-01T00:00:00+00:00")
    assert run.drifted and set(run.result.drifted_features) >= {"monthly_charges", "support_calls", "plan"}
    (raised,) = _ml_events(target)
    assert raised == run.event
    assert raised["topic"] == target.workspace_id
    assert raised["eventType"] == "Microsoft.MachineLearningServices.DatasetDriftDetected"
    assert raised["subject"] == f"datadrift/{monitor.id}/run/drift-run-1"
    data = raised["data"]
    assert set(data) == FIELDS
    assert data["dataDriftId"] == monitor.id and uuid.UUID(monitor.id)
    assert (data["dataDriftName"], data["runId"]) == ("churn-drift", "drift-run-1")
    assert (data["baseDatasetId"], data["targetDatasetId"]) == ("training-2026-10", "batch-2026-11")
    assert data["driftCoefficient"] == pytest.approx(run.result.drift_coefficient) and data["driftCoefficient"] > 0.2
    assert data["startTime"] == "2026-11-01T00:00:00+00:00" and data["endTime"] == "2026-12-01T00:00:00+00:00"
    parsed = events.parse_event(raised)   # the kit's own reader agrees with the fields
    assert parsed.data.drift_coefficient == data["driftCoefficient"]
    assert raised["eventTime"].startswith(target.sandbox.clock.isoformat()[:16])


def test_no_drift_raises_nothing_unless_always(target):
    quiet = DriftMonitor(target, "quiet", baseline=profile(BASE))
    run = quiet.run(SAME, target_dataset_id="same")
    assert not run.drifted and run.event is None and run.published_to is None
    assert set(run.data) == FIELDS                      # the data is still computed, just not raised
    loud = DriftMonitor(target, "loud", baseline=BASE, when="always")
    assert loud.run(SAME, target_dataset_id="same").event is not None
    assert [e["data"]["dataDriftName"] for e in _ml_events(target)] == ["loud"]


def test_ids_are_stable_per_name_and_workspace(target):
    a, b = DriftMonitor(target, "m", baseline=BASE), DriftMonitor(target, "m", baseline=BASE)
    assert a.id == b.id != DriftMonitor(target, "other", baseline=BASE).id
    run1, run2 = a.run(SHIFTED, target_dataset_id="t"), a.run(SHIFTED, target_dataset_id="t")
    assert run1.run_id != run2.run_id and run1.run_id.startswith("m_")


def test_rule_threshold_and_features_are_passed_to_detect(target):
    only_age = DriftMonitor(target, "age-only", baseline=BASE, features=["age"])
    run = only_age.run(SHIFTED, target_dataset_id="t")
    assert list(run.result.table["feature"]) == ["age"] and not run.drifted
    lenient = DriftMonitor(target, "lenient", baseline=BASE, threshold=5.0)
    assert not lenient.run(SHIFTED, target_dataset_id="t").drifted
    by_coefficient = DriftMonitor(target, "coef", baseline=BASE, rule="coefficient", coefficient_threshold=0.99)
    assert not by_coefficient.run(SHIFTED, target_dataset_id="t").drifted


def test_bad_arguments_name_the_field(target):
    with pytest.raises(DriftError, match="when must be one of"):
        DriftMonitor(target, "m", baseline=BASE, when="sometimes")
    with pytest.raises(DriftError, match="features must name baseline columns.*'nope'"):
        DriftMonitor(target, "m", baseline=BASE, features=["nope"])
    with pytest.raises(DriftError, match="name must be a non-empty string"):
        DriftMonitor(target, "", baseline=BASE)
    with pytest.raises(DriftError, match="baseline must be a Profile or a DataFrame"):
        DriftMonitor(target, "m", baseline=[1, 2])
    with pytest.raises(DriftError, match="target_dataset_id must be a non-empty string"):
        DriftMonitor(target, "m", baseline=BASE).run(SHIFTED, target_dataset_id="")
    with pytest.raises(DriftError, match="target lacks baseline columns"):
        DriftMonitor(target, "m", baseline=BASE).run(SHIFTED.drop(columns=["plan"]), target_dataset_id="t")


def test_a_monitor_refuses_a_batch_of_fewer_than_50_rows(target):
    ensure_providers(target, quiet=True)
    monitor = DriftMonitor(target, "small-batch", baseline=BASE)
    with pytest.warns(DriftWarning, match="the target has 10 rows"), \
            pytest.raises(DriftError, match="needs at least 50 rows on each side, as Azure ML v1 monitors did"):
        monitor.run(SHIFTED.iloc[:10], target_dataset_id="t")
    assert monitor.runs == [] and _ml_events(target) == []          # no run recorded, no event raised


def test_an_azure_target_needs_a_custom_topic():
    # No Azure call is made: the monitor refuses before publishing anything, and says why.
    azure = AzureTarget(kind="azure", credential=None, subscription_id="00000000-0000-0000-0000-000000000000",
                        resource_group="rg", workspace_name="ws")
    with pytest.raises(DriftError, match="v2 raises no drift event and v1 dataset monitors are retired"):
        DriftMonitor(azure, "m", baseline=BASE)


def test_custom_topic_path_publishes_with_eventgridpublisherclient_over_https(target):
    """The Azure path, tested on the sandbox: a custom topic served over loopback HTTPS with a key.

    EventGridPublisherClient sends the same request (POST {endpoint}?api-version=2018-01-01, aeg-sas-key)
    that it sends to Azure; only the endpoint and the CA differ."""
    ensure_providers(target, quiet=True)
    topic = create_drift_topic(target, "drift-events")
    assert topic.endpoint.startswith("https://127.0.0.1:") and topic.key
    eg = target.client(EventGridManagementClient)
    with Receiver() as receiver:
        eg.event_subscriptions.begin_create_or_update(topic.id, "retrain", EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
            filter=EventSubscriptionFilter(included_event_types=[events.DATASET_DRIFT_DETECTED]))).result()
        monitor = DriftMonitor(target, "churn-drift", baseline=BASE, topic=topic)
        run = monitor.run(SHIFTED, target_dataset_id="batch-7", run_id="r7")
        target.sandbox.service("delivery").pump()
        assert receiver.wait_for(1)
        (got,) = receiver.received
    assert run.published_to == topic.id and run.event["topic"] == topic.id
    assert got.topic == topic.id and got.type == events.DATASET_DRIFT_DETECTED
    assert got.subject == f"datadrift/{monitor.id}/run/r7" and got.id == run.event["id"]
    assert got.data.target_dataset_id == "batch-7"
    assert got.data.drift_coefficient == pytest.approx(run.data["driftCoefficient"])
    assert _ml_events(target) == []                      # not raised on the workspace topic

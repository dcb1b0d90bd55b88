"""Events: samples equal Azure's published payloads, every fixture parses, builders and errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, SystemEventNames

from amlevents_kit import events as ev
from amlevents_kit.events.models import DATA_CLASSES

EVENTS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "events"
needs_fixtures = pytest.mark.skipif(not EVENTS_DIR.exists(), reason="../shared fixtures are not beside the checkout")
WS = ev.workspace_topic("00000000-0000-0000-0000-000000000000", "rg", "ws")

SDK_NAMES = {
    ev.MODEL_REGISTERED: "MachineLearningServices_ModelRegistered",
    ev.MODEL_DEPLOYED: "MachineLearningServices_ModelDeployed",
    ev.RUN_COMPLETED: "MachineLearningServices_RunCompleted",
    ev.RUN_STATUS_CHANGED: "MachineLearningServices_RunStatusChanged",
    ev.DATASET_DRIFT_DETECTED: "MachineLearningServices_DatasetDriftDetected",
    ev.SUBSCRIPTION_VALIDATION: "EventGrid_SubscriptionValidationEvent",
    ev.SUBSCRIPTION_DELETED: "EventGrid_SubscriptionDeletedEvent",
}
PREFIX = {ev.EVENTGRID_SCHEMA: "eventgridschema", ev.CLOUDEVENT_SCHEMA: "cloudevent"}


def _load(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data[0] if isinstance(data, list) else data


def _fix_sdk_test_quirks(event: dict, schema: str) -> dict:
    """Undo the typos of the SDK tests that fixtures/SOURCES.md lists ('Quirks in the tests')."""
    data = dict(event["data"])
    if "tarAsSystemEventDatasetId" in data:
        data["targetDatasetId"] = data.pop("tarAsSystemEventDatasetId")
    if "RunTags" in data:
        data["runTags"] = data.pop("RunTags")
    event = dict(event, data=data)
    if schema == ev.CLOUDEVENT_SCHEMA and event["type"] == ev.MODEL_REGISTERED and "subject" not in event:
        # The test repeats "source"; the second value is the subject, the first the workspace.
        eg = _load(EVENTS_DIR / "sdk-net-tests" / f"eventgridschema_{SDK_NAMES[ev.MODEL_REGISTERED]}.json")
        event["subject"], event["source"] = event["source"], eg["topic"]
    return event


@needs_fixtures
@pytest.mark.parametrize("schema", [ev.EVENTGRID_SCHEMA, ev.CLOUDEVENT_SCHEMA])
@pytest.mark.parametrize("event_type", list(SDK_NAMES))
def test_sample_equals_the_sdk_test_payload(event_type, schema):
    published = _load(EVENTS_DIR / "sdk-net-tests" / f"{PREFIX[schema]}_{SDK_NAMES[event_type]}.json")
    assert ev.sample_event(event_type, schema=schema) == _fix_sdk_test_quirks(published, schema)


def _docs_fixtures():
    if not EVENTS_DIR.exists():
        return []
    return sorted((EVENTS_DIR / "machinelearningservices").rglob("*.json"))


@needs_fixtures
@pytest.mark.parametrize("path", _docs_fixtures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_has_the_shape_of_the_docs_example(path):
    published = _load(path)
    published.pop("operationId", None), published.pop("title", None)  # example metadata, not event fields
    schema = ev.CLOUDEVENT_SCHEMA if "source" in published else ev.EVENTGRID_SCHEMA
    event_type = published.get("eventType") or published["type"]
    sample = ev.sample_event(event_type, schema=schema)
    assert {k.lower() for k in sample} == {k.lower() for k in published}
    assert {k.lower() for k in sample["data"]} == {k.lower() for k in published["data"]}


def _all_fixtures():
    return sorted(EVENTS_DIR.rglob("*.json")) if EVENTS_DIR.exists() else []


@needs_fixtures
@pytest.mark.parametrize("path", _all_fixtures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_parses_to_the_typed_event(path):
    (event,) = ev.parse_events(path.read_bytes())
    raw = _load(path)
    assert type(event.data) is DATA_CLASSES[event.type]
    assert event.time is not None and event.time.tzinfo is not None
    lower = {k.lower(): v for k, v in raw["data"].items()}
    for f in event.data.fields():
        if f.metadata["key"].lower() in lower:
            got = getattr(event.data, f.name)
            want = lower[f.metadata["key"].lower()]
            assert got == (str(want) if f.metadata["kind"] == "version" else want)
    assert event.topic == (raw.get("topic") or raw.get("source"))


@needs_fixtures
def test_docs_quirks_are_read():
    (docs,) = ev.parse_events((EVENTS_DIR / "machinelearningservices/2018-01-01/event-grid-schema/model_registered.json").read_bytes())
    assert docs.data.model_name == "sklearn_regression_model" and docs.data.model_version == "20"
    assert docs.data_version == "" and docs.schema == ev.EVENTGRID_SCHEMA
    (tags,) = ev.parse_events((EVENTS_DIR / "sdk-net-tests/eventgridschema_MachineLearningServices_RunCompleted.json").read_text())
    assert tags.data.run_tags == {"experiment_status": "ModelSelection", "experiment_status_descr": "Beginning model selection."}
    drift_path = EVENTS_DIR / "sdk-net-tests/cloudevent_MachineLearningServices_DatasetDriftDetected.json"
    (drift,) = ev.parse_events(drift_path.read_bytes())
    assert drift.data.target_dataset_id is None and "tarAsSystemEventDatasetId" in drift.data.extra
    with pytest.raises(ev.EventValidationError) as info:
        ev.validate_event(_load(drift_path))
    assert info.value.path == "data.targetDatasetId"


def test_subjects_follow_the_aml_formats():
    assert ev.model_registered(topic=WS, model_name="churn", model_version=3)["subject"] == "models/churn:3"
    assert ev.model_deployed(topic=WS, service_name="svc", model_ids=["a:1", "b:2"])["subject"] == "endpoints/svc"
    run = ev.run_completed(topic=WS, experiment_id="e1", experiment_name="n", run_id="r1")
    assert run["subject"] == "experiments/e1/runs/r1"
    drift = ev.dataset_drift_detected(topic=WS, data_drift_id="d1", data_drift_name="mon", run_id="r9",
                                      base_dataset_id="b", target_dataset_id="t", drift_coefficient=0.7,
                                      start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert drift["subject"] == "datadrift/d1/run/r9"
    assert drift["data"]["startTime"] == "2024-01-01T00:00:00+00:00" and drift["data"]["endTime"] is None


def test_built_event_envelopes_in_both_schemas():
    eg = ev.model_registered(topic=WS, model_name="churn", model_version=3, id="abc",
                             time="2024-05-01T10:00:00Z")
    assert eg == {"id": "abc", "topic": WS, "subject": "models/churn:3", "eventType": ev.MODEL_REGISTERED,
                  "eventTime": "2024-05-01T10:00:00Z",
                  "data": {"modelName": "churn", "modelVersion": "3", "modelTags": {}, "modelProperties": {}},
                  "dataVersion": "2", "metadataVersion": "1"}
    ce = ev.model_registered(topic=WS, model_name="churn", model_version=3, id="abc",
                             time="2024-05-01T10:00:00Z", schema=ev.CLOUDEVENT_SCHEMA)
    assert ce == {"specversion": "1.0", "id": "abc", "source": WS, "type": ev.MODEL_REGISTERED,
                  "subject": "models/churn:3", "time": "2024-05-01T10:00:00Z", "data": eg["data"]}
    assert ev.model_deployed(topic=WS, service_name="s", model_ids=["a:1", "b:2"])["data"]["modelIds"] == "a:1,b:2"


def test_build_event_takes_dataclasses_and_system_event_names():
    data = ev.RunStatusChangedEventData(experiment_id="e", experiment_name="n", run_id="r", run_status="Failed")
    built = ev.build_event(SystemEventNames.MachineLearningServicesRunStatusChangedEventName, topic=WS, data=data)
    assert built["eventType"] == ev.RUN_STATUS_CHANGED and built["subject"] == "experiments/e/runs/r"
    assert built["data"]["runType"] is None and "runTags" not in built["data"]
    # PascalCase input (as in Azure's docs) is written the way the service spells it.
    pascal = ev.build_event(ev.MODEL_REGISTERED, topic=WS, data={"ModelName": "m", "ModelVersion": 20})
    assert pascal["data"] == {"modelName": "m", "modelVersion": "20"}


@pytest.mark.parametrize("kwargs,path", [
    (dict(topic="ws", data={"modelName": "m", "modelVersion": "1"}), "topic"),
    (dict(topic="/subscriptions/s/resourceGroups/rg", data={"modelName": "m", "modelVersion": "1"}), "topic"),
    (dict(topic=WS, data={"modelVersion": "1"}), "data.modelName"),
    (dict(topic=WS, data={"modelName": "m", "modelVersion": True}), "data.modelVersion"),
    (dict(topic=WS, data={"modelName": "m", "modelVersion": "1", "modelTags": ["a"]}), "data.modelTags"),
    (dict(topic=WS, data="m:1"), "data"),
    (dict(topic=WS, data={"modelName": "m", "modelVersion": "1"}, time="yesterday"), "time"),
    (dict(topic=WS, data={"modelName": "m", "modelVersion": "1"}, schema="CustomInputSchema"), "schema"),
])
def test_builder_errors_name_the_field(kwargs, path):
    with pytest.raises(ev.EventValidationError) as info:
        ev.build_event(ev.MODEL_REGISTERED, **kwargs)
    assert info.value.path == path
    assert isinstance(info.value, ValueError)


def test_validate_event_reports_every_problem():
    bad = {"id": "", "topic": WS, "subject": 5, "eventType": ev.DATASET_DRIFT_DETECTED, "eventTime": "noon",
           "data": {"dataDriftId": "d", "driftCoefficient": "high"}, "metadataVersion": "2"}
    with pytest.raises(ev.EventValidationError) as info:
        ev.validate_event(bad)
    paths = [p for p, _ in info.value.errors]
    for expected in ("id", "subject", "metadataVersion", "eventTime", "data.dataDriftName", "data.driftCoefficient"):
        assert expected in paths
    assert "expected a number" in str(info.value)
    ce = {"specversion": "0.3", "id": "1", "source": WS, "type": ev.MODEL_REGISTERED, "data": {}}
    with pytest.raises(ev.EventValidationError, match='specversion: must be "1.0"'):
        ev.validate_event(ce)


def test_size_limit_is_one_megabyte():
    big = {"blob": "x" * (ev.MAX_EVENT_BYTES - 400)}
    event = ev.build_event("Contoso.Items.ItemReceived", topic="/subscriptions/s", data=big, subject="items/1")
    assert ev.validate_event(event) == ev.EVENTGRID_SCHEMA
    event["data"]["blob"] += "x" * 500
    with pytest.raises(ev.EventValidationError, match="at most 1 MB"):
        ev.validate_event(event)


def test_unknown_event_types_are_kept_generic():
    event = ev.parse_event({"id": "1", "topic": "/subscriptions/s", "subject": "a", "eventType": "Contoso.New",
                            "eventTime": "2024-01-01T00:00:00Z", "data": [1, 2], "dataVersion": "1"})
    assert isinstance(event.data, ev.GenericEventData) and event.data.value == [1, 2]
    assert ev.validate_event(event.raw) == ev.EVENTGRID_SCHEMA


@pytest.mark.parametrize("body,path", [
    (b"{not json", "body"),
    ({"id": "1", "subject": "s"}, "event"),
    ([ev.sample_event(ev.MODEL_REGISTERED), {"hello": 1}], "[1]"),
    ({"id": "1", "eventType": ev.MODEL_REGISTERED, "data": "x"}, "event.data"),
    ([], "body"),
])
def test_parse_errors_name_the_place(body, path):
    with pytest.raises(ev.EventValidationError) as info:
        ev.parse_event(body)
    assert info.value.path == path


def test_interop_with_the_azure_sdk_classes():
    eg = ev.parse_event(ev.sample_event(ev.MODEL_DEPLOYED))
    sdk_eg = eg.to_eventgrid_event()
    assert isinstance(sdk_eg, EventGridEvent) and sdk_eg.event_type == ev.MODEL_DEPLOYED
    back = ev.parse_event(sdk_eg)
    assert back.data == eg.data and back.subject == eg.subject and back.time == eg.time
    sdk_ce = eg.to_cloud_event()
    assert isinstance(sdk_ce, CloudEvent) and sdk_ce.source == eg.topic
    from_ce = ev.parse_event(sdk_ce)
    assert from_ce.schema == ev.CLOUDEVENT_SCHEMA and from_ce.data.model_id_list == ["my_first_model:1", "my_second_model:1"]
    # Azure's own parser reads our wire dicts.
    assert EventGridEvent.from_dict(ev.sample_event(ev.RUN_COMPLETED)).data["runId"].startswith("AutoML_")
    assert CloudEvent.from_dict(ev.sample_event(ev.RUN_COMPLETED, schema=ev.CLOUDEVENT_SCHEMA)).subject.startswith("experiments/")


def test_constants_match_system_event_names():
    assert ev.system_event_name(ev.MODEL_REGISTERED) is SystemEventNames.MachineLearningServicesModelRegisteredEventName
    for name in ev.KNOWN_EVENT_TYPES:
        assert ev.system_event_name(name).value == name
    assert ev.ALL_AML_EVENT_TYPES == (ev.MODEL_REGISTERED, ev.MODEL_DEPLOYED, ev.RUN_COMPLETED,
                                      ev.RUN_STATUS_CHANGED, ev.DATASET_DRIFT_DETECTED)


def test_data_keys():
    assert ev.data_keys(ev.MODEL_REGISTERED) == ["modelName", "modelVersion", "modelTags", "modelProperties"]
    assert "runStatus" in ev.data_keys(ev.RUN_STATUS_CHANGED) and "runStatus" not in ev.data_keys(ev.RUN_COMPLETED)
    assert ev.data_keys(SystemEventNames.MachineLearningServicesDatasetDriftDetectedEventName)[-1] == "endTime"
    with pytest.raises(ValueError, match="unknown event type"):
        ev.data_keys("Contoso.New")


def test_conversions():
    eg = ev.sample_event(ev.SUBSCRIPTION_DELETED)
    ce = ev.to_cloudevent_schema(eg)
    assert ce["source"] == eg["topic"] and "dataVersion" not in ce and ce["specversion"] == "1.0"
    assert ev.to_eventgrid_schema(ce) == eg
    docs_ce = {"specVersion": "1.0", "id": "1", "source": WS, "type": ev.MODEL_REGISTERED,
               "time": "2024-01-01T00:00:00Z", "subject": "models/m:1", "data": {"ModelName": "m", "ModelVersion": 1},
               "dataversion": "9", "traceparent": "00-abc"}
    assert "specversion" in ev.to_cloudevent_schema(docs_ce)
    back = ev.to_eventgrid_schema(docs_ce)
    assert back["dataVersion"] == "9" and "traceparent" not in back and back["metadataVersion"] == "1"


def test_convenience_builder_errors_name_the_data_field():
    with pytest.raises(ev.EventValidationError) as info:
        ev.dataset_drift_detected(topic=WS, data_drift_id="d", data_drift_name="n", run_id="r", base_dataset_id="b",
                                  target_dataset_id="t", drift_coefficient=0.5, start_time="last monday")
    assert info.value.path == "data.startTime"
    with pytest.raises(ev.EventValidationError) as info:
        ev.model_registered(topic=WS, model_name=None, model_version=1)
    assert info.value.path == "data.modelName" and "got null" in str(info.value)


@pytest.mark.parametrize("change, field, words", [
    ({"subject": "models/\ud800"}, "subject", "lone surrogate"),
    ({"data": {"modelName": "m", "modelVersion": "1", "modelTags": {"when": datetime(2024, 1, 1)}}},
     "data.modelTags.when", "expected a JSON value"),
    ({"data": {"modelName": "m", "modelVersion": "1", "modelTags": {"score": float("nan")}}},
     "data.modelTags.score", "not a JSON number"),
    ({"data": {"modelName": "m", "modelVersion": "1", "modelTags": {1: "x"}}}, "data.modelTags", "key 1"),
    ({"data": {"modelName": "m", "modelVersion": 10 ** 400}}, "data.modelVersion", "within 64 bits"),
])
def test_validate_event_names_what_cannot_be_sent_as_json(change, field, words):
    event = {**ev.sample_event(ev.MODEL_REGISTERED), **change}
    with pytest.raises(ev.EventValidationError) as info:
        ev.validate_event(event)
    assert (field, ) == tuple(p for p, m in info.value.errors if words in m)[:1]


def test_json_nesting_is_bounded_for_parse_and_validate():
    deep: object = "leaf"
    for _ in range(ev.validate.MAX_DEPTH):
        deep = [deep]
    event = {**ev.sample_event(ev.MODEL_REGISTERED), "data": {"modelName": "m", "modelVersion": "1",
                                                             "modelTags": {"t": deep}}}
    with pytest.raises(ev.EventValidationError, match="data.modelTags.t.* nested more than 64 levels"):
        ev.validate_event(event)
    with pytest.raises(ev.EventValidationError, match="body: JSON nested more than 64 levels"):
        ev.parse_events(b"[" * 10_000 + b"]" * 10_000)
    ok = json.dumps([{**ev.sample_event(ev.MODEL_REGISTERED), "extra": [[[["x"]]]]}])
    assert ev.parse_events(ok)[0].raw["extra"] == [[[["x"]]]]


def test_builders_name_their_arguments():
    with pytest.raises(ev.EventValidationError, match="model_ids.*item 1"):
        ev.model_deployed(topic=WS, service_name="s", model_ids=["a:1", 2])
    with pytest.raises(ev.EventValidationError, match="subject"):
        ev.model_registered(topic=WS, model_name="m", model_version="1", subject=datetime(2024, 1, 1))
    with pytest.raises(ev.EventValidationError, match="driftCoefficient"):
        ev.dataset_drift_detected(topic=WS, data_drift_id="d", data_drift_name="n", run_id="r", base_dataset_id="b",
                                  target_dataset_id="t", drift_coefficient=10 ** 400)


def test_errors_on_10k_deep_python_values_are_clear():
    """Messages show a short repr (repr itself would recurse past Python's limit on these)."""
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    event = ev.sample_event(ev.MODEL_REGISTERED)
    with pytest.raises(ev.EventValidationError, match=r"^id: expected a non-empty string, got an array \[\[\["):
        ev.validate_event({**event, "id": deep})
    with pytest.raises(ev.EventValidationError, match="^id: expected a string"):
        ev.model_registered(topic=WS, model_name="m", model_version="1", id=deep)
    with pytest.raises(ev.EventValidationError, match="^topic: "):
        ev.model_registered(topic=deep, model_name="m", model_version="1")
    with pytest.raises(ValueError, match="^event_type: "):
        ev.build_event(deep, topic=WS, data={})

"""Property tests: events round-trip through both schemas, the parser and the Azure SDK classes."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from amlevents_kit import events as ev

common = settings(max_examples=100, deadline=None)

name = st.text(st.characters(min_codepoint=48, max_codepoint=122, blacklist_characters="/{}\\"), min_size=1, max_size=12)
tags = st.dictionaries(name, st.one_of(st.text(max_size=8), st.integers(), st.booleans()), max_size=3)
topic = st.builds(ev.workspace_topic, st.uuids().map(str), name, name)
when = st.datetimes(timezones=st.just(__import__("datetime").timezone.utc)).map(lambda d: d.isoformat())

DATA = {
    ev.MODEL_REGISTERED: st.fixed_dictionaries({"modelName": name, "modelVersion": st.one_of(name, st.integers(1, 999)),
                                                "modelTags": tags, "modelProperties": tags}),
    ev.MODEL_DEPLOYED: st.fixed_dictionaries({"serviceName": name, "serviceComputeType": st.sampled_from(["ACI", "AKS"]),
                                              "modelIds": st.lists(name, min_size=1, max_size=3).map(",".join),
                                              "serviceTags": tags}),
    ev.RUN_COMPLETED: st.fixed_dictionaries({"experimentId": name, "experimentName": name, "runId": name,
                                             "runType": st.one_of(st.none(), name), "runTags": tags}),
    ev.RUN_STATUS_CHANGED: st.fixed_dictionaries({"experimentId": name, "experimentName": name, "runId": name,
                                                  "runType": st.one_of(st.none(), name), "runStatus": name}),
    ev.DATASET_DRIFT_DETECTED: st.fixed_dictionaries({
        "dataDriftId": name, "dataDriftName": name, "runId": name, "baseDatasetId": name, "targetDatasetId": name,
        "driftCoefficient": st.floats(0, 1), "startTime": st.one_of(st.none(), when), "endTime": st.one_of(st.none(), when)}),
    ev.SUBSCRIPTION_VALIDATION: st.fixed_dictionaries({"validationCode": name}),
    ev.SUBSCRIPTION_DELETED: st.fixed_dictionaries({"eventSubscriptionId": name}),
}
event_args = st.sampled_from(sorted(DATA)).flatmap(
    lambda t: st.tuples(st.just(t), DATA[t], topic, st.uuids().map(str), when))


def _build(args, schema):
    event_type, data, ws, event_id, time = args
    return ev.build_event(event_type, topic=ws, data=data, id=event_id, time=time, schema=schema)


@common
@given(event_args)
def test_eventgrid_to_cloudevent_and_back(args):
    eg = _build(args, ev.EVENTGRID_SCHEMA)
    ce = ev.to_cloudevent_schema(eg)
    assert ce == _build(args, ev.CLOUDEVENT_SCHEMA)
    assert ev.to_eventgrid_schema(ce) == eg
    assert ev.validate_event(ce) == ev.CLOUDEVENT_SCHEMA and ev.validate_event(eg) == ev.EVENTGRID_SCHEMA


@common
@given(event_args, st.sampled_from([ev.EVENTGRID_SCHEMA, ev.CLOUDEVENT_SCHEMA]))
def test_parse_gives_back_the_typed_data(args, schema):
    wire = _build(args, schema)
    event = ev.parse_event(json.dumps([wire]).encode())
    assert event.schema == schema and event.type == args[0] and event.id == args[3]
    assert event.data.to_dict() == wire["data"]
    assert event.to_dict() == wire
    other = ev.CLOUDEVENT_SCHEMA if schema == ev.EVENTGRID_SCHEMA else ev.EVENTGRID_SCHEMA
    assert ev.parse_event(event.to_dict(other)).data == event.data
    # Typed data rebuilt into a new event gives the same wire data.
    again = ev.build_event(args[0], topic=args[2], data=event.data, id=args[3], time=args[4], schema=schema)
    assert again == wire


@common
@given(event_args)
def test_round_trip_through_the_azure_sdk_classes(args):
    event = ev.parse_event(_build(args, ev.EVENTGRID_SCHEMA))
    via_eg = ev.parse_event(event.to_eventgrid_event())
    via_ce = ev.parse_event(event.to_cloud_event())
    assert via_eg.data == event.data == via_ce.data
    assert via_eg.subject == event.subject == via_ce.subject
    assert via_eg.time == event.time == via_ce.time


@common
@given(st.dictionaries(st.sampled_from(["modelName", "ModelName", "MODELNAME"]), name, min_size=1, max_size=1),
       st.one_of(st.integers(0, 10**6), st.integers(0, 10**6).map(str)))
def test_keys_are_read_ignoring_case_and_versions_as_strings(name_part, version):
    data = dict(name_part, ModelVersion=version)
    event = ev.parse_event({"id": "1", "topic": "/subscriptions/s", "subject": "", "eventType": ev.MODEL_REGISTERED,
                            "eventTime": "2024-01-01T00:00:00Z", "data": data})
    assert event.data.model_name == next(iter(name_part.values()))
    assert event.data.model_version == str(version)

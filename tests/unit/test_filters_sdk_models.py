"""Filters built as azure-mgmt-eventgrid model objects are judged as the SDK sends them to Azure.

The models keep what their constructors were given (``values=[5]``, ``value="true"``); their
serializer converts it on the wire. The engine, explain and lint must see what Azure sees.
"""

from __future__ import annotations

import pytest
from azure.eventgrid import SystemEventNames
from azure.mgmt.eventgrid import models as m

from amlevents_kit import events
from amlevents_kit.filters import FilterValidationError, explain, lint, matches, validate_filter

EVENT = {"id": "1", "topic": "t", "subject": "models/churn:5", "eventType": events.MODEL_REGISTERED,
         "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "2",
         "data": {"modelName": "churn", "modelVersion": "5", "modelTags": {"ncd": True, "score": 1, "stage": "5"}}}


def test_constructor_values_are_converted_as_the_sdk_sends_them():
    flt = m.EventSubscriptionFilter(advanced_filters=[
        m.StringInAdvancedFilter(key="data.modelTags.stage", values=[5]),          # sent as ["5"]
        m.BoolEqualsAdvancedFilter(key="data.modelTags.ncd", value="true"),        # sent as true
        m.NumberInRangeAdvancedFilter(key="data.modelTags.score", values=[["0", "2"]]),  # sent as [[0.0, 2.0]]
    ])
    assert flt.serialize()["advancedFilters"][0]["values"] == ["5"]
    assert matches(EVENT, flt) is True
    assert explain(EVENT, flt).matched is True
    validate_filter(flt)  # Azure accepts what the SDK sends
    assert not [f for f in lint(flt) if f.field.endswith((".values[0]", ".value"))]


def test_values_the_sdk_cannot_send_are_named():
    flt = m.EventSubscriptionFilter(advanced_filters=[
        m.StringInAdvancedFilter(key="data.modelName", values=["churn"]),
        m.NumberInAdvancedFilter(key="data.modelTags.score", values=["many"]),
    ])
    with pytest.raises(FilterValidationError) as info:
        matches(EVENT, flt)
    assert info.value.field == "filter.advancedFilters[1]"
    assert "NumberInAdvancedFilter" in str(info.value) and "'many'" in str(info.value)
    (finding,) = lint(flt)
    assert finding.severity == "error" and finding.field == "filter.advancedFilters[1]"


def test_a_subscription_without_a_filter_matches_everything():
    sub = m.EventSubscription(destination=m.WebHookEventSubscriptionDestination(endpoint_url="https://x/api"))
    assert matches(EVENT, sub) is True
    assert explain(EVENT, sub).matched is True
    assert lint(sub) == []
    assert matches(EVENT, m.EventSubscriptionUpdateParameters(filter=None)) is True


def test_system_event_names_survive_serialization():
    flt = m.EventSubscriptionFilter(included_event_types=[SystemEventNames.MachineLearningServicesModelRegisteredEventName])
    assert matches(EVENT, flt) is True


def test_explain_says_when_azure_would_refuse_the_filter():
    too_many = {"advancedFilters": [{"operatorType": "IsNotNull", "key": "subject"}] * 26}
    said = explain(EVENT, too_many)
    assert said.matched is True  # the engine's verdict, for a subscription that could not exist
    assert said.rejected and "at most 25" in said.rejected[0]
    assert "Azure rejects this filter" in str(said) and "Azure rejects this filter" in said._repr_html_()
    assert explain(EVENT, {"includedEventTypes": [events.MODEL_REGISTERED]}).rejected == []


def test_explain_names_a_value_of_the_wrong_type():
    said = explain(EVENT, {"advancedFilters": [{"operatorType": "BoolEquals", "key": "data.modelTags.ncd",
                                                 "value": "true"}]})
    assert not said.matched
    assert "no usable value: 'true' is not booleans" in said.clauses[0].reason
    assert "(no value)" not in said.clauses[0].reason


def test_lint_takes_one_event_type_on_its_own():
    flt = {"includedEventTypes": [events.RUN_COMPLETED]}
    findings = lint(flt, event_types=events.MODEL_REGISTERED)
    assert "did you mean 'Microsoft.MachineLearningServices.ModelRegistered'" in findings[0].message
    assert not any(", i, c," in f.message for f in findings)
    assert lint({"includedEventTypes": [events.MODEL_REGISTERED]},
                event_types=SystemEventNames.MachineLearningServicesModelRegisteredEventName) == []


def test_lint_bool_and_version_traps():
    on_number = {"includedEventTypes": [events.DATASET_DRIFT_DETECTED],
                 "advancedFilters": [{"operatorType": "BoolEquals", "key": "data.driftCoefficient", "value": True}]}
    (finding,) = lint(on_number)
    assert finding.severity == "error" and "is a number; BoolEquals matches only true or false" in finding.message
    on_string = {"includedEventTypes": [events.RUN_STATUS_CHANGED],
                 "advancedFilters": [{"operatorType": "BoolEquals", "key": "data.runStatus", "value": True}]}
    assert [f.severity for f in lint(on_string)] == ["error"]
    version = {"includedEventTypes": [events.MODEL_REGISTERED],
               "advancedFilters": [{"operatorType": "StringIn", "key": "data.modelVersion", "values": ["20"]}]}
    (finding,) = lint(version)
    assert finding.severity == "warning" and "NumberIn" in finding.message
    # …and that is what the engine does with the docs' numeric version:
    numeric = dict(EVENT, data=dict(EVENT["data"], modelVersion=20))
    assert not matches(numeric, version)


def test_sdk_converters_and_schema_mapping_give_clear_errors():
    from amlevents_kit.events import EventValidationError, parse_event, to_eventgrid_schema
    sample = events.sample_event(events.MODEL_REGISTERED)
    late = parse_event(dict(sample, eventTime="noon"))  # the parser is lenient; the converters are not
    with pytest.raises(EventValidationError, match="eventTime: expected an ISO 8601"):
        late.to_eventgrid_event()
    with pytest.raises(EventValidationError, match="time: expected an ISO 8601"):
        late.to_cloud_event()
    assert parse_event(dict(sample, id=None)).id == ""  # not the text 'None'
    cloud = events.sample_event(events.MODEL_REGISTERED, schema="CloudEventSchemaV1_0")
    with pytest.raises(EventValidationError, match=r"type: expected a non-empty string, got \['x'\]"):
        to_eventgrid_schema(dict(cloud, type=["x"]))

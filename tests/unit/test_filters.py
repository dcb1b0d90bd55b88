"""Filter engine: azure-mgmt-eventgrid models and REST JSON, Azure's documented rules, errors."""

from __future__ import annotations

import pytest
from azure.mgmt.eventgrid import models as m

from amlevents_kit import events
from amlevents_kit.filters import (FilterValidationError, compile_filter, explain, matches,
                                   read_filter, validate_filter)

REGISTERED = events.sample_event(events.MODEL_REGISTERED)
DRIFT = events.sample_event(events.DATASET_DRIFT_DETECTED)
RUN_FAILED = events.run_status_changed(
    topic=events.workspace_topic("sub", "rg", "ws"), experiment_id="exp1", experiment_name="train",
    run_id="run_7", run_status="Failed", run_tags={"team": "risk", "scores": [0.2, 0.9]},
)


def test_no_filter_matches_everything():
    assert matches(REGISTERED, None)
    assert matches(REGISTERED, m.EventSubscriptionFilter())
    assert matches(REGISTERED, {})


def test_included_event_types_is_an_exact_list():
    flt = m.EventSubscriptionFilter(included_event_types=[events.MODEL_REGISTERED, events.MODEL_DEPLOYED])
    assert matches(REGISTERED, flt)
    assert not matches(DRIFT, flt)
    assert not matches(REGISTERED, {"includedEventTypes": [events.MODEL_REGISTERED.lower()]})


def test_subject_filters_ignore_case_unless_asked():
    assert matches(REGISTERED, {"subjectBeginsWith": "MODELS/SKLEARN"})
    assert matches(REGISTERED, {"subjectEndsWith": ":3"})
    assert not matches(REGISTERED, {"subjectBeginsWith": "MODELS/", "isSubjectCaseSensitive": True})
    assert matches(REGISTERED, {"subjectBeginsWith": "models/", "isSubjectCaseSensitive": True})
    assert matches(REGISTERED, {"subjectBeginsWith": "", "subjectEndsWith": ""})
    # The how-to guide's prefix for drift events is wrong (spec §1.1): it never matches.
    assert not matches(DRIFT, {"subjectBeginsWith": "/datadriftID/runs/"})
    assert matches(DRIFT, {"subjectBeginsWith": "datadrift/"})


def test_documented_aml_examples():
    # spec §3.4 "AML-relevant examples", with the service's camelCase keys.
    prod = events.model_registered(topic=events.workspace_topic("s", "rg", "ws"), model_name="mymodelname",
                                   model_version=4, model_tags={"stage": "Production"})
    staging = events.model_registered(topic=events.workspace_topic("s", "rg", "ws"), model_name="mymodelname",
                                      model_version=5, model_tags={"stage": "staging"})
    flt = {"includedEventTypes": [events.MODEL_REGISTERED], "subjectBeginsWith": "models/mymodelname",
           "advancedFilters": [{"operatorType": "StringIn", "key": "data.modelTags.stage", "values": ["production"]}]}
    assert matches(prod, flt) and not matches(staging, flt)
    drift = {"includedEventTypes": [events.DATASET_DRIFT_DETECTED], "advancedFilters": [
        {"operatorType": "NumberGreaterThanOrEquals", "key": "data.driftCoefficient", "value": 0.5}]}
    assert matches(DRIFT, drift)
    drift["advancedFilters"][0]["value"] = 0.9
    assert not matches(DRIFT, drift)


@pytest.mark.parametrize("cls,kwargs,expected", [
    (m.NumberInAdvancedFilter, {"values": [0.8350349068479208]}, True),
    (m.NumberNotInAdvancedFilter, {"values": [0.5]}, True),
    (m.NumberLessThanAdvancedFilter, {"value": 0.9}, True),
    (m.NumberGreaterThanAdvancedFilter, {"value": 0.9}, False),
    (m.NumberLessThanOrEqualsAdvancedFilter, {"value": 0.8350349068479208}, True),
    (m.NumberGreaterThanOrEqualsAdvancedFilter, {"value": 0.84}, False),
    (m.NumberInRangeAdvancedFilter, {"values": [[0, 0.1], [0.8, 1]]}, True),
    (m.NumberNotInRangeAdvancedFilter, {"values": [[0.8, 1]]}, False),
    (m.IsNotNullAdvancedFilter, {}, True),
    (m.IsNullOrUndefinedAdvancedFilter, {}, False),
])
def test_every_number_and_null_model_class_on_drift_coefficient(cls, kwargs, expected):
    flt = m.EventSubscriptionFilter(advanced_filters=[cls(key="data.driftCoefficient", **kwargs)])
    assert matches(DRIFT, flt) is expected
    # The REST JSON of the same model (what the sandbox stores) gives the same answer.
    assert matches(DRIFT, flt.serialize()) is expected


@pytest.mark.parametrize("cls,values,expected", [
    (m.StringInAdvancedFilter, ["SKLEARN_REGRESSION_MODEL"], True),
    (m.StringNotInAdvancedFilter, ["sklearn_regression_model"], False),
    (m.StringBeginsWithAdvancedFilter, ["xgb", "Sklearn"], True),
    (m.StringNotBeginsWithAdvancedFilter, ["xgb"], True),
    (m.StringEndsWithAdvancedFilter, ["_MODEL"], True),
    (m.StringNotEndsWithAdvancedFilter, ["_model"], False),
    (m.StringContainsAdvancedFilter, ["regression"], True),
    (m.StringNotContainsAdvancedFilter, ["regression"], False),
])
def test_every_string_model_class(cls, values, expected):
    flt = m.EventSubscriptionFilter(advanced_filters=[cls(key="data.modelName", values=values)])
    assert matches(REGISTERED, flt) is expected
    assert matches(REGISTERED, flt.serialize()) is expected
    assert matches(REGISTERED, flt.as_dict()) is expected  # snake_case keys are read too


def test_bool_equals_and_envelope_keys():
    event = dict(REGISTERED, data=dict(REGISTERED["data"], approved=True))
    assert matches(event, {"advancedFilters": [{"operatorType": "BoolEquals", "key": "data.approved", "value": True}]})
    assert not matches(event, m.EventSubscriptionFilter(advanced_filters=[m.BoolEqualsAdvancedFilter(key="data.approved", value=False)]))
    for key, value in (("ID", REGISTERED["id"]), ("Topic", REGISTERED["topic"]), ("Subject", REGISTERED["subject"]),
                       ("EventType", events.MODEL_REGISTERED), ("DataVersion", "2")):
        assert matches(REGISTERED, {"advancedFilters": [{"operatorType": "StringIn", "key": key, "values": [value.upper()]}]}), key


def test_cloudevent_keys():
    ce = events.sample_event(events.MODEL_REGISTERED, schema=events.CLOUDEVENT_SCHEMA)
    for key, value in (("id", ce["id"]), ("source", ce["source"]), ("type", ce["type"]), ("specversion", "1.0")):
        assert matches(ce, {"advancedFilters": [{"operatorType": "StringIn", "key": key, "values": [value]}]}), key
    assert matches(ce, {"includedEventTypes": [events.MODEL_REGISTERED], "subjectEndsWith": ":3"})


def test_or_within_a_filter_and_across_filters():
    a = {"operatorType": "StringIn", "key": "data.modelTags.area", "values": ["finance", "diabetes"]}
    b = {"operatorType": "StringIn", "key": "data.modelTags.type", "values": ["classification"]}
    assert matches(REGISTERED, {"advancedFilters": [a]})
    assert not matches(REGISTERED, {"advancedFilters": [a, b]})
    b["values"].append("regression")
    assert matches(REGISTERED, {"advancedFilters": [a, b]})
    # The same key may appear in several filters.
    lo = {"operatorType": "NumberGreaterThan", "key": "data.driftCoefficient", "value": 0.5}
    hi = {"operatorType": "NumberLessThan", "key": "data.driftCoefficient", "value": 0.8}
    assert not matches(DRIFT, {"advancedFilters": [lo, hi]})


def test_missing_key_rules_per_operator():
    key = "data.modelTags.stage"  # not in the sample
    match_missing = {"NumberNotIn": [1], "StringNotIn": ["x"], "NumberNotInRange": [[0, 1]]}
    for op, values in match_missing.items():
        assert matches(REGISTERED, {"advancedFilters": [{"operatorType": op, "key": key, "values": values}]}), op
    for op in ("StringNotContains", "StringNotBeginsWith", "StringNotEndsWith", "StringIn", "StringContains"):
        assert not matches(REGISTERED, {"advancedFilters": [{"operatorType": op, "key": key, "values": ["x"]}]}), op
    assert matches(REGISTERED, {"advancedFilters": [{"operatorType": "IsNullOrUndefined", "key": key}]})


def test_arrays_only_with_the_option():
    base = {"operatorType": "NumberGreaterThan", "key": "data.runTags.scores", "value": 0.5}
    assert not matches(RUN_FAILED, {"advancedFilters": [base]})
    assert matches(RUN_FAILED, {"advancedFilters": [base], "enableAdvancedFilteringOnArrays": True})
    neg = {"operatorType": "NumberNotIn", "key": "data.runTags.scores", "values": [0.9]}
    assert not matches(RUN_FAILED, {"advancedFilters": [neg], "enableAdvancedFilteringOnArrays": True})


def test_keys_are_found_ignoring_case_and_nest():
    assert matches(REGISTERED, {"advancedFilters": [{"operatorType": "StringIn", "key": "Data.ModelTags.Area", "values": ["diabetes"]}]})
    docs = events.parse_event(open_fixture("machinelearningservices/2018-01-01/event-grid-schema/model_registered.json"))
    assert matches(docs, {"advancedFilters": [{"operatorType": "NumberIn", "key": "data.modelVersion", "values": [20]}]})


def open_fixture(rel: str) -> bytes:
    """Read an event fixture from ../shared (skips when absent)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "events" / rel
    if not path.exists():
        pytest.skip("../shared fixtures are not beside the checkout")
    return path.read_bytes()


def test_compiled_filter_accepts_event_objects():
    run = compile_filter({"includedEventTypes": [events.RUN_STATUS_CHANGED],
                          "advancedFilters": [{"operatorType": "StringIn", "key": "data.runStatus", "values": ["failed"]}]})
    assert run(events.parse_event(RUN_FAILED))
    assert run(RUN_FAILED)
    assert not run(REGISTERED)


def test_explanations_give_reasons():
    flt = {"subjectBeginsWith": "/datadriftID/runs/",
           "advancedFilters": [{"operatorType": "StringIn", "key": "data.modelTags.stage", "values": ["production"]}]}
    result = explain(REGISTERED, flt)
    assert not result
    text = str(result)
    assert "subject 'models/sklearn_regression_model:3' does not begin with '/datadriftID/runs/'" in text
    assert "data.modelTags.stage: key not found" in text
    assert "<table>" in result._repr_html_()
    ok = explain(REGISTERED, {"advancedFilters": [{"operatorType": "StringIn", "key": "data.modelTags.area", "values": ["DIABETES"]}]})
    assert ok.matched and "equals 'DIABETES' (ignoring case)" in ok.clauses[0].reason


@pytest.mark.parametrize("flt,field", [
    ({"advancedFilters": [{"operatorType": "StringLike", "key": "data.a", "values": ["x"]}]}, "filter.advancedFilters[0].operatorType"),
    ({"advancedFilters": [{"operatorType": "StringIn", "values": ["x"]}]}, "filter.advancedFilters[0].key"),
    ({"advancedFilters": [{"operatorType": "StringIn", "key": "k", "values": ["x"]}, {"operatorType": "StringIn", "key": "k", "values": "x"}]}, "filter.advancedFilters[1].values"),
    ({"advancedFilters": [{"operatorType": "NumberInRange", "key": "k", "values": [[1, 2], [3]]}]}, "filter.advancedFilters[0].values[1]"),
    ({"includedEventTypes": "Microsoft.MachineLearningServices.ModelRegistered"}, "filter.includedEventTypes"),
    ({"isSubjectCaseSensitive": "yes"}, "filter.isSubjectCaseSensitive"),
    ({"advancedFilters": {"operatorType": "StringIn"}}, "filter.advancedFilters"),
])
def test_structural_errors_name_the_field(flt, field):
    with pytest.raises(FilterValidationError) as info:
        matches(REGISTERED, flt)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")


def test_not_a_filter():
    with pytest.raises(FilterValidationError, match="expected an EventSubscriptionFilter"):
        matches(REGISTERED, "data.modelName eq 'x'")


def _string_filter(n_values):
    return {"operatorType": "StringIn", "key": "data.modelName", "values": [f"v{i}" for i in range(n_values)]}


@pytest.mark.parametrize("flt,field,words", [
    ({"advancedFilters": [_string_filter(1)] * 26}, "filter.advancedFilters", "26 advanced filters; at most 25"),
    ({"advancedFilters": [_string_filter(13), _string_filter(13)]}, "filter.advancedFilters", "26 filter values in total; at most 25"),
    ({"advancedFilters": [_string_filter(0)]}, "filter.advancedFilters[0].values", "at least one value"),
    ({"advancedFilters": [{"operatorType": "NumberIn", "key": "k", "values": [1, "2"]}]}, "filter.advancedFilters[0].values[1]", "expected a number"),
    ({"advancedFilters": [{"operatorType": "NumberLessThan", "key": "k"}]}, "filter.advancedFilters[0].value", "needs a number"),
    ({"advancedFilters": [{"operatorType": "BoolEquals", "key": "k", "value": "true"}]}, "filter.advancedFilters[0].value", "true or false"),
    ({"advancedFilters": [{"operatorType": "StringIn", "key": "k", "values": ["x" * 513]}]}, "filter.advancedFilters[0].values[0]", "at most 512"),
])
def test_validate_filter_applies_azure_limits(flt, field, words):
    # The engine can still evaluate these; Azure refuses to create them.
    compile_filter(flt)
    with pytest.raises(FilterValidationError) as info:
        validate_filter(flt)
    assert info.value.field == field and words in str(info.value)


def test_validate_filter_accepts_the_limits_exactly():
    spec = validate_filter({"advancedFilters": [_string_filter(1)] * 25})
    assert len(spec.advanced_filters) == 25
    assert read_filter(m.EventSubscriptionFilter(advanced_filters=[
        m.NumberInAdvancedFilter(key="k", values=list(range(25)))])).advanced_filters[0].values == list(range(25))


def test_system_event_names_and_whole_subscriptions_are_accepted():
    from azure.eventgrid import SystemEventNames

    flt = m.EventSubscriptionFilter(included_event_types=[SystemEventNames.MachineLearningServicesModelRegisteredEventName])
    assert matches(REGISTERED, flt) and not matches(DRIFT, flt)
    sub = m.EventSubscription(destination=m.WebHookEventSubscriptionDestination(endpoint_url="https://example.org/hook"),
                              filter=m.EventSubscriptionFilter(subject_begins_with="endpoints/"))
    assert not matches(REGISTERED, sub)
    assert not matches(REGISTERED, sub.serialize())  # the ARM JSON of the whole subscription
    assert matches(REGISTERED, {"properties": {"destination": {"endpointType": "WebHook"}}})


def test_bad_events_get_a_clear_error():
    with pytest.raises(TypeError, match="expected a wire event dict"):
        matches("not an event", None)


def test_malformed_envelope_values_never_match_instead_of_crashing():
    odd = {"eventType": ["Microsoft.MachineLearningServices.ModelRegistered"], "subject": 7, "data": "x"}
    flt = {"includedEventTypes": [events.MODEL_REGISTERED], "subjectBeginsWith": "models/"}
    assert matches(odd, flt) is False and explain(odd, flt).matched is False


def test_hostile_filter_values_are_named_or_shown_short():
    from amlevents_kit import events, filters
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    event = events.sample_event(events.MODEL_REGISTERED)
    with pytest.raises(filters.FilterValidationError, match=r"advancedFilters\[0\]\.operatorType: expected an operator"):
        filters.matches(event, {"advancedFilters": [{"operatorType": {"a": 1}, "key": "subject", "values": ["a"]}]})
    flt = {"advancedFilters": [{"operatorType": "StringIn", "key": "data.modelName", "values": deep}]}
    with pytest.raises(filters.FilterValidationError, match=r"values\[0\]: expected a string"):
        filters.validate_filter(flt)
    assert filters.explain(event, flt).clauses[0].test.startswith("StringIn data.modelName [[[[[[[")
    with pytest.raises(TypeError, match="event_types"):
        filters.lint({}, event_types=[deep])

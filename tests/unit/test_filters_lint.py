"""lint(): what Azure rejects, and the traps that make a subscription never fire."""

from __future__ import annotations

import pytest
from azure.eventgrid import SystemEventNames
from azure.mgmt.eventgrid import models as m

from amlevents_kit import events
from amlevents_kit.filters import lint, matches, subject_possible


def _messages(findings, severity=None):
    return [f"{f.field}: {f.message}" for f in findings if severity in (None, f.severity)]


def test_a_good_filter_has_no_findings():
    flt = m.EventSubscriptionFilter(
        included_event_types=[events.MODEL_REGISTERED], subject_begins_with="models/churn",
        advanced_filters=[m.StringInAdvancedFilter(key="data.modelTags.stage", values=["production"])])
    assert lint(flt) == []
    drift = {"includedEventTypes": [events.DATASET_DRIFT_DETECTED], "subjectBeginsWith": "datadrift/",
             "advancedFilters": [{"operatorType": "NumberGreaterThanOrEquals", "key": "data.driftCoefficient", "value": 0.5}]}
    assert lint(drift) == []


def test_guide_drift_prefix_can_never_match():
    flt = {"includedEventTypes": [events.DATASET_DRIFT_DETECTED], "subjectBeginsWith": "/datadriftID/runs/"}
    (finding,) = lint(flt)
    assert finding.severity == "error" and finding.field == "filter.subjectBeginsWith"
    assert "datadrift/{dataDriftId}/run/{runId}" in finding.message
    # …and the engine agrees on a real drift event.
    assert not matches(events.sample_event(events.DATASET_DRIFT_DETECTED), flt)


def test_prefix_possible_for_some_chosen_types_only_is_a_warning():
    flt = {"includedEventTypes": [events.MODEL_REGISTERED, events.RUN_COMPLETED], "subjectBeginsWith": "models/"}
    (finding,) = lint(flt)
    assert finding.severity == "warning" and "RunCompleted" in finding.message


@pytest.mark.parametrize("event_type,begins,ends,possible", [
    (events.MODEL_REGISTERED, "models/m", "", True),
    (events.MODEL_REGISTERED, "models/m:3", ":3", True),
    (events.MODEL_REGISTERED, "models/", "/", False),
    (events.MODEL_DEPLOYED, "endpoints/svc", "", True),
    (events.MODEL_DEPLOYED, "endpoints/a/b", "", False),
    (events.RUN_COMPLETED, "experiments/e/runs/", "", True),
    (events.RUN_COMPLETED, "experiments/e/run/", "", False),
    (events.DATASET_DRIFT_DETECTED, "datadrift/abc/runs/", "", False),
    (events.DATASET_DRIFT_DETECTED, "DATADRIFT/abc/run/x", "", True),
    (events.DATASET_DRIFT_DETECTED, "", "/run/", False),
])
def test_subject_possible(event_type, begins, ends, possible):
    assert subject_possible(event_type, begins=begins, ends=ends) is possible


def test_unknown_event_type_with_did_you_mean():
    findings = lint({"includedEventTypes": ["Microsoft.MachineLearningServices.ModelRegisterd"]})
    assert any("did you mean 'Microsoft.MachineLearningServices.ModelRegistered'" in msg for msg in _messages(findings, "error"))
    assert any("never receives an event" in msg for msg in _messages(findings, "error"))
    casing = lint({"includedEventTypes": [events.MODEL_REGISTERED.lower()]})
    assert "differs in casing" in casing[0].message and casing[0].field == "filter.includedEventTypes[0]"
    storage = lint({"includedEventTypes": ["Microsoft.Storage.BlobCreated"]})
    assert "does not exist for this topic" in storage[0].message


def test_event_types_of_the_topic_can_be_given():
    flt = {"includedEventTypes": ["Microsoft.Storage.BlobCreated"]}
    assert lint(flt, event_types=["Microsoft.Storage.BlobCreated"]) == []
    assert lint({"includedEventTypes": [events.MODEL_REGISTERED]},
                event_types=[SystemEventNames.MachineLearningServicesModelRegisteredEventName]) == []


def test_data_key_typo_did_you_mean():
    flt = {"includedEventTypes": [events.MODEL_REGISTERED],
           "advancedFilters": [{"operatorType": "StringIn", "key": "data.modelTages.stage", "values": ["production"]}]}
    (finding,) = lint(flt)
    assert finding.severity == "error" and finding.field == "filter.advancedFilters[0].key"
    assert "did you mean 'data.modelTags.stage'?" in finding.message


def test_key_casing_differs_from_schema():
    flt = {"includedEventTypes": [events.MODEL_REGISTERED],
           "advancedFilters": [{"operatorType": "StringIn", "key": "data.ModelTags.key1", "values": ["v"]}]}
    (finding,) = lint(flt)
    assert finding.severity == "warning" and "'modelTags'" in finding.message


def test_key_missing_from_some_types_and_type_mismatches():
    flt = {"includedEventTypes": [events.RUN_COMPLETED, events.RUN_STATUS_CHANGED],
           "advancedFilters": [{"operatorType": "StringIn", "key": "data.runStatus", "values": ["failed"]}]}
    (finding,) = lint(flt)
    assert finding.severity == "warning" and "RunCompleted events never match" in finding.message
    numbers = lint({"includedEventTypes": [events.DATASET_DRIFT_DETECTED], "advancedFilters": [
        {"operatorType": "StringIn", "key": "data.driftCoefficient", "values": ["0.5"]}]})
    assert numbers[0].severity == "error" and "is a number" in numbers[0].message
    whole = lint({"includedEventTypes": [events.MODEL_REGISTERED], "advancedFilters": [
        {"operatorType": "StringIn", "key": "data.modelTags", "values": ["production"]}]})
    assert "is an object" in whole[0].message


def test_envelope_and_cloudevent_keys():
    assert lint({"advancedFilters": [{"operatorType": "StringIn", "key": "Subject", "values": ["x"]}]}) == []
    (ce,) = lint({"advancedFilters": [{"operatorType": "StringIn", "key": "source", "values": ["x"]}]})
    assert ce.severity == "warning" and "'Topic'" in ce.message
    (bare,) = lint({"includedEventTypes": [events.MODEL_REGISTERED],
                    "advancedFilters": [{"operatorType": "StringIn", "key": "modelTags.stage", "values": ["x"]}]})
    assert bare.severity == "error" and "did you mean 'data.modelTags.stage'?" in bare.message


def test_azure_rejections_are_errors():
    flt = {"advancedFilters": [{"operatorType": "StringIn", "key": "data.modelName", "values": []}] * 26}
    messages = _messages(lint(flt), "error")
    assert any("at most 25" in msg for msg in messages)
    assert any("filter.advancedFilters[0].values: StringIn needs at least one value" in msg for msg in messages)
    (bad,) = lint({"advancedFilters": [{"operatorType": "Equals", "key": "k", "values": ["x"]}]})
    assert bad.field == "filter.advancedFilters[0].operatorType"


def test_ignored_or_literal_values_are_warned():
    findings = lint({"includedEventTypes": [events.MODEL_REGISTERED], "advancedFilters": [
        {"operatorType": "StringBeginsWith", "key": "data.modelName", "values": ["", "churn*"]},
        {"operatorType": "NumberInRange", "key": "data.modelVersion", "values": [[5, 1]]}]})
    text = " | ".join(map(str, findings))
    assert "empty string is ignored" in text and "no wildcards" in text and "range [5, 1] is empty" in text


def test_subject_wildcards_are_warned():
    (finding,) = lint({"includedEventTypes": [events.MODEL_REGISTERED], "subjectBeginsWith": "models/*"})
    assert finding.severity == "warning" and finding.field == "filter.subjectBeginsWith"

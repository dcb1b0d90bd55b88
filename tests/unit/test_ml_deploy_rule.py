"""The deploy-by-tags rule: its checks, the filter it subscribes with, and the deployment names it picks."""

from __future__ import annotations

import re

import pytest

from amlevents_kit import events, filters
from amlevents_kit.deploy import DeploymentRule, deployment_name

WS = events.workspace_topic("5f7e3b2a-8c1d-4e6f-9a0b-1c2d3e4f5a6b", "amlevents-rg", "amlevents-ws")


def rule(**kw):
    return DeploymentRule(**{"workspace_id": WS, "tags": {"ncd": "true", "stage": ["production", "prod"]},
                             "endpoint": "churn-ep", **kw})


def registered(tags):
    return events.model_registered(topic=WS, model_name="churn", model_version="4", model_tags=tags)


@pytest.mark.parametrize("tags, passes", [
    ({"ncd": "true", "stage": "production"}, True),
    ({"ncd": "TRUE", "stage": "prod", "extra": "x"}, True),   # StringIn compares values case-insensitively
    ({"ncd": "true"}, False),
    ({"ncd": "false", "stage": "production"}, False),
    ({}, False),
])
def test_the_subscription_filter_and_the_handler_agree(tags, passes):
    r = rule()
    assert filters.matches(registered(tags), {"properties": {"filter": r.event_filter()}}) is passes
    assert (r.mismatches(tags) == []) is passes


def test_the_filter_is_the_rest_shape_event_grid_stores():
    body = rule().event_subscription("https://example.org/api/events")
    flt = body["properties"]["filter"]
    assert flt["includedEventTypes"] == [events.MODEL_REGISTERED]
    assert flt["advancedFilters"] == [
        {"operatorType": "StringIn", "key": "data.modelTags.ncd", "values": ["true"]},
        {"operatorType": "StringIn", "key": "data.modelTags.stage", "values": ["production", "prod"]}]
    assert filters.lint(flt) == []
    typo = {**flt, "advancedFilters": [{**flt["advancedFilters"][0], "key": "data.modelTages.ncd"}]}
    assert "did you mean 'data.modelTags.ncd'" in str(filters.lint(typo)[0])  # the v1 sample's typo
    sdk = rule().to_event_subscription("https://example.org/api/events")
    assert [f.key for f in sdk.filter.advanced_filters] == ["data.modelTags.ncd", "data.modelTags.stage"]


@pytest.mark.parametrize("kwargs, field", [
    ({"tags": {}}, "DeploymentRule.tags"),
    ({"tags": {"ncd": []}}, "DeploymentRule.tags['ncd']"),
    ({"endpoint": "9bad"}, "DeploymentRule.endpoint"),
    ({"traffic": 120}, "DeploymentRule.traffic"),
    ({"instance_count": 0}, "DeploymentRule.instance_count"),
])
def test_bad_rules_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        rule(**kwargs)


def test_deployment_names_are_stable_valid_and_short():
    assert deployment_name("churn", "4") == "churn-v4"          # already clean: kept as it is
    assert deployment_name("lesson05-iris", "1") == "lesson05-iris-v1"
    assert re.fullmatch(r"churn-model-v2-v10-[0-9a-f]{6}", deployment_name("Churn_Model.v2", "10"))
    assert deployment_name("7up", "1").startswith("m-")
    long = deployment_name("a" * 60, "1")
    assert len(long) <= 32 and long == deployment_name("a" * 60, "1") != deployment_name("a" * 61, "1")


def test_names_the_clean_up_would_merge_get_distinct_deployments():
    names = ["my_model", "my-model", "My.Model", "my--model", "MY-MODEL", "my model", "A" * 60, "a" * 60]
    deployments = [deployment_name(n, "1") for n in names]
    assert len(set(deployments)) == len(names), deployments
    for d in deployments:
        assert re.fullmatch(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", d), d
    assert deployment_name("my-model", "1") == "my-model-v1"
    assert deployment_name("my_model", "1") == deployment_name("my_model", "1")   # stable for redeliveries


def test_the_handler_thread_prints_nothing_other_threads_still_do(capsys):
    import sys
    import threading

    from amlevents_kit.deploy import _silenced_here
    before = sys.stdout
    with _silenced_here():
        print(".", end="", flush=True)   # what azure-ai-ml's poller prints on every poll
        other = threading.Thread(target=print, args=("from another thread",))
        poller = threading.Thread(target=print, args=(".",), name="LROPoller(1234)")  # azure-core's poll thread
        for thread in (other, poller):
            thread.start()
            thread.join()
    assert sys.stdout is before
    assert capsys.readouterr().out == "from another thread\n"

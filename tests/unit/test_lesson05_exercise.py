"""Lesson 05's exercise check really checks the learner's answer: wrong filters and wrong events fail it."""

from __future__ import annotations

import copy
from pathlib import Path

import jupytext
import pytest

from amlevents_kit import events, filters
from amlevents_kit.deploy import DeploymentRule, deploy_on_model_registered

SOURCE = Path(__file__).resolve().parents[2] / "notebooks" / "src" / "05_tag_based_deployment.py"


def _cells():
    return jupytext.read(SOURCE, fmt="py:percent").cells


def _check_cell() -> str:
    [check] = [c.source for c in _cells() if c.cell_type == "code" and c.source.lstrip().startswith("# Check")]
    return check


@pytest.fixture
def lesson(target):
    """What the lesson has defined by the time the learner runs the Check."""
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true", "stage": "production"},
                          endpoint="lesson05-ep", instance_type="Standard_DS3_v2")
    return {"target": target, "rule": rule, "ml": target.ml_client(), "events": events, "filters": filters,
            "deploy_on_model_registered": deploy_on_model_registered}


def _solution(lesson) -> dict:
    [solution] = [c.source for c in _cells() if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
    namespace = dict(lesson)
    exec(solution, namespace)
    return {"contains_filter": namespace["contains_filter"], "sneaky": namespace["sneaky"]}


def _run_check(lesson, answer) -> None:
    exec(_check_cell(), {**lesson, **answer})


def test_the_solution_is_under_a_solution_heading_and_passes_the_check(lesson, capsys):
    cells = _cells()
    at = next(i for i, c in enumerate(cells) if "solution" in c.metadata.get("tags", []))
    assert cells[at - 1].cell_type == "markdown" and cells[at - 1].source.strip().startswith("### Solution")
    assert cells[at].metadata.get("jupyter", {}).get("source_hidden") is True
    assert not any("contains_filter =" in c.source for c in cells[:at - 1] if c.cell_type == "code")  # not pre-filled
    _run_check(lesson, _solution(lesson))
    assert "StringContains lets 'untrue' through" in capsys.readouterr().out


def _with_filters(answer, advanced):
    changed = copy.deepcopy(answer)
    changed["contains_filter"] = {"includedEventTypes": [events.MODEL_REGISTERED], **advanced}
    return changed


def _with_ncd(lesson, answer, ncd, **more):
    changed = copy.deepcopy(answer)
    tags = {"ncd": ncd, "stage": "production", **more}
    changed["sneaky"] = events.model_registered(topic=lesson["target"].workspace_id, model_name="lesson05-iris",
                                                model_version="9", model_tags=tags)
    return changed


@pytest.mark.parametrize("wrong", [
    {},                                                                                  # only includedEventTypes
    {"advancedFilters": [{"operatorType": "StringIn", "key": "data.modelTags.ncd", "values": ["true"]}]},
    {"advancedFilters": [{"operatorType": "StringContains", "key": "data.modelTages.ncd", "values": ["true"]}]},
    {"advancedFilters": [{"operatorType": "StringContains", "key": "data.modelTags.ncd", "values": ["tru", "true"]}]},
    {"advancedFilters": [{"operatorType": "StringContains", "key": "data.modelTags.ncd", "values": ["true"]},
                         {"operatorType": "StringContains", "key": "data.modelTags.ncd", "values": ["true"]}]},
])
def test_a_wrong_filter_fails_the_check(lesson, wrong):
    with pytest.raises(AssertionError):
        _run_check(lesson, _with_filters(_solution(lesson), wrong))


def test_a_filter_that_drops_every_registration_fails_the_check(lesson):
    answer = _solution(lesson)
    answer["contains_filter"]["includedEventTypes"] = [events.MODEL_DEPLOYED]
    with pytest.raises(AssertionError, match="ncd=true through"):
        _run_check(lesson, answer)


@pytest.mark.parametrize("ncd, message", [
    ("true", "which our rule accepts too"),
    ("TRUE", "which our rule accepts too"),       # StringIn and the handler ignore case
    ("false", "should let sneaky through"),       # the sample's filter drops it as well
])
def test_a_sneaky_event_that_is_not_sneaky_fails_the_check(lesson, ncd, message):
    with pytest.raises(AssertionError, match=message):
        _run_check(lesson, _with_ncd(lesson, _solution(lesson), ncd))


def test_other_answers_that_are_right_pass(lesson):
    answer = _with_ncd(lesson, _solution(lesson), "trueish")
    answer["contains_filter"]["advancedFilters"].append(
        {"operatorType": "StringIn", "key": "data.modelTags.stage", "values": ["production"]})
    _run_check(lesson, answer)

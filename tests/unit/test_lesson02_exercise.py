"""Lesson 02: what it says about never-retried codes matches the engine, and its exercise
lets the learner try first and checks the learner's own subscription (the check can fail).
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.eventgrid.models import (EventSubscription, EventSubscriptionFilter, StringInAdvancedFilter,
                                         WebHookEventSubscriptionDestination)

from amlevents_kit import events
from amlevents_kit.sandbox.delivery import policy

SOURCE = Path(__file__).resolve().parents[2] / "notebooks" / "src" / "02_create_event_subscription.py"


@pytest.fixture(scope="module")
def cells():
    return jupytext.read(SOURCE, fmt="py:percent").cells


def index_of(cells, test) -> int:
    (found,) = [i for i, c in enumerate(cells) if test(c)]
    return found


def test_the_never_retried_codes_the_lesson_names_are_the_engines(cells):
    text = " ".join(c.source.replace("\n#", " ").replace("\n", " ") for c in cells if c.cell_type == "markdown")
    m = re.search(r"never retried: ([\d, and]+?), and for webhooks (\d+) too", text)
    assert m, "the lesson should say which answers are never retried"
    both = {int(n) for n in re.findall(r"\d+", m.group(1))}
    assert both == set(policy.NEVER_RETRIED_AZURE_RESOURCE)
    assert both | {int(m.group(2))} == set(policy.NEVER_RETRIED_WEBHOOK)
    assert policy.retry_delay(1, 401, "AzureFunction") >= 300 and "after 5 minutes at least" in text


def test_the_exercise_has_an_empty_answer_cell_then_a_folded_solution_then_the_check(cells):
    exercise = index_of(cells, lambda c: c.cell_type == "markdown" and c.source.startswith("## Exercise"))
    solution_heading = index_of(cells, lambda c: c.cell_type == "markdown" and c.source.startswith("### Solution"))
    solution = index_of(cells, lambda c: c.cell_type == "code" and c.source.startswith("# Solution"))
    check = index_of(cells, lambda c: c.cell_type == "code" and c.source.startswith("# Check"))
    assert exercise < solution_heading < solution < check
    answer_cells = [c for c in cells[exercise + 1:solution_heading] if c.cell_type == "code"]
    assert answer_cells and all("begin_create_or_update" not in c.source for c in answer_cells)
    assert "lesson02-failed-runs" in cells[solution].source
    assert cells[solution].metadata.get("tags") == ["solution"]
    assert cells[solution].metadata.get("jupyter", {}).get("source_hidden") is True


@pytest.fixture
def lesson(cells, target, eg, receiver):
    """The names the exercise's cells use, as the lesson has them by then."""
    sandbox = target.sandbox
    sandbox.clock.freeze()
    namespace = {"target": target, "eg": eg, "receiver": receiver, "events": events, "sandbox": sandbox,
                 "engine": sandbox.service("delivery"), "eventgrid": sandbox.backends["eventgrid"],
                 "EventSubscription": EventSubscription, "EventSubscriptionFilter": EventSubscriptionFilter,
                 "WebHookEventSubscriptionDestination": WebHookEventSubscriptionDestination}
    source = {name: cells[index_of(cells, lambda c: c.cell_type == "code" and c.source.startswith(name))].source
              for name in ("# Solution", "# Check")}
    return namespace, source


def learner_answer(namespace: dict, filters) -> None:
    namespace["eg"].event_subscriptions.begin_create_or_update(
        namespace["target"].workspace_id, "lesson02-failed-runs", EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=namespace["receiver"].url),
            filter=EventSubscriptionFilter(included_event_types=[events.RUN_STATUS_CHANGED],
                                           advanced_filters=filters))).result()


def test_the_check_fails_without_an_answer(lesson):
    namespace, source = lesson
    with pytest.raises(ResourceNotFoundError):
        exec(source["# Check"], namespace)


def test_the_check_fails_for_a_subscription_that_lets_every_run_through(lesson):
    namespace, source = lesson
    learner_answer(namespace, None)
    with pytest.raises(AssertionError, match="Running"):
        exec(source["# Check"], namespace)


def test_the_check_passes_for_the_learners_right_answer_and_for_the_solution(lesson, capsys):
    namespace, source = lesson
    learner_answer(namespace, [StringInAdvancedFilter(key="data.runStatus", values=["failed"])])
    exec(source["# Check"], namespace)
    exec(source["# Solution"], namespace)
    exec(source["# Check"], namespace)  # run again: the check counts only what arrives during it
    assert capsys.readouterr().out.count("Only the failed run reached the handler.") == 2

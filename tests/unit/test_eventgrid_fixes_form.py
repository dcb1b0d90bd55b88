"""The subscription form's Create button: nothing fails silently (review fix).

An ipywidgets button handler that raises is only logged in JupyterLab's log console, so the learner
would see nothing: the form refuses to create while the lint finds errors, and shows any other
failure in its result output.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.eventgrid import EventGridManagementClient

from amlevents_kit.sandbox import defaults
from amlevents_kit.widgets.subscription import SubscriptionForm

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"


@pytest.fixture
def registered(target):
    target.sandbox.backends["resources"].register(defaults.SUBSCRIPTION_ID, "Microsoft.EventGrid")
    target.sandbox.clock.advance(seconds=5)
    return target


def text(output) -> str:
    return "".join(o.get("text", "") for o in output.outputs)


def form_for(target, url: str) -> SubscriptionForm:
    form = SubscriptionForm(target, name="form-checked", endpoint=url)
    form.types[MODEL_REGISTERED].value = True
    return form


def assert_not_created(target) -> None:
    eg = target.client(EventGridManagementClient)
    with pytest.raises(ResourceNotFoundError):
        eg.event_subscriptions.get(target.workspace_id, "form-checked")


def test_a_bad_number_in_a_filter_is_refused_in_the_form(registered, receiver):
    form = form_for(registered, receiver.url)
    form.add_filter("data.driftCoefficient", "NumberGreaterThan", "abc")
    form.create_button.click()
    out = text(form.result_out)
    assert out.startswith("not created: the lint found 1 error(s)"), out
    assert "error" in text(form.lint_out)
    assert form.created is None and receiver.deliveries == []
    assert_not_created(registered)


def test_a_filter_that_never_matches_is_refused_until_it_is_fixed(registered, receiver):
    form = form_for(registered, receiver.url)
    form.subject_begins.value = "endpoints/"  # a ModelRegistered subject never begins with that
    form.create_button.click()
    assert text(form.result_out).startswith("not created: the lint found")
    assert_not_created(registered)
    form.subject_begins.value = "models/"
    form.create_button.click()
    assert text(form.result_out).startswith("form-checked: Succeeded"), text(form.result_out)


def test_any_other_failure_is_shown_in_the_form(registered, receiver, monkeypatch):
    form = form_for(registered, receiver.url)

    def broken():
        raise ConnectionError("the network went away")

    monkeypatch.setattr(form, "create", broken)
    form.create_button.click()  # nothing escapes from the button's handler
    assert text(form.result_out) == "not created: ConnectionError: the network went away\n"

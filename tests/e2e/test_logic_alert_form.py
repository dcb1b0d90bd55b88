"""The alert form builds the same plan as the builder, shows its lint, and deploys it."""

from __future__ import annotations

from azure.mgmt.logic import LogicManagementClient

from amlevents_kit.providers import ensure_providers
from amlevents_kit.widgets.alert import AlertForm


def _text(output) -> str:
    return "".join(o.get("text", "") for o in output.outputs)


def test_form_builds_lints_and_deploys(target):
    ensure_providers(target, quiet=True)
    form = AlertForm(target, name="form-alert", event_types=("RunCompleted",), subject_prefix="/datadriftID/runs/")
    form.use_condition.value = True
    form.value.value = "churn"
    plan = form.build()
    assert plan.definition["actions"]["Condition"]["expression"] == \
        {"equals": ["@triggerBody()?['data']?['experimentName']", "churn"]}
    assert "never matches" in _text(form.out)           # the guide's prefix, caught before deploying
    form.prefix.value = "experiments/"
    form.deploy_button.click()
    assert form.deployed is not None and "Deployed 'form-alert'" in _text(form.out)
    logic = target.client(LogicManagementClient)
    assert logic.workflows.get(target.resource_group, "form-alert").state == "Enabled"


def test_form_reports_errors_instead_of_raising(target):
    form = AlertForm(target, name="x")
    for box in form.types.values():
        box.value = False
    assert form.build() is None and "at least one event type" in _text(form.out)
    form.types["Microsoft.MachineLearningServices.RunCompleted"].value = True
    form.deploy_button.click()                           # Event Grid not registered: the deploy fails, visibly
    assert form.deployed is None and "Deploy failed" in _text(form.out)

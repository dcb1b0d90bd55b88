"""The deployment-rule form, driven without a browser: set values, click, assert."""

from __future__ import annotations

import json

import pytest
from azure.mgmt.eventgrid import EventGridManagementClient

from amlevents_kit.providers import ensure_providers
from amlevents_kit.receiver import Receiver
from amlevents_kit.deploy import TagDeployer
from amlevents_kit.widgets.deployment import DeploymentRuleForm, parse_conditions


def test_parse_conditions_names_the_bad_line():
    assert parse_conditions("ncd = true\n# a comment\nstage = production, prod") == {
        "ncd": ["true"], "stage": ["production", "prod"]}
    with pytest.raises(ValueError, match="line 2"):
        parse_conditions("ncd = true\nstage")


def test_preview_shows_the_subscription_and_errors(target):
    form = DeploymentRuleForm(target, endpoint_url="https://example.org/api/events")
    body = json.loads(json.dumps(form.subscription_body()))
    assert body["properties"]["filter"]["advancedFilters"][1] == {
        "operatorType": "StringIn", "key": "data.modelTags.stage", "values": ["production"]}
    assert "data.modelTags.ncd" in form.preview.value and "eventSubscriptions/deploy-by-tags" in form.preview.value
    form.endpoint.value = "1-bad"
    form.preview_button.click()
    assert form.rule is None and "DeploymentRule.endpoint" in form.preview.value


def test_create_button_makes_the_subscription(target):
    ensure_providers(target, quiet=True)
    with Receiver() as rx:
        rx.start()
        form = DeploymentRuleForm(target, endpoint_url=rx.url, conditions="ncd = true")
        form.create_button.click()
        assert form.out.outputs[0]["text"] == "deploy-by-tags: Succeeded\n"
    eg = target.client(EventGridManagementClient)
    created = eg.event_subscriptions.get(target.workspace_id, "deploy-by-tags")
    assert [f.key for f in created.filter.advanced_filters] == ["data.modelTags.ncd"]


def test_the_endpoint_and_instance_type_reach_the_preview_and_the_handler(target):
    form = DeploymentRuleForm(target, endpoint_url="https://example.org/api/events", endpoint="churn-ep")
    form.instance_type.value = "Standard_F4s_v2"
    form.preview_button.click()
    assert "The handler deploys to endpoint churn-ep on Standard_F4s_v2." in form.preview.value
    ml = object()   # the handler only keeps the client until an event comes
    deployer = form.deployer(ml)
    assert isinstance(deployer, TagDeployer) and deployer.ml_client is ml
    assert (deployer.rule.endpoint, deployer.rule.instance_type) == ("churn-ep", "Standard_F4s_v2")
    assert deployer.rule.tags == {"ncd": ["true"], "stage": ["production"]}
    form.endpoint.value = "other-ep"   # the handler follows the form as it is when asked for
    assert form.deployer(ml).rule.endpoint == "other-ep"


def test_the_forms_handler_deploys_on_the_forms_instance_type(target, tmp_path):
    import pickle

    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model
    from sklearn.dummy import DummyClassifier

    from amlevents_kit import events
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.pkl").write_bytes(pickle.dumps(DummyClassifier().fit([[0], [1]], [0, 1])))
    (tmp_path / "m" / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
    ml.models.create_or_update(Model(path=str(tmp_path / "m"), name="dummy", type=AssetTypes.MLFLOW_MODEL,
                                     tags={"ncd": "true"}))
    form = DeploymentRuleForm(target, conditions="ncd = true", endpoint="form-ep")
    form.instance_type.value = "Standard_E4s_v3"
    [registered] = target.sandbox.backends["machinelearningservices"].events(events.MODEL_REGISTERED)
    assert form.deployer(ml)(registered).action == "deployed"
    assert ml.online_deployments.get("dummy-v1", "form-ep").instance_type == "Standard_E4s_v3"


def test_a_form_that_makes_no_rule_says_why_in_plain_text(target):
    form = DeploymentRuleForm(target, endpoint_url="https://example.org/api/events", conditions="ncd")
    for call in (form.create, lambda: form.deployer(object())):
        with pytest.raises(ValueError) as err:
            call()
        message = str(err.value)
        assert message.startswith("tag condition line 1 ('ncd')") and "<" not in message, message

"""The deployment-rule form, driven without a browser: set values, click, assert."""

from __future__ import annotations

import json

import pytest
from azure.mgmt.eventgrid import EventGridManagementClient

from amlevents_kit.providers import ensure_providers
from amlevents_kit.receiver import Receiver
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

"""Request bodies of Microsoft.MachineLearningServices with a wrong type inside: a 400 naming the field, not a 500."""

from __future__ import annotations

import json

import pytest

from amlevents_kit.sandbox import defaults
from amlevents_kit.sandbox.providers.machinelearningservices import validation as shapes

WS = defaults.WORKSPACE_ID
API = "?api-version=2025-12-01"


@pytest.fixture
def registered(sandbox):
    sandbox.backends["resources"].register(defaults.SUBSCRIPTION_ID, "Microsoft.MachineLearningServices")
    sandbox.clock.advance(seconds=5)
    return sandbox


def put(sandbox, path: str, body) -> tuple[int, dict]:
    status, _, out = sandbox.handle("PUT", f"https://management.azure.com{WS}{path}{API}",
                                    {"Content-Type": "application/json"}, json.dumps(body).encode())
    return status, json.loads(out) if out else {}


@pytest.mark.parametrize("path, body, field, allowed", [
    ("/models/m", {"properties": 12345}, "properties", "a JSON object"),
    ("/models/m", {"properties": {"tags": ["a"]}}, "properties.tags", "a JSON object of string"),
    ("/models/m/versions/1", {"properties": {"modelUri": 5}}, "properties.modelUri", "a string"),
    ("/models/m/versions/1", {"properties": {"modelUri": "azureml://x", "tags": {"k": {"v": 1}}}},
     "properties.tags.k", "a string, a number or true/false"),
    ("/codes/c/versions/1", {"properties": "a string"}, "properties", "a JSON object"),
    ("/jobs/j", {"properties": {"jobType": "Command", "properties": -1}}, "properties.properties",
     "a JSON object of string"),
    ("/jobs/j", {"properties": {"jobType": "Command", "inputs": {"x": "not an object"}}}, "properties.inputs.x",
     "a JSON object"),
    ("/onlineEndpoints/ep-one", {"properties": {"traffic": "a string"}}, "properties.traffic",
     "deployment name to an integer from 0 to 100"),
    ("/onlineEndpoints/ep-one", {"properties": {"traffic": {"blue": "abc"}}}, "properties.traffic.blue",
     "an integer from 0 to 100"),
    ("/onlineEndpoints/ep-one", {"properties": {"traffic": {"blue": None}}}, "properties.traffic.blue",
     "an integer from 0 to 100"),
    ("/onlineEndpoints/ep-one", {"properties": {"traffic": {"blue": True}}}, "properties.traffic.blue",
     "an integer from 0 to 100"),
])
def test_a_wrong_type_is_a_400_naming_the_field_and_what_is_allowed(registered, path, body, field, allowed) -> None:
    status, answer = put(registered, path, body)
    assert status == 400, answer
    assert answer["error"]["code"] == "InvalidRequestContent"
    message = answer["error"]["message"]
    assert f"of '{field}' is invalid" in message and allowed in message, message


def test_a_long_wrong_value_is_shortened_in_the_message(registered) -> None:
    status, answer = put(registered, "/models/m", {"properties": {"description": ["x" * 10_000]}})
    assert status == 400 and len(answer["error"]["message"]) < 300, answer
    assert "(a list of length 1)" in answer["error"]["message"]


def test_deployment_sku_and_code_configuration_are_checked(registered) -> None:
    assert put(registered, "/onlineEndpoints/ep-two", {"properties": {"authMode": "Key"}})[0] == 201
    status, answer = put(registered, "/onlineEndpoints/ep-two/deployments/blue",
                         {"sku": "big", "properties": {"model": "azureml:m:1"}})
    assert status == 400 and "'sku'" in answer["error"]["message"]
    status, answer = put(registered, "/onlineEndpoints/ep-two/deployments/blue",
                         {"properties": {"model": "azureml:m:1", "codeConfiguration": {"scoringScript": 1}}})
    assert status == 400 and "'properties.codeConfiguration.scoringScript'" in answer["error"]["message"]


def test_what_azure_ai_ml_sends_fits(registered) -> None:
    """Numbers inside string maps (azure-ai-ml sends ``hash_version: 202208``), nulls and unknown fields pass."""
    shapes.check({"properties": {"properties": {"hash_version": 202208, "x": None}, "codeUri": "azureml://c",
                                 "somethingNew": [1]}}, shapes.CODE_VERSION)
    shapes.check({"properties": {"traffic": {"blue": 100, "green": 0}, "description": None}}, shapes.ENDPOINT)
    shapes.check(None, shapes.GET_LOGS)

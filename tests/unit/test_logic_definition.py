"""Create-time checks of workflow definitions: Azure's refusals and the sandbox runner's limits."""

from __future__ import annotations

import copy

import pytest

from amlevents_kit import workflows as wf
from amlevents_kit.sandbox.arm.errors import ArmError
from amlevents_kit.sandbox.providers.logic import definition as defn

TOPIC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
CONNECTIONS = {"$connections": {"value": {api: {"connectionId": f"/x/{api}"}
                                          for api in ("azureeventgrid", "office365", "azuredatafactory")}}}


def base() -> dict:
    trigger = wf.eventgrid_trigger(TOPIC, event_types=["RunCompleted"], subject_begins_with="experiments/")
    actions = {"Condition": wf.condition(wf.equals("@triggerBody()?['eventType']", "x"),
                                         actions={"Send_an_email_(V2)": wf.send_email(to="a@b.c")})}
    return wf.definition(trigger, actions)


def refuse(definition: dict, parameters: dict | None = None) -> ArmError:
    with pytest.raises(ArmError) as info:
        defn.validate(definition, CONNECTIONS if parameters is None else parameters)
    assert info.value.status == 400
    return info.value


def test_the_builders_definition_is_accepted():
    defn.validate(base(), CONNECTIONS)


def test_unsupported_action_type_names_type_and_path():
    d = base()
    d["actions"]["Condition"]["actions"]["Loop"] = {"type": "Foreach", "foreach": "@triggerBody()", "actions": {}}
    err = refuse(d)
    assert err.code == "SandboxUnsupportedDefinition"
    assert "'Foreach'" in err.message and "definition.actions.Condition.actions.Loop.type" in err.message


def test_unsupported_trigger_type():
    d = base()
    d["triggers"] = {"Every_hour": {"type": "Recurrence", "recurrence": {"frequency": "Hour", "interval": 1}}}
    err = refuse(d)
    assert "'Recurrence'" in err.message and "definition.triggers.Every_hour.type" in err.message


def test_unknown_connector_operation():
    d = base()
    d["actions"]["Condition"]["actions"]["Send_an_email_(V2)"]["inputs"]["path"] = "/v2/Calendar"
    err = refuse(d)
    assert "/v2/Calendar" in err.message and err.code == "SandboxUnsupportedDefinition"


def test_bad_expression_names_path_and_position():
    d = base()
    d["actions"]["Condition"]["actions"]["Send_an_email_(V2)"]["inputs"]["body"]["Subject"] = \
        "Run @{triggerBody()?['subject'}"
    err = refuse(d)
    assert err.code == "InvalidTemplate"
    assert "definition.actions.Condition.actions.Send_an_email_(V2).inputs.body.Subject" in err.message
    assert "expected ']'" in err.message


def test_unknown_function_is_named():
    d = base()
    d["actions"]["Condition"]["expression"] = {"equals": ["@xpath(triggerBody(), '/a')", "x"]}
    err = refuse(d)
    assert "'xpath'" in err.message and "definition.actions.Condition.expression.equals[0]" in err.message


def test_unknown_condition_operator():
    d = base()
    d["actions"]["Condition"]["expression"] = {"matches": ["a", "b"]}
    assert "'matches'" in refuse(d).message


def test_reference_to_a_missing_action():
    d = base()
    d["actions"]["Compose"] = {"type": "Compose", "inputs": "@body('Nope')", "runAfter": {}}
    err = refuse(d)
    assert "'Nope'" in err.message and "definition.actions.Compose.inputs" in err.message


def test_run_after_must_name_a_sibling_and_not_loop():
    d = base()
    d["actions"]["A"] = {"type": "Compose", "inputs": 1, "runAfter": {"B": ["Succeeded"]}}
    d["actions"]["B"] = {"type": "Compose", "inputs": 1, "runAfter": {"A": ["Succeeded"]}}
    assert "cycle" in refuse(d).message
    d["actions"]["B"]["runAfter"] = {"Ghost": ["Succeeded"]}
    assert "'Ghost'" in refuse(d).message


def test_missing_connection_is_caught_at_create():
    err = refuse(base(), {})
    assert "'azureeventgrid'" in err.message and "$connections" in err.message


def test_undeclared_parameter():
    d = base()
    d["actions"]["Compose"] = {"type": "Compose", "inputs": "@parameters('threshold')", "runAfter": {}}
    assert "'threshold'" in refuse(d).message


def test_list_callback_url_only_in_triggers():
    d = base()
    d["actions"]["Compose"] = {"type": "Compose", "inputs": "@listCallbackUrl()", "runAfter": {}}
    assert "listCallbackUrl" in refuse(d).message


def test_connector_paths_are_recognised():
    email = wf.send_email(to="a@b.c")["inputs"]
    run = wf.create_pipeline_run(subscription_id="s", resource_group="rg", factory="f", pipeline="p")["inputs"]
    assert defn.connector_operation(email) == "send_email"
    assert defn.connector_operation(run) == "create_pipeline_run"
    assert defn.plain_path(run["path"]).endswith("/factories/f/pipelines/p/CreateRun")


def test_the_guides_drift_workflow_shape_is_accepted():
    d = copy.deepcopy(base())
    d["triggers"]["When_a_resource_event_occurs"]["inputs"]["body"]["properties"]["filter"] = {
        "includedEventTypes": ["Microsoft.MachineLearningServices.DatasetDriftDetected"]}
    d["actions"] = {"Create_a_pipeline_run": wf.create_pipeline_run(
        subscription_id="s", resource_group="rg", factory="f", pipeline="p",
        parameters={"driftRunId": "@{triggerBody()?['data']?['runId']}"})}
    defn.validate(d, CONNECTIONS)


def test_action_names_are_unique_across_scopes():
    d = base()
    d["actions"]["Send_an_email_(V2)"] = wf.send_email(to="x@y.z")
    err = refuse(d)
    assert "'Send_an_email_(V2)'" in err.message and "unique" in err.message

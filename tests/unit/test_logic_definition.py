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


def _email(d: dict) -> dict:
    return d["actions"]["Condition"]["actions"]["Send_an_email_(V2)"]


def _trigger(d: dict) -> dict:
    return d["triggers"]["When_a_resource_event_occurs"]


EMAIL_PATH = "definition.actions.Condition.actions.Send_an_email_(V2)"
TRIGGER_PATH = "definition.triggers.When_a_resource_event_occurs"
HTTP = {"type": "Http", "runAfter": {}, "inputs": {"method": "GET", "uri": "https://example.org/"}}


@pytest.mark.parametrize("change, path, words", [
    (lambda d: _trigger(d).update(splitOn="@triggerBody()?['data']"), f"{TRIGGER_PATH}.splitOn",
     "a splitOn other than '@triggerBody()'"),
    (lambda d: d["actions"].update(Call={**HTTP, "inputs": {**HTTP["inputs"], "authentication": {
        "type": "ManagedServiceIdentity"}}}), "definition.actions.Call.inputs.authentication",
     "authentication on an action"),
    (lambda d: _email(d)["inputs"].update(retryPolicy={"type": "fixed", "count": 3, "interval": "PT5S"}),
     f"{EMAIL_PATH}.inputs.retryPolicy", 'a retry policy other than {"type": "none"}'),
    (lambda d: _email(d).update(limit={"timeout": "PT10S"}), f"{EMAIL_PATH}.limit", "an action time limit"),
    (lambda d: d["actions"].update(Call={**HTTP, "operationOptions": "DisableAsyncPattern"}),
     "definition.actions.Call.operationOptions", "operationOptions"),
    (lambda d: _trigger(d).update(operationOptions="SingleInstance"), f"{TRIGGER_PATH}.operationOptions",
     "operationOptions"),
    (lambda d: _trigger(d).update(runtimeConfiguration={"concurrency": {"runs": 1}}),
     f"{TRIGGER_PATH}.runtimeConfiguration", "runtimeConfiguration"),
    (lambda d: _email(d).update(runtimeConfiguration={"secureData": {"properties": ["inputs"]}}),
     f"{EMAIL_PATH}.runtimeConfiguration", "runtimeConfiguration"),
    (lambda d: _email(d).update(trackedProperties={"run": "@triggerBody()?['subject']"}),
     f"{EMAIL_PATH}.trackedProperties", "trackedProperties"),
    (lambda d: _trigger(d).update(conditions=[{"expression": "@true"}]), f"{TRIGGER_PATH}.conditions",
     "trigger conditions"),
    (lambda d: d.update(outputs={"sent": {"type": "String", "value": "yes"}}), "definition.outputs",
     "the workflow's outputs"),
    (lambda d: d.update(staticResults={"x": {"status": "Succeeded"}}), "definition.staticResults",
     "static results"),
    (lambda d: d["actions"]["Condition"]["else"].update(runAfter={}), "definition.actions.Condition.else.runAfter",
     "the property 'runAfter' of a condition's else"),
    (lambda d: _email(d).update(runafter={}), f"{EMAIL_PATH}.runafter", "Did you mean 'runAfter'?"),
])
def test_what_the_runner_would_ignore_is_refused_with_its_path(change, path, words):
    """Each of these was accepted and then silently ignored by the runner."""
    d = base()
    change(d)
    err = refuse(d)
    assert err.code == "SandboxUnsupportedDefinition"
    assert f"(at '{path}')" in err.message and words in err.message
    assert "It reads" in err.message or "Use \"splitOn\"" in err.message or "Leave it empty" in err.message \
        or 'Write "retryPolicy"' in err.message


def test_request_trigger_relative_path_and_methods_other_than_post_are_refused():
    d = base()
    d["triggers"] = {"manual": {"type": "Request", "kind": "Http", "inputs": {"schema": {}, "relativePath": "/x/{id}"}}}
    assert "definition.triggers.manual.inputs.relativePath" in refuse(d).message
    d["triggers"]["manual"]["inputs"] = {"method": "GET"}
    err = refuse(d)
    assert "definition.triggers.manual.inputs.method" in err.message and "POST only" in err.message


def test_what_the_runner_does_anyway_and_notes_are_accepted():
    d = base()
    _email(d)["inputs"]["retryPolicy"] = {"type": "none"}              # one attempt: what the runner does
    _email(d)["metadata"] = {"operationMetadataId": "f6c5"}            # the designer's bookkeeping
    _trigger(d)["description"] = "Runs of the churn experiment"
    d["triggers"]["manual"] = {"type": "Request", "kind": "Http", "inputs": {"schema": {}, "method": "POST"},
                               "splitOn": "@triggerBody()"}
    defn.validate(d, CONNECTIONS)


@pytest.mark.parametrize("change, path", [
    (lambda d: d["actions"].update(Call={**HTTP, "inputs": "https://example.org/"}), "definition.actions.Call.inputs"),
    (lambda d: _email(d).update(inputs=["To"]), f"{EMAIL_PATH}.inputs"),
    (lambda d: d["actions"]["Condition"].update({"else": "nothing"}), "definition.actions.Condition.else"),
    (lambda d: d["actions"]["Condition"].update(actions=[{"type": "Compose"}]), "definition.actions.Condition.actions"),
    (lambda d: d["actions"]["Condition"].update(runAfter={}) or d["actions"].update(
        Later={"type": "Compose", "inputs": 1, "runAfter": {"Condition": [["Succeeded"]]}}),
     "definition.actions.Later.runAfter.Condition"),
    (lambda d: d["parameters"].update(threshold=0.5), "definition.parameters.threshold"),
])
def test_shapes_that_crashed_the_checker_are_invalid_templates(change, path):
    """These raised AttributeError/TypeError in the checker: a 500 at create instead of a 400."""
    d = base()
    change(d)
    err = refuse(d)
    assert err.code == "InvalidTemplate" and f"(at '{path}')" in err.message


def _places(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _places(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _places(v, path + (i,))


def _with(value, path, new):
    if not path:
        return new
    out = copy.copy(value)
    out[path[0]] = _with(value[path[0]], path[1:], new)
    return out


def test_any_one_odd_value_anywhere_is_a_400_never_a_crash():
    """A list where a string was ('type': []) made the checker raise TypeError: a 500 at create."""
    d = base()
    d["triggers"]["manual"] = {"type": "Request", "kind": "Http", "inputs": {"schema": {}}, "splitOn": "@triggerBody()"}
    d["actions"]["Call"] = {**HTTP, "inputs": {**HTTP["inputs"], "headers": {"a": "b"}, "retryPolicy": {"type": "none"}}}
    d["actions"]["Later"] = {"type": "Compose", "inputs": "@body('Call')", "runAfter": {"Call": ["Succeeded", "Failed"]}}
    odd = [None, True, 0, -1.5, "", "@", "x", [], [[]], [None], {}, {"": None}, {"type": "Request"}]
    for path in _places(d):
        for value in odd:
            try:
                defn.validate(_with(d, path, value), CONNECTIONS)
            except ArmError as err:
                assert err.status == 400, (path, value, err)

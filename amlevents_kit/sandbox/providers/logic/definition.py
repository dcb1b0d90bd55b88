"""Check a workflow definition at create time: what Azure would refuse, and what the runner cannot run.

Every error names the path in the definition (``definition.actions.Condition.expression...``) and
what is allowed, so a learner can fix it before a single event arrives.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from ...arm.errors import ArmError
from . import expressions as ex

# Functions a workflow adds to the built-ins, with their argument counts.
WORKFLOW_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "triggerBody": (0, 0), "triggerOutputs": (0, 0), "trigger": (0, 0),
    "body": (1, 1), "outputs": (1, 1), "actions": (1, 1),
    "parameters": (1, 1), "utcNow": (0, 1), "workflow": (0, 0), "listCallbackUrl": (0, 0),
}
ACTION_REFERENCES = {"body", "outputs", "actions"}

TRIGGER_TYPES = {"Request": "a manual HTTP request trigger",
                 "ApiConnectionWebhook": "the Event Grid trigger 'When a resource event occurs'"}
ACTION_TYPES = ["If", "Compose", "Http", "ApiConnection (Send an email (V2), Create a pipeline run)"]
RUN_AFTER_STATUSES = {"Succeeded", "Failed", "Skipped", "TimedOut"}
CONDITION_OPERATORS = {"and", "or", "not", "equals", "contains", "startsWith", "endsWith", "greater",
                       "greaterOrEquals", "less", "lessOrEquals"}

MAIL_PATH = re.compile(r"^/(v2/)?Mail$", re.IGNORECASE)
PIPELINE_RUN_PATH = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourcegroups/(?P<resource_group>[^/]+)/providers/"
    r"Microsoft\.DataFactory/factories/(?P<factory>[^/]+)/pipelines/(?P<pipeline>[^/]+)/createRun$", re.IGNORECASE)
EVENTGRID_PATH = re.compile(r"^/subscriptions/[^/]+/providers/[^/]+/resource/eventSubscriptions$", re.IGNORECASE)


def invalid_template(path: str, message: str) -> ArmError:
    """400 InvalidTemplate: Azure's answer to a definition it cannot accept."""
    return ArmError(400, "InvalidTemplate", f"The template validation failed: '{message}' (at '{path}').")


def unsupported(path: str, what: str) -> ArmError:
    """400 for something Azure accepts but the sandbox runner cannot run: never a silent no-op."""
    return ArmError(400, "SandboxUnsupportedDefinition",
                    f"The amlevents-kit sandbox cannot run {what} (at '{path}'). It runs these triggers: "
                    f"{', '.join(TRIGGER_TYPES)}; and these actions: {', '.join(ACTION_TYPES)}. "
                    "Azure would accept this definition; the sandbox refuses it rather than skip it.")


def connector_of(inputs: Any) -> str | None:
    """The managed API a connector action or trigger uses, from its ``host.connection.name``."""
    if not isinstance(inputs, dict):
        return None
    name = (((inputs.get("host") or {}).get("connection") or {}).get("name")) if isinstance(inputs.get("host"), dict) else None
    if not isinstance(name, str):
        return None
    m = re.search(r"\$connections'\)\['([^']+)'\]", name)
    return m.group(1) if m else None


def plain_path(path: Any) -> str:
    """A connector path with its ``@{encodeURIComponent('x')}`` holes replaced by their text."""
    if not isinstance(path, str):
        return ""
    return re.sub(r"@\{encodeURIComponent\('((?:[^']|'')*)'\)\}", lambda m: m.group(1).replace("''", "'"), path)


def connector_operation(inputs: dict) -> str | None:
    """Which connector operation an ApiConnection runs: 'send_email', 'create_pipeline_run' or None."""
    api = (connector_of(inputs) or "").lower()
    path = plain_path(inputs.get("path"))
    if MAIL_PATH.match(path) and (api.startswith("office365") or api.startswith("outlook") or not api):
        return "send_email"
    if PIPELINE_RUN_PATH.match(path):
        return "create_pipeline_run"
    return None


def validate(definition: Any, parameters: Any = None) -> None:
    """Raise a 400 ArmError for the first problem of the definition; return None if it can run."""
    if not isinstance(definition, dict):
        raise ArmError(400, "InvalidRequestContent", "The property 'properties.definition' must be a JSON object.")
    parameters = parameters if isinstance(parameters, dict) else {}
    declared = definition.get("parameters") or {}
    if not isinstance(declared, dict):
        raise invalid_template("definition.parameters", "The parameters must be an object")
    for name in parameters:
        if name not in declared:
            raise invalid_template(f"parameters.{name}",
                                   f"The workflow parameter '{name}' is not declared in the definition's parameters")
    triggers = definition.get("triggers") or {}
    actions = definition.get("actions") or {}
    if not isinstance(triggers, dict):
        raise invalid_template("definition.triggers", "The triggers must be an object")
    if not isinstance(actions, dict):
        raise invalid_template("definition.actions", "The actions must be an object")
    all_actions: dict[str, str] = {}
    for name, path in _all_actions(actions, "definition.actions"):
        if name in all_actions:  # body('X') must name one action: names are unique across all scopes
            raise invalid_template(path, f"The action '{name}' is also defined at '{all_actions[name]}'; action "
                                         "names must be unique in a workflow")
        all_actions[name] = path
    connections = _connections(declared, parameters)
    for name, item in list(triggers.items()) + [(n, _find(actions, n)) for n in all_actions]:
        inputs = item.get("inputs") if isinstance(item, dict) else None
        api = connector_of(inputs)
        if api is not None and api not in connections:
            where = f"definition.triggers.{name}" if name in triggers else all_actions[name]
            raise invalid_template(f"{where}.inputs.host.connection.name",
                                   f"The API connection reference '{api}' is not in the workflow parameter "
                                   f"'$connections' (it has: {', '.join(sorted(connections)) or 'nothing'}); add "
                                   f"\"{api}\": {{\"connectionId\", \"connectionName\", \"id\"}} to "
                                   "properties.parameters.$connections.value")
    for name, trigger in triggers.items():
        _check_trigger(name, trigger, f"definition.triggers.{name}", declared, all_actions)
    _check_scope(actions, "definition.actions", declared, all_actions)


def _connections(declared: dict, parameters: dict) -> dict:
    """The API connections a workflow can use: ``$connections``' value, else its default."""
    given = parameters.get("$connections")
    if isinstance(given, dict) and isinstance(given.get("value"), dict):
        return given["value"]
    default = (declared.get("$connections") or {}).get("defaultValue")
    return default if isinstance(default, dict) else {}


def _find(actions: dict, name: str) -> Any:
    """An action by name, wherever it is nested."""
    for key, action in actions.items():
        if key == name:
            return action
        if isinstance(action, dict):
            for scope in (action.get("actions"), (action.get("else") or {}).get("actions")):
                if isinstance(scope, dict):
                    found = _find(scope, name)
                    if found is not None:
                        return found
    return None


def _all_actions(actions: dict, path: str) -> Iterator[tuple[str, str]]:
    for name, action in actions.items():
        yield name, f"{path}.{name}"
        if isinstance(action, dict):
            for key in ("actions",):
                if isinstance(action.get(key), dict):
                    yield from _all_actions(action[key], f"{path}.{name}.{key}")
            if isinstance(action.get("else"), dict) and isinstance(action["else"].get("actions"), dict):
                yield from _all_actions(action["else"]["actions"], f"{path}.{name}.else.actions")


def _check_trigger(name: str, trigger: Any, path: str, declared: dict, actions: dict) -> None:
    if not isinstance(trigger, dict):
        raise invalid_template(path, f"The trigger '{name}' must be an object")
    kind = trigger.get("type")
    if kind not in TRIGGER_TYPES:
        raise unsupported(f"{path}.type", f"the trigger type {kind!r}")
    if kind == "ApiConnectionWebhook":
        inputs = trigger.get("inputs") or {}
        if (connector_of(inputs) or "").lower() != "azureeventgrid" or not EVENTGRID_PATH.match(plain_path(inputs.get("path"))):
            raise unsupported(f"{path}.inputs", "an ApiConnectionWebhook trigger other than Event Grid's "
                              "(host '$connections'['azureeventgrid'], path '/subscriptions/{id}/providers/"
                              "{resourceType}/resource/eventSubscriptions')")
        body = inputs.get("body") or {}
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict) or not isinstance(props.get("topic"), str):
            raise invalid_template(f"{path}.inputs.body.properties.topic",
                                   "The Event Grid trigger needs the resource id of the topic")
    _check_values(trigger.get("inputs"), f"{path}.inputs", declared, actions, trigger=True)
    if "splitOn" in trigger:
        _check_values(trigger["splitOn"], f"{path}.splitOn", declared, actions, trigger=True)
    for key in ("conditions",):
        if trigger.get(key):
            raise unsupported(f"{path}.{key}", "trigger conditions")


def _check_scope(actions: dict, path: str, declared: dict, all_actions: dict) -> None:
    for name, action in actions.items():
        apath = f"{path}.{name}"
        if not isinstance(action, dict):
            raise invalid_template(apath, f"The action '{name}' must be an object")
        run_after = action.get("runAfter") or {}
        if not isinstance(run_after, dict):
            raise invalid_template(f"{apath}.runAfter", "runAfter must be an object of action name -> statuses")
        for dep, statuses in run_after.items():
            if dep not in actions:
                raise invalid_template(f"{apath}.runAfter.{dep}",
                                       f"The action '{name}' runs after '{dep}', which is not an action of the "
                                       "same scope")
            if not isinstance(statuses, list) or not all(s in RUN_AFTER_STATUSES for s in statuses):
                raise invalid_template(f"{apath}.runAfter.{dep}",
                                       f"runAfter statuses must be a list of {sorted(RUN_AFTER_STATUSES)}")
        kind = action.get("type")
        if kind == "If":
            if "expression" not in action:
                raise invalid_template(f"{apath}.expression", f"The condition '{name}' has no expression")
            _check_condition(action["expression"], f"{apath}.expression", declared, all_actions)
            if isinstance(action.get("actions"), dict):
                _check_scope(action["actions"], f"{apath}.actions", declared, all_actions)
            otherwise = action.get("else") or {}
            if isinstance(otherwise.get("actions"), dict):
                _check_scope(otherwise["actions"], f"{apath}.else.actions", declared, all_actions)
        elif kind == "Compose":
            if "inputs" not in action:
                raise invalid_template(f"{apath}.inputs", f"The Compose action '{name}' has no inputs")
            _check_values(action["inputs"], f"{apath}.inputs", declared, all_actions)
        elif kind == "Http":
            inputs = action.get("inputs") or {}
            for key in ("method", "uri"):
                if not inputs.get(key):
                    raise invalid_template(f"{apath}.inputs.{key}", f"The HTTP action '{name}' needs inputs.{key}")
            _check_values(inputs, f"{apath}.inputs", declared, all_actions)
        elif kind == "ApiConnection":
            inputs = action.get("inputs") or {}
            if connector_operation(inputs) is None:
                raise unsupported(f"{apath}.inputs", f"the connector operation {inputs.get('method', '?')!r} "
                                  f"{inputs.get('path', '?')!r} of the API connection "
                                  f"{connector_of(inputs) or '?'!r}")
            _check_values(inputs, f"{apath}.inputs", declared, all_actions)
        else:
            raise unsupported(f"{apath}.type", f"the action type {kind!r}")
    _check_cycles(actions, path)


def _check_cycles(actions: dict, path: str) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise invalid_template(f"{path}.{name}.runAfter",
                                   "The actions' runAfter form a cycle: " + " -> ".join(trail + [name]))
        state[name] = 1
        for dep in (actions[name].get("runAfter") or {}):
            if dep in actions:
                visit(dep, trail + [name])
        state[name] = 2

    for name in actions:
        visit(name, [])


def _check_condition(expr: Any, path: str, declared: dict, all_actions: dict) -> None:
    """A condition is an expression string, or the designer's object form {"and": [{"equals": [a, b]}]}."""
    if isinstance(expr, str):
        _check_values(expr, path, declared, all_actions)
        return
    if isinstance(expr, bool):
        return
    if not isinstance(expr, dict) or len(expr) != 1:
        raise invalid_template(path, "A condition must be an expression string or an object with one operator "
                               f"({', '.join(sorted(CONDITION_OPERATORS))})")
    (op, args), = expr.items()
    if op not in CONDITION_OPERATORS:
        raise unsupported(f"{path}.{op}", f"the condition operator {op!r}")
    if op in ("and", "or"):
        if not isinstance(args, list) or not args:
            raise invalid_template(f"{path}.{op}", f"'{op}' takes a non-empty list of conditions")
        for i, sub in enumerate(args):
            _check_condition(sub, f"{path}.{op}[{i}]", declared, all_actions)
    elif op == "not":
        _check_condition(args, f"{path}.not", declared, all_actions)
    else:
        if not isinstance(args, list) or len(args) != 2:
            raise invalid_template(f"{path}.{op}", f"'{op}' takes a list of two operands")
        for i, operand in enumerate(args):
            _check_values(operand, f"{path}.{op}[{i}]", declared, all_actions)


def _check_values(value: Any, path: str, declared: dict, all_actions: dict, *, trigger: bool = False) -> None:
    """Parse every expression under ``value`` and check its functions and references."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_values(v, f"{path}.{k}", declared, all_actions, trigger=trigger)
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_values(v, f"{path}[{i}]", declared, all_actions, trigger=trigger)
        return
    if not isinstance(value, str):
        return
    try:
        found = ex.check(value, WORKFLOW_FUNCTIONS)
    except ex.ExpressionError as err:
        raise invalid_template(path, f"The template language expression {value!r} is not valid: {err.message}"
                               + (f" (position {err.position})" if err.position is not None else "")) from None
    for call in found:
        name = call.name.lower()
        first = call.args[0] if call.args else None
        literal = first.value if isinstance(first, ex.Literal) and isinstance(first.value, str) else None
        if name in ACTION_REFERENCES and literal is not None and literal not in all_actions:
            raise invalid_template(path, f"The expression {value!r} references the action '{literal}', "
                                   "which is not defined in the template")
        if name == "parameters" and literal is not None and literal not in declared:
            raise invalid_template(path, f"The template parameter '{literal}' is not declared in "
                                   "definition.parameters")
        if name == "listcallbackurl" and not trigger:
            raise invalid_template(path, "listCallbackUrl() can only be used in a trigger's inputs")
        if trigger and name in ACTION_REFERENCES:
            raise invalid_template(path, f"A trigger cannot use '{call.name}()': actions run after the trigger")

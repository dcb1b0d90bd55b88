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


# The properties the runner reads, per trigger and action type; anything else is refused at create
# (never accepted and then ignored). "description" and "metadata" are notes for people and designers.
NOTES = {"description", "metadata"}
DEFINITION_KEYS = {"$schema", "contentVersion", "parameters", "triggers", "actions", "outputs", "staticResults"}
TRIGGER_KEYS = {"Request": {"type", "kind", "inputs", "splitOn"},
                "ApiConnectionWebhook": {"type", "inputs", "splitOn"}}
TRIGGER_INPUT_KEYS = {"Request": {"schema", "method"}, "ApiConnectionWebhook": {"host", "path", "queries", "body"}}
ACTION_KEYS = {"If": {"type", "expression", "actions", "else", "runAfter"},
               "Compose": {"type", "inputs", "runAfter"},
               "Http": {"type", "inputs", "runAfter"},
               "ApiConnection": {"type", "inputs", "runAfter"}}
ACTION_INPUT_KEYS = {"Http": {"method", "uri", "headers", "queries", "body", "retryPolicy"},
                     "ApiConnection": {"host", "method", "path", "queries", "body", "retryPolicy"}}
SPLIT_ON = "@triggerBody()"
# What the sandbox would have skipped, said plainly; the property names are WDL's.
NOT_RUN = {
    "limit": "an action time limit ('limit'): the sandbox runs each action to its end, with no timeout",
    "operationOptions": "operationOptions (such as DisableAsyncPattern or SingleInstance): the sandbox has none "
                        "of these run options",
    "runtimeConfiguration": "runtimeConfiguration (concurrency, secure inputs and outputs, static results, "
                            "pagination, content transfer)",
    "trackedProperties": "trackedProperties: the sandbox keeps no diagnostics to track them in",
    "conditions": "trigger conditions",
    "authentication": "authentication on an action: the sandbox's actions send no credentials (it checks none "
                      "on its own ARM API, and signs nothing for other hosts)",
    "retryPolicy": "a retry policy other than {\"type\": \"none\"}: the sandbox runs each action once, "
                   "without retries",
    "relativePath": "a Request trigger's relativePath: its callback URL takes no path parameters",
    "method": "a Request trigger method other than POST: its callback URL answers POST only",
    "splitOn": f"a splitOn other than '{SPLIT_ON}': the sandbox splits only the trigger's body (an array) into "
               "one run per item",
    "outputs": "the workflow's outputs: the sandbox records no run outputs",
    "staticResults": "static results (mocked action outputs)",
    "cookie": "an HTTP action's cookie",
}


def invalid_template(path: str, message: str) -> ArmError:
    """400 InvalidTemplate: Azure's answer to a definition it cannot accept."""
    return ArmError(400, "InvalidTemplate", f"The template validation failed: '{message}' (at '{path}').")


def unsupported(path: str, what: str, supported: str | None = None) -> ArmError:
    """400 for something the sandbox runner cannot run: never a silent no-op."""
    supported = supported or (f"It runs these triggers: {', '.join(TRIGGER_TYPES)}; and these actions: "
                              f"{', '.join(ACTION_TYPES)}.")
    return ArmError(400, "SandboxUnsupportedDefinition",
                    f"The amlevents-kit sandbox cannot run {what} (at '{path}'). {supported} It refuses the "
                    "definition rather than accept it and skip that part.")


def _check_keys(item: dict, path: str, allowed: set[str], what: str) -> None:
    """Refuse a property the runner does not read, naming it and what it reads instead."""
    for key in item:
        if key in allowed or key in NOTES:
            continue
        reads = (f"It reads these properties of {what}: {', '.join(sorted(allowed))} (and the notes "
                 f"{' and '.join(sorted(NOTES))}).")
        same = [k for k in allowed if k.lower() == key.lower()]
        if same:
            raise unsupported(f"{path}.{key}", f"the property '{key}' of {what}",
                              f"Did you mean '{same[0]}'? The sandbox reads property names as the designer writes "
                              f"them. {reads}")
        raise unsupported(f"{path}.{key}", NOT_RUN.get(key, f"the property '{key}' of {what}"), reads)


def _article(kind: str) -> str:
    return "an" if kind[0] in "AEIOUH" else "a"   # an If, an Http (an aitch-tee-tee-pee), a Compose


def _object(value: Any, path: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise invalid_template(path, f"{what} must be an object")
    return value


def connector_of(inputs: Any) -> str | None:
    """The managed API a connector action or trigger uses, from its ``host.connection.name``."""
    if not isinstance(inputs, dict):
        return None
    name: Any = inputs
    for key in ("host", "connection", "name"):
        name = name.get(key) if isinstance(name, dict) else None
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
    for key in definition:
        if key not in DEFINITION_KEYS and key not in NOTES:
            raise unsupported(f"definition.{key}", f"the property '{key}' of a workflow definition",
                              f"It reads: {', '.join(sorted(DEFINITION_KEYS))}.")
    for key in ("outputs", "staticResults"):
        if definition.get(key):
            raise unsupported(f"definition.{key}", NOT_RUN[key], "Leave it empty ({}) or out.")
    declared = definition.get("parameters") or {}
    if not isinstance(declared, dict):
        raise invalid_template("definition.parameters", "The parameters must be an object")
    for name, spec in declared.items():
        _object(spec, f"definition.parameters.{name}", f"The parameter '{name}'")
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
            otherwise = action.get("else")
            for scope in (action.get("actions"), otherwise.get("actions") if isinstance(otherwise, dict) else None):
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
    if not isinstance(kind, str) or kind not in TRIGGER_TYPES:
        raise unsupported(f"{path}.type", f"the trigger type {kind!r}")
    _check_keys(trigger, path, TRIGGER_KEYS[kind], f"{_article(kind)} {kind} trigger")
    inputs = _object(trigger.get("inputs") or {}, f"{path}.inputs", "The trigger's inputs")
    _check_keys(inputs, f"{path}.inputs", TRIGGER_INPUT_KEYS[kind], f"the inputs of {_article(kind)} {kind} trigger")
    if kind == "Request" and str(inputs.get("method", "POST")).upper() != "POST":
        raise unsupported(f"{path}.inputs.method", NOT_RUN["method"], "Leave 'method' out, or set it to POST.")
    if "splitOn" in trigger and "".join(str(trigger["splitOn"]).split()).lower() != SPLIT_ON.lower():
        raise unsupported(f"{path}.splitOn", NOT_RUN["splitOn"], f"Use \"splitOn\": \"{SPLIT_ON}\", or leave it out.")
    if kind == "ApiConnectionWebhook":
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
            if not isinstance(statuses, list) or not all(isinstance(s, str) and s in RUN_AFTER_STATUSES
                                                         for s in statuses):
                raise invalid_template(f"{apath}.runAfter.{dep}",
                                       f"runAfter statuses must be a list of {sorted(RUN_AFTER_STATUSES)}")
        kind = action.get("type")
        if not isinstance(kind, str) or kind not in ACTION_KEYS:
            raise unsupported(f"{apath}.type", f"the action type {kind!r}")
        _check_keys(action, apath, ACTION_KEYS[kind], f"{_article(kind)} {kind} action")
        if kind in ACTION_INPUT_KEYS:
            inputs = _object(action.get("inputs") or {}, f"{apath}.inputs", f"The inputs of the {kind} action '{name}'")
            _check_keys(inputs, f"{apath}.inputs", ACTION_INPUT_KEYS[kind], f"the inputs of {_article(kind)} {kind} action")
            _check_retry(inputs, f"{apath}.inputs.retryPolicy")
        if kind == "If":
            if "expression" not in action:
                raise invalid_template(f"{apath}.expression", f"The condition '{name}' has no expression")
            _check_condition(action["expression"], f"{apath}.expression", declared, all_actions)
            branch = _object(action.get("actions") or {}, f"{apath}.actions", f"The actions of the condition '{name}'")
            _check_scope(branch, f"{apath}.actions", declared, all_actions)
            otherwise = _object(action.get("else") or {}, f"{apath}.else", f"The else of the condition '{name}'")
            _check_keys(otherwise, f"{apath}.else", {"actions"}, "a condition's else")
            branch = _object(otherwise.get("actions") or {}, f"{apath}.else.actions",
                             f"The else actions of the condition '{name}'")
            _check_scope(branch, f"{apath}.else.actions", declared, all_actions)
        elif kind == "Compose":
            if "inputs" not in action:
                raise invalid_template(f"{apath}.inputs", f"The Compose action '{name}' has no inputs")
            _check_values(action["inputs"], f"{apath}.inputs", declared, all_actions)
        elif kind == "Http":
            for key in ("method", "uri"):
                if not inputs.get(key):
                    raise invalid_template(f"{apath}.inputs.{key}", f"The HTTP action '{name}' needs inputs.{key}")
            _check_values(inputs, f"{apath}.inputs", declared, all_actions)
        elif kind == "ApiConnection":
            if connector_operation(inputs) is None:
                raise unsupported(f"{apath}.inputs", f"the connector operation {inputs.get('method', '?')!r} "
                                  f"{inputs.get('path', '?')!r} of the API connection "
                                  f"{connector_of(inputs) or '?'!r}")
            _check_values(inputs, f"{apath}.inputs", declared, all_actions)
    _check_cycles(actions, path)


def _check_retry(inputs: dict, path: str) -> None:
    """The runner makes one attempt per action: the only retry policy it honours is "none"."""
    if "retryPolicy" not in inputs:
        return
    policy = inputs["retryPolicy"]
    if not (isinstance(policy, dict) and set(policy) == {"type"} and str(policy["type"]).lower() == "none"):
        raise unsupported(path, NOT_RUN["retryPolicy"],
                          'Write "retryPolicy": {"type": "none"} (what the sandbox does), or leave it out.')


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

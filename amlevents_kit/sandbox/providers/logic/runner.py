"""Run a workflow: the trigger's output in, each action's status, inputs and outputs out.

The runner follows the Workflow Definition Language's rules for the subset the lessons use:
actions start when their ``runAfter`` conditions hold, ``If`` runs one branch and skips the other
(``ActionBranchingConditionNotSatisfied``), an action whose ``runAfter`` is not met is skipped
(``ActionConditionFailed``), and expressions that fail at run time fail their action with
``InvalidTemplate`` — the codes the portal's run history shows. Anything else that goes wrong in an
action (a fault of the sandbox itself) fails that action with ``InternalServerError`` and its message:
the run is recorded, and the trigger's caller still gets its answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import definition as defn
from . import expressions as ex

if TYPE_CHECKING:
    from .models import LogicBackend

log = logging.getLogger("amlevents_kit.sandbox")


@dataclass
class ActionResult:
    """What the run history keeps of one action."""

    name: str
    type: str
    status: str
    code: str
    start: str
    end: str
    inputs: Any = None
    outputs: Any = None
    error: dict | None = None
    scope: str = ""   # the containing If action and branch, e.g. "Condition/actions"


@dataclass
class RunResult:
    status: str
    code: str | None
    error: dict | None
    actions: list[ActionResult] = field(default_factory=list)


class ActionFailed(Exception):
    """An action's own failure: its code, message and whatever outputs it had."""

    def __init__(self, code: str, message: str, outputs: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.outputs = outputs


class Runner:
    """Executes one run of a workflow definition."""

    def __init__(self, backend: "LogicBackend", workflow: dict, run_id: str, run_name: str,
                 trigger: dict) -> None:
        self.backend = backend
        self.workflow = workflow
        self.run_id = run_id
        self.run_name = run_name
        self.trigger = trigger               # {"name", "inputs", "outputs", "startTime", "endTime", ...}
        self.results: dict[str, ActionResult] = {}
        self._defs: dict[str, dict] = {}
        props = workflow["properties"]
        self.definition = props["definition"]
        declared = self.definition.get("parameters") or {}
        given = props.get("parameters") or {}
        self.parameters = {name: (given[name].get("value") if isinstance(given.get(name), dict) and "value" in given[name]
                                  else (spec or {}).get("defaultValue"))
                           for name, spec in declared.items()}
        self.context = ex.Context({
            "triggerBody": lambda: (self.trigger.get("outputs") or {}).get("body"),
            "triggerOutputs": lambda: self.trigger.get("outputs"),
            "trigger": lambda: self.trigger,
            "body": self._body,
            "outputs": self._outputs,
            "actions": self._action,
            "parameters": self._parameter,
            "utcNow": self._utcnow,
            "workflow": self._workflow,
            "listCallbackUrl": lambda: None,
        })

    # -- expression functions ---------------------------------------------------------------------
    def _result(self, name: str, fn: str) -> ActionResult:
        result = self.results.get(name)
        if result is None or result.status == "Skipped":
            state = "was skipped" if result else "has not run"
            raise ex.ExpressionError(f"The template language function '{fn}' cannot be used: the action "
                                     f"'{name}' {state}, so it has no outputs")
        return result

    def _outputs(self, name: str) -> Any:
        return self._result(name, "outputs").outputs

    def _body(self, name: str) -> Any:
        out = self._result(name, "body").outputs
        return out.get("body") if isinstance(out, dict) and "body" in out else out

    def _action(self, name: str) -> dict:
        r = self._result(name, "actions")
        return {"name": r.name, "inputs": r.inputs, "outputs": r.outputs, "status": r.status, "code": r.code,
                "startTime": r.start, "endTime": r.end, "error": r.error}

    def _parameter(self, name: str) -> Any:
        if name not in self.parameters:
            raise ex.ExpressionError(f"The workflow parameter '{name}' is not found")
        return self.parameters[name]

    def _utcnow(self, fmt: str | None = None) -> str:
        now = self.backend.sandbox.clock.utcnow()
        if fmt in (None, "o", "O"):
            return now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        return now.strftime(_dotnet_format(fmt))

    def _workflow(self) -> dict:
        wf = self.workflow
        return {"id": wf["id"], "name": wf["name"], "type": wf["type"], "location": wf.get("location"),
                "run": {"id": self.run_id, "name": self.run_name, "type": "Microsoft.Logic/workflows/runs"}}

    # -- running ----------------------------------------------------------------------------------
    def now(self) -> str:
        return self.backend.sandbox.clock.isoformat()

    def run(self) -> RunResult:
        self._scope(self.definition.get("actions") or {}, "")
        ordered = list(self.results.values())
        failed = {r.name for r in ordered if r.status == "Failed"}
        handled = set()
        for r in ordered:
            if r.status != "Skipped":
                for dep, statuses in (self._action_def(r.name).get("runAfter") or {}).items():
                    if dep in failed and "Failed" in statuses:
                        handled.add(dep)
        if failed - handled:
            return RunResult("Failed", "ActionFailed",
                             {"code": "ActionFailed", "message": "An action failed. No dependent actions succeeded."},
                             ordered)
        return RunResult("Succeeded", None, None, ordered)

    def _action_def(self, name: str) -> dict:
        return self._defs[name]

    def _scope(self, actions: dict, scope: str) -> None:
        self._defs.update(actions)
        pending = list(actions)
        while pending:
            ready = next((n for n in pending if all(dep in self.results for dep in (actions[n].get("runAfter") or {}))),
                         None)
            if ready is None:  # validated at create: cannot happen
                raise RuntimeError(f"runAfter deadlock among {pending}")
            pending.remove(ready)
            action = actions[ready]
            unmet = [(dep, statuses, self.results[dep].status)
                     for dep, statuses in (action.get("runAfter") or {}).items()
                     if self.results[dep].status not in statuses]
            if unmet:
                dep, statuses, actual = unmet[0]
                expected = "' and '".join(statuses)
                self._skip(ready, action, scope, "ActionConditionFailed",
                           f"The execution of template action '{ready}' is skipped: the 'runAfter' condition for "
                           f"action '{dep}' is not satisfied. Expected status values '{expected}' and actual "
                           f"value '{actual}'.")
                continue
            self._execute(ready, action, scope)

    def _skip(self, name: str, action: dict, scope: str, code: str, message: str) -> None:
        now = self.now()
        self.results[name] = ActionResult(name, action.get("type", ""), "Skipped", code, now, now,
                                          error={"code": code, "message": message}, scope=scope)
        if action.get("type") == "If":
            for branch, actions in (("actions", action.get("actions") or {}),
                                    ("else/actions", (action.get("else") or {}).get("actions") or {})):
                self._defs.update(actions)
                for child, child_def in actions.items():
                    self._skip(child, child_def, f"{name}/{branch}", code, message.replace(f"'{name}'", f"'{child}'"))

    def _execute(self, name: str, action: dict, scope: str) -> None:
        kind = action["type"]
        start = self.now()
        if kind == "If":
            self._execute_if(name, action, scope, start)
            return
        raw_inputs = action.get("inputs")
        if kind == "ApiConnection" and isinstance(raw_inputs, dict):  # the host only routes the call
            raw_inputs = {k: v for k, v in raw_inputs.items() if k != "host"}
        try:
            inputs = self.context.value(raw_inputs)
        except ex.ExpressionError as err:
            self.results[name] = ActionResult(
                name, kind, "Failed", "InvalidTemplate", start, self.now(), inputs=None,
                error={"code": "InvalidTemplate",
                       "message": f"Unable to process template language expressions in action '{name}' inputs: "
                                  f"'{err.message}'."}, scope=scope)
            return
        except Exception as exc:  # noqa: BLE001 - a fault of ours fails the action, never the trigger's call
            self.results[name] = ActionResult(
                name, kind, "Failed", "InternalServerError", start, self.now(), inputs=None,
                error=_internal(f"evaluating the inputs of action '{name}'", exc), scope=scope)
            return
        try:
            outputs, code = self._perform(name, kind, inputs)
            status, error = "Succeeded", None
        except ActionFailed as failure:
            outputs, code, status = failure.outputs, failure.code, "Failed"
            error = {"code": failure.code, "message": failure.message}
        except Exception as exc:  # noqa: BLE001
            outputs, code, status = None, "InternalServerError", "Failed"
            error = _internal(f"running action '{name}'", exc)
        self.results[name] = ActionResult(name, kind, status, code, start, self.now(), inputs=inputs,
                                          outputs=outputs, error=error, scope=scope)

    def _execute_if(self, name: str, action: dict, scope: str, start: str) -> None:
        try:
            result, trace = self._condition(action["expression"])
        except Exception as exc:  # noqa: BLE001 - a fault of ours fails the condition, never the trigger's call
            if isinstance(exc, ex.ExpressionError):
                code, error = "InvalidTemplate", {
                    "code": "InvalidTemplate",
                    "message": f"Unable to process template language expressions for action '{name}': "
                               f"'{exc.message}'."}
            else:
                code, error = "InternalServerError", _internal(f"evaluating the condition of action '{name}'", exc)
            self.results[name] = ActionResult(name, "If", "Failed", code, start, self.now(), error=error, scope=scope)
            for branch in (action.get("actions") or {}, (action.get("else") or {}).get("actions") or {}):
                self._defs.update(branch)
                for child, child_def in branch.items():
                    self._skip(child, child_def, f"{name}", "ActionConditionFailed",
                               f"The execution of template action '{child}' is skipped: the condition '{name}' failed.")
            return
        record = ActionResult(name, "If", "Running", "NotSpecified", start, start,
                              inputs={"expressionResult": result, "expression": trace},
                              outputs={"expression": {"result": result}}, scope=scope)
        self.results[name] = record
        taken = action.get("actions") or {} if result else (action.get("else") or {}).get("actions") or {}
        other = (action.get("else") or {}).get("actions") or {} if result else action.get("actions") or {}
        taken_scope = f"{name}/actions" if result else f"{name}/else/actions"
        other_scope = f"{name}/else/actions" if result else f"{name}/actions"
        self._defs.update(other)
        for child, child_def in other.items():
            self._skip(child, child_def, other_scope, "ActionBranchingConditionNotSatisfied",
                       f"The execution of template action '{child}' is skipped: the branching condition for "
                       "this action is not satisfied.")
        self._scope(taken, taken_scope)
        inner_failed = any(self.results[c].status == "Failed" for c in taken)
        record.status = "Failed" if inner_failed else "Succeeded"
        record.code = "ActionFailed" if inner_failed else "NotSpecified"
        if inner_failed:
            record.error = {"code": "ActionFailed", "message": "An action failed. No dependent actions succeeded."}
        record.end = self.now()

    def _condition(self, expr: Any) -> tuple[bool, Any]:
        """Evaluate a condition; the trace shows every comparison with its evaluated operands."""
        if isinstance(expr, bool):
            return expr, expr
        if isinstance(expr, str):
            value = self.context.value(expr)
            if not isinstance(value, bool):
                raise ex.ExpressionError(f"The condition {expr!r} evaluated to a {type(value).__name__}, "
                                         "not a boolean")
            return value, {"expression": expr, "result": value}
        (op, args), = expr.items()
        if op in ("and", "or"):
            parts = [self._condition(sub) for sub in args]
            results = [p[0] for p in parts]
            value = all(results) if op == "and" else any(results)
            return value, {op: [p[1] for p in parts], "result": value}
        if op == "not":
            inner, trace = self._condition(args)
            return (not inner), {"not": trace, "result": not inner}
        left, right = (self.context.value(a) for a in args)
        impl = ex.BUILTINS[op][0]
        value = bool(impl(left, right))
        return value, {op: [left, right], "result": value}

    # -- the actions ------------------------------------------------------------------------------
    def _perform(self, name: str, kind: str, inputs: Any) -> tuple[Any, str]:
        if kind == "Compose":
            return inputs, "OK"
        if kind == "Http":
            return self.backend.connectors.http(inputs)
        if kind == "ApiConnection":
            operation = defn.connector_operation(inputs)
            if operation == "send_email":
                return self.backend.connectors.send_email(inputs, workflow=self.workflow, run_id=self.run_id,
                                                          action=name)
            if operation == "create_pipeline_run":
                return self.backend.connectors.create_pipeline_run(inputs)
        raise ActionFailed("ActionTypeNotSupported", f"The action type '{kind}' is not supported.")


def _internal(doing: str, exc: BaseException) -> dict:
    """The error an action records for a fault of the sandbox (logged with its traceback)."""
    log.warning("logic runner: an error while %s", doing, exc_info=exc)
    return {"code": "InternalServerError",
            "message": f"The sandbox failed while {doing}: {type(exc).__name__}: {exc}"}


_DOTNET = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]


def _dotnet_format(fmt: str) -> str:
    """The few .NET date format tokens utcNow() is usually given (yyyy-MM-dd HH:mm:ss)."""
    for token, code in _DOTNET:
        fmt = fmt.replace(token, code)
    return fmt


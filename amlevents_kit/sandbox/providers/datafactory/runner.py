"""Run a Data Factory pipeline: activities in ``dependsOn`` order, each recorded as an activity run.

Activities the sandbox runs:

* ``Wait`` — ``waitTimeInSeconds`` of sandbox time (advance the clock to skip it);
* ``Copy`` — files from the input dataset's folder to the output dataset's folder; datasets use a
  ``FileServer`` linked service whose ``host`` is a local folder (relative paths are under
  ``<sandbox folder>/files/``) and a ``FileServerLocation`` (``folderPath``, optional ``fileName``);
* ``Until`` (inner activities repeated until an expression holds, within ``timeout`` of sandbox time),
  ``IfCondition`` (``ifTrueActivities``/``ifFalseActivities``) and ``Fail`` (end the run with an error);
* ``WebActivity`` (the designer's "Web") — an HTTP call; ``https://management.azure.com/...`` URLs are answered by the sandbox's
  router in process, with ``authentication: {"type": "MSI"}`` as the factory's managed identity.

**Running an Azure ML job.** Data Factory's ``AzureMLExecutePipeline`` activity runs *published
pipelines* of Azure ML v1, which v2 no longer has; there is no v2 job activity. What runs a v2 job
from a pipeline today is a Web activity (``WebActivity``) that PUTs the job to the workspace's ARM REST API
(``PUT {workspace}/jobs/{name}?api-version=...``) with the factory's managed identity (MSI,
resource ``https://management.azure.com/``). The sandbox refuses ``AzureMLExecutePipeline`` at
create time and says so; ``amlevents_kit.workflows.ml_job_activity()`` builds the Web activity.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...arm import outbound
from ....events.models import json_type
from ...arm.errors import ArmError
from ..logic import expressions as ex

if TYPE_CHECKING:
    from .models import DataFactoryBackend

ACTIVITY_TYPES = ("Wait", "Copy", "WebActivity", "Until", "IfCondition", "Fail")
MAX_UNTIL_ITERATIONS = 1000  # a guard against a spinning Until with no Wait inside
CONTROL = {"Until": ("activities",), "IfCondition": ("ifTrueActivities", "ifFalseActivities")}
CONDITIONS = {"Succeeded", "Failed", "Skipped", "Completed"}
FUNCTIONS: dict[str, tuple[int, int | None]] = {"pipeline": (0, 0), "activity": (1, 1), "utcNow": (0, 1),
                                                "item": (0, 0)}


def _unsupported(path: str, kind: Any) -> ArmError:
    extra = ""
    if kind == "AzureMLExecutePipeline":
        extra = (" AzureMLExecutePipeline runs Azure ML v1 published pipelines, which v2 workspaces do not have; "
                 "to run a v2 job use a Web activity that PUTs the job to the workspace's ARM API "
                 "(amlevents_kit.workflows.ml_job_activity builds one).")
    return ArmError(400, "SandboxUnsupportedActivity",
                    f"The amlevents-kit sandbox cannot run the activity type {kind!r} (at '{path}'); it runs: "
                    f"{', '.join(ACTIVITY_TYPES)}.{extra}")


def _bad(path: str, message: str) -> ArmError:
    return ArmError(400, "BadRequest", f"{message} (at '{path}').")


def check_pipeline(props: dict) -> None:
    """Refuse at create what the runner cannot run, naming the activity and its path."""
    activities = props.get("activities") or []
    if not isinstance(activities, list):
        raise _bad("properties.activities", "The activities must be an array")
    _check_list(activities, "properties.activities", {})


def _check_list(activities: list, where: str, names: dict[str, str]) -> None:
    """Check one container of activities (the pipeline's, or an Until's/IfCondition's)."""
    here = set()
    for i, act in enumerate(activities):
        path = f"{where}[{i}]"
        if not isinstance(act, dict):
            raise _bad(path, f"An activity must be a JSON object, not {json_type(act)}")
        if not act.get("name") or not isinstance(act["name"], str):
            raise _bad(f"{path}.name", "Every activity needs a name (a string)")
        if act["name"] in names:
            raise _bad(f"{path}.name", f"The activity name '{act['name']}' is also used at '{names[act['name']]}'; "
                                       "activity names must be unique in a pipeline")
        names[act["name"]] = path
        here.add(act["name"])
        if not isinstance(act.get("type"), str) or act["type"] not in ACTIVITY_TYPES:
            raise _unsupported(f"{path}.type", act.get("type"))
        tp = act.get("typeProperties") or {}
        if not isinstance(tp, dict):
            raise _bad(f"{path}.typeProperties", f"typeProperties must be a JSON object, not {json_type(tp)}")
        required = {"Wait": ("waitTimeInSeconds",), "WebActivity": ("url", "method"), "Until": ("expression",),
                    "IfCondition": ("expression",), "Fail": ("message", "errorCode")}.get(act["type"], ())
        for key in required:
            if tp.get(key) in (None, ""):
                raise _bad(f"{path}.typeProperties.{key}", f"A {act['type']} activity needs typeProperties.{key}")
        if act["type"] == "Copy":
            for key in ("inputs", "outputs"):
                refs = act.get(key) or []
                if (not isinstance(refs, list) or len(refs) != 1 or not isinstance(refs[0], dict)
                        or not refs[0].get("referenceName")):
                    raise _bad(f"{path}.{key}", f"A Copy activity needs exactly one dataset reference in '{key}'")
        for key in CONTROL.get(act["type"], ()):
            inner = tp.get(key) or []
            if not isinstance(inner, list) or (key == "activities" and not inner):
                raise _bad(f"{path}.typeProperties.{key}", f"{key} must be a non-empty array of activities")
            _check_list(inner, f"{path}.typeProperties.{key}", names)
        if act["type"] == "Until" and tp.get("timeout") is not None:
            _timeout_seconds(tp["timeout"], f"{path}.typeProperties.timeout")
        _check_expressions(act, path)
    for i, act in enumerate(activities):
        depends = act.get("dependsOn") or []
        if not isinstance(depends, list):
            raise _bad(f"{where}[{i}].dependsOn", f"dependsOn must be an array, not {json_type(depends)}")
        for j, dep in enumerate(depends):
            dpath = f"{where}[{i}].dependsOn[{j}]"
            if not isinstance(dep, dict):
                raise _bad(dpath, f"A dependency must be an object like {{\"activity\": \"Copy1\", "
                                  f"\"dependencyConditions\": [\"Succeeded\"]}}, not {json_type(dep)}")
            if not isinstance(dep.get("activity"), str) or dep["activity"] not in here:
                raise _bad(f"{dpath}.activity", f"The activity '{act['name']}' depends on '{dep.get('activity')}', "
                                                "which is not an activity of the same container")
            conditions = dep.get("dependencyConditions")
            bad = [c for c in conditions if not isinstance(c, str) or c not in CONDITIONS] \
                if isinstance(conditions, list) else [conditions]
            if bad or not conditions:
                raise _bad(f"{dpath}.dependencyConditions", f"dependencyConditions must be some of {sorted(CONDITIONS)}")


def _timeout_seconds(text: Any, path: str = "timeout") -> float:
    """ADF timeouts are 'd.hh:mm:ss' or 'hh:mm:ss' (Until's default is 7 days)."""
    import re
    m = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})", str(text))
    if not m:
        raise _bad(path, f"The timeout {text!r} must look like '0.00:10:00' (days.hours:minutes:seconds)")
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _check_expressions(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_expressions(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_expressions(v, f"{path}[{i}]")
    elif isinstance(value, str) and ex.is_dynamic(value):
        try:
            ex.check(value, FUNCTIONS)
        except ex.ExpressionError as err:
            raise _bad(path, f"The expression {value!r} is not valid: {err.message}") from None


class ActivityFailed(Exception):
    def __init__(self, code: str, message: str, output: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.output = code, message, output


class PipelineRunner:
    """One pipeline run, executed in its own thread."""

    def __init__(self, backend: "DataFactoryBackend", factory: dict, pipeline: dict, run: dict,
                 parameters: dict) -> None:
        self.backend = backend
        self.sandbox = backend.sandbox
        self.factory = factory
        self.pipeline = pipeline
        self.run_body = run
        self.parameters = parameters
        self.outputs: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.context = ex.Context({
            "pipeline": lambda: {"parameters": self.parameters, "RunId": run["runId"], "Pipeline": pipeline["name"],
                                 "DataFactory": factory["name"], "TriggerType": "Manual",
                                 "TriggerTime": run["lastUpdated"]},
            "activity": self._activity,
            "utcNow": lambda fmt=None: self.sandbox.clock.isoformat(),
        })

    def _activity(self, name: str) -> dict:
        if name not in self.outputs:
            raise ex.ExpressionError(f"The activity '{name}' has not run, so its output cannot be used")
        return {"output": self.outputs[name]}

    def value(self, raw: Any) -> Any:
        """Evaluate ADF values: ``{"value": "@...", "type": "Expression"}`` objects and ``@`` strings."""
        if isinstance(raw, dict):
            if raw.get("type") == "Expression" and isinstance(raw.get("value"), str):
                return self.context.value(raw["value"])
            return {k: self.value(v) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        return self.context.value(raw) if isinstance(raw, str) else raw

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> None:
        clock = self.sandbox.clock
        body = self.run_body
        started = clock.now()
        body.update(status="InProgress", runStart=clock.isoformat())
        self.backend.save_run(body)
        try:
            unhandled = self._run_list(list(self.pipeline["properties"].get("activities") or []))
        except Exception as exc:  # a bug of ours: end the run visibly rather than leave it InProgress
            unhandled = [f"(sandbox error: {type(exc).__name__}: {exc})"]
        if self.backend.cancel_requested(body):
            final, message = "Cancelled", "The pipeline run was cancelled."
        elif unhandled:
            final, message = "Failed", f"Operation on target {unhandled[0]} failed: {self.errors.get(unhandled[0], '')}"
        else:
            final, message = "Succeeded", ""
        body.pop("_cancel", None)
        body.update(status=final, message=message.rstrip(": "), runEnd=clock.isoformat(),
                    durationInMs=int((clock.now() - started) * 1000))
        self.backend.save_run(body)

    def _run_list(self, activities: list[dict]) -> list[str]:
        """Run a container's activities in dependsOn order; return the failed ones nothing handled."""
        statuses: dict[str, str] = {}
        failures: list[str] = []
        pending = activities[:]
        while pending:
            if self.backend.cancel_requested(self.run_body):
                break
            act = next(a for a in pending if all(d["activity"] in statuses for d in a.get("dependsOn") or []))
            pending.remove(act)
            unmet = [d for d in act.get("dependsOn") or []
                     if not _satisfied(statuses[d["activity"]], d["dependencyConditions"])]
            if unmet:
                statuses[act["name"]] = "Skipped"
                continue
            statuses[act["name"]] = self._activity_run(act)
            if statuses[act["name"]] == "Failed":
                failures.append(act["name"])
        handled = {d["activity"] for a in activities for d in a.get("dependsOn") or []
                   if statuses.get(a["name"]) not in (None, "Skipped")
                   and ("Failed" in d["dependencyConditions"] or "Completed" in d["dependencyConditions"])}
        return [f for f in failures if f not in handled]

    def _activity_run(self, act: dict) -> str:
        clock = self.sandbox.clock
        record = {"pipelineName": self.pipeline["name"], "pipelineRunId": self.run_body["runId"],
                  "activityName": act["name"], "activityType": act["type"], "activityRunId": str(uuid.uuid4()),
                  "linkedServiceName": "", "status": "InProgress", "activityRunStart": clock.isoformat(),
                  "activityRunEnd": None, "durationInMs": None, "input": {}, "output": {},
                  "error": {"errorCode": "", "message": "", "failureType": "", "target": act["name"]}}
        self.backend.save_activity_run(self.run_body, record)
        started = clock.now()
        try:
            if act["type"] in CONTROL:  # their inner activities are evaluated when they run
                record["input"] = {"expression": (act.get("typeProperties") or {}).get("expression")}
            else:
                record["input"] = self.value(act.get("typeProperties") or {})
            perform = {"Wait": self._wait, "Copy": self._copy, "WebActivity": self._web, "Until": self._until,
                       "IfCondition": self._if, "Fail": self._fail}[act["type"]]
            output = perform(act, record["input"])
            record["status"], record["output"] = "Succeeded", output
            self.outputs[act["name"]] = output
        except ex.ExpressionError as err:
            record["status"] = "Failed"
            record["error"].update(errorCode="InvalidTemplate", message=err.message, failureType="UserError")
        except ActivityFailed as err:
            record["status"], record["output"] = "Failed", err.output or {}
            record["error"].update(errorCode=err.code, message=err.message, failureType="UserError")
            self.outputs[act["name"]] = record["output"]
        record.update(activityRunEnd=clock.isoformat(), durationInMs=int((clock.now() - started) * 1000))
        self.backend.save_activity_run(self.run_body, record)
        if record["status"] == "Failed":
            self.errors[act["name"]] = record["error"]["message"]
        return record["status"]

    # -- control activities -------------------------------------------------------------------------
    def _condition(self, act: dict) -> bool:
        value = self.value((act.get("typeProperties") or {}).get("expression"))
        if not isinstance(value, bool):
            raise ActivityFailed("InvalidTemplate", f"The expression of '{act['name']}' evaluated to "
                                                    f"{ex.to_text(value)!r}, not a boolean.")
        return value

    def _inner(self, act: dict, activities: list[dict]) -> None:
        failed = self._run_list(activities)
        if failed:
            raise ActivityFailed("ActivityFailed", f"Activity failed because an inner activity failed; Inner "
                                                   f"activity name: {failed[0]}, Error: {self.errors.get(failed[0], '')}")

    def _until(self, act: dict, tp: dict) -> dict:
        props = act.get("typeProperties") or {}
        limit = _timeout_seconds(props.get("timeout") or "7.00:00:00")
        start = self.sandbox.clock.now()
        iterations = 0
        while True:
            iterations += 1
            self._inner(act, list(props.get("activities") or []))
            if self.backend.cancel_requested(self.run_body) or self._condition(act):
                return {"iterations": iterations}
            if iterations >= MAX_UNTIL_ITERATIONS:
                raise ActivityFailed("ActivityTimedOut", f"The sandbox stopped the Until activity '{act['name']}' "
                                                         f"after {iterations} iterations; put a Wait inside it.")
            if self.sandbox.clock.now() - start >= limit:
                raise ActivityFailed("ActivityTimedOut", f"The Until activity '{act['name']}' timed out after "
                                                         f"{props.get('timeout') or '7.00:00:00'} "
                                                         f"({iterations} iterations).")

    def _if(self, act: dict, tp: dict) -> dict:
        props = act.get("typeProperties") or {}
        result = self._condition(act)
        self._inner(act, list(props.get("ifTrueActivities" if result else "ifFalseActivities") or []))
        return {"expressionResult": result}

    def _fail(self, act: dict, tp: dict) -> dict:
        raise ActivityFailed(str(tp.get("errorCode")), str(tp.get("message")))

    # -- activities -------------------------------------------------------------------------------
    def _wait(self, act: dict, tp: dict) -> dict:
        try:
            seconds = float(tp["waitTimeInSeconds"])
        except (TypeError, ValueError):
            raise ActivityFailed("2001", f"waitTimeInSeconds must be a number, got {tp['waitTimeInSeconds']!r}") from None
        self.backend.sleep_until(self.sandbox.clock.now() + seconds)
        return {"waitTimeInSeconds": seconds}

    def _folder(self, ref: dict) -> tuple[Path, str | None, str]:
        """The local folder (and file name) of a dataset reference."""
        try:
            ds = self.backend.get_child(self.factory, "datasets", ref["referenceName"])
        except ArmError as err:
            raise ActivityFailed("2200", err.message) from None
        params = self.value(ref.get("parameters") or {})
        ctx = ex.Context({"dataset": lambda: params, "pipeline": self.context.functions["pipeline"]})
        props = ds["properties"]
        location = ((props.get("typeProperties") or {}).get("location")) or {}
        ls_name = (props.get("linkedServiceName") or {}).get("referenceName")
        try:
            ls = self.backend.get_child(self.factory, "linkedservices", ls_name)
        except ArmError as err:
            raise ActivityFailed("2200", err.message) from None
        if ls["properties"].get("type") != "FileServer":
            raise ActivityFailed("2200", f"The linked service '{ls_name}' is of type {ls['properties'].get('type')!r}; "
                                         "the sandbox copies between FileServer (local folder) linked services.")
        host = _resolve(ctx, (ls["properties"].get("typeProperties") or {}).get("host"))
        if not host:
            raise ActivityFailed("2200", f"The linked service '{ls_name}' has no typeProperties.host (a folder).")
        root = Path(str(host)).expanduser()
        if not root.is_absolute():
            root = self.sandbox.folder / "files" / root
        folder = _resolve(ctx, location.get("folderPath")) or ""
        name = _resolve(ctx, location.get("fileName"))
        return root / str(folder), (str(name) if name else None), ls_name

    def _copy(self, act: dict, tp: dict) -> dict:
        src_dir, src_name, src_ls = self._folder(act["inputs"][0])
        dst_dir, dst_name, _ = self._folder(act["outputs"][0])
        pattern = (((tp.get("source") or {}).get("storeSettings") or {}).get("wildcardFileName")) or "*"
        if src_name:
            files = [src_dir / src_name]
        elif src_dir.is_dir():
            files = sorted(p for p in src_dir.iterdir() if p.is_file() and fnmatch.fnmatch(p.name, pattern))
        else:
            files = []
        missing = [f for f in files if not f.is_file()]
        if missing or (not files and not src_dir.is_dir()):
            where = missing[0] if missing else src_dir
            raise ActivityFailed("2200", f"ErrorCode=UserErrorFileNotFound,'The file or folder {where} does not "
                                         f"exist (dataset of '{src_ls}').'")
        dst_dir.mkdir(parents=True, exist_ok=True)
        written = 0
        for f in files:
            target = dst_dir / (dst_name if dst_name and len(files) == 1 else f.name)
            shutil.copyfile(f, target)
            written += f.stat().st_size
        return {"dataRead": written, "dataWritten": written, "filesRead": len(files), "filesWritten": len(files),
                "sourcePeakConnections": 1, "sinkPeakConnections": 1, "copyDuration": 0,
                "throughput": 0, "usedDataIntegrationUnits": 4, "usedParallelCopies": 1,
                "executionDetails": [{"source": {"type": "FileServer"}, "sink": {"type": "FileServer"},
                                      "status": "Succeeded", "detailedDurations": {"queuingDuration": 0}}]}

    def _web(self, act: dict, tp: dict) -> Any:
        method = str(tp["method"]).upper()
        url = str(tp["url"])
        headers = {str(k): str(v) for k, v in (tp.get("headers") or {}).items()}
        body = tp.get("body")
        data = b"" if body is None else (json.dumps(body).encode() if not isinstance(body, str) else body.encode())
        if data:
            headers.setdefault("Content-Type", "application/json")
        if urlsplit(url).hostname == outbound.ARM_HOST:
            auth = tp.get("authentication") or {}
            if str(auth.get("type", "")).upper() != "MSI":
                raise ActivityFailed("2108", "Calling Azure Resource Manager needs authentication "
                                             "{\"type\": \"MSI\", \"resource\": \"https://management.azure.com/\"} "
                                             "(the factory's managed identity).")
        import requests
        try:
            status, resp_headers, raw = outbound.send(self.sandbox, method, url, headers, data, timeout=60)
        except requests.RequestException as exc:
            raise ActivityFailed("2108", f"Error calling the endpoint '{url}': {exc}") from None
        try:
            payload: Any = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"Response": raw.decode("utf-8", "replace")}
        output = payload if isinstance(payload, dict) else {"Response": payload}
        output = {**output, "ADFWebActivityResponseHeaders": {k: v for k, v in resp_headers.items()
                                                              if not k.lower().startswith("x-ms-")}}
        if status >= 400:
            err = (payload or {}).get("error") if isinstance(payload, dict) else None
            detail = f" ({err.get('code')}) {err.get('message')}" if isinstance(err, dict) else ""
            raise ActivityFailed("2108", f"Error calling the endpoint '{url}'. Response status code: "
                                         f"'ClientError{status}'.{detail}", output)
        return output


def _resolve(ctx: ex.Context, raw: Any) -> Any:
    if isinstance(raw, dict) and raw.get("type") == "Expression":
        return ctx.value(raw.get("value"))
    return ctx.value(raw) if isinstance(raw, str) else raw


def _satisfied(status: str, conditions: list[str]) -> bool:
    return status in conditions or ("Completed" in conditions and status in ("Succeeded", "Failed"))


"""Build Logic App workflows for workspace events, deploy them, and read their run history.

What the portal designer would save — the Event Grid trigger "When a resource event occurs" on
the workspace, a condition, "Send an email (V2)", "Create a pipeline run" — as plain dicts you can
print, diff and deploy unchanged to Azure or to the sandbox::

    from amlevents_kit import workflows as wf
    plan = wf.email_alert(target, name="run-completed-alert",
                          event_types=["RunCompleted"], subject_begins_with="experiments/",
                          condition=wf.equals("@triggerBody()?['data']?['experimentName']", "churn"),
                          to="team@example.com")
    plan.deploy(target)                      # API connections, then the workflow
    print(wf.run_history(target, "run-completed-alert"))
    plan.write_az_definition("workflow.json")  # the file `az logic workflow create --definition` reads
    print("\n".join(plan.az_commands()))      # its API connections first, then the workflow
"""

from __future__ import annotations

import html
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#"
TRIGGER = "When_a_resource_event_occurs"
EMAIL = "Send_an_email_(V2)"
PIPELINE = "Create_a_pipeline_run"
CONDITION = "Condition"
WORKSPACE_RESOURCE_TYPE = "Microsoft.MachineLearningServices.Workspaces"
CONNECTIONS_API = "2016-06-01"
AML = "Microsoft.MachineLearningServices."

DEFAULT_SUBJECT = "AML @{triggerBody()?['eventType']} on @{triggerBody()?['subject']}"
DEFAULT_BODY = ("<p>Event <b>@{triggerBody()?['eventType']}</b> at @{triggerBody()?['eventTime']}</p>"
                "<p>Subject: @{triggerBody()?['subject']}</p><p>Topic: @{triggerBody()?['topic']}</p>"
                "<p>Data: @{triggerBody()?['data']}</p>")


# -- event types -----------------------------------------------------------------------------------
def event_type(name: str) -> str:
    """``"RunCompleted"`` or the full ``Microsoft.MachineLearningServices.RunCompleted``, checked."""
    from .events import ALL_AML_EVENT_TYPES
    full = name if "." in name else AML + name
    for known in ALL_AML_EVENT_TYPES:
        if known.lower() == full.lower():
            return known
    short = ", ".join(t.rsplit(".", 1)[-1] for t in ALL_AML_EVENT_TYPES)
    raise ValueError(f"event_types: {name!r} is not an Azure ML event type; use one of {short}.")


# -- conditions (the designer's object form) -------------------------------------------------------
def equals(left: Any, right: Any) -> dict:
    """``left`` equals ``right`` (strings compared ignoring case, as Logic Apps does)."""
    return {"equals": [left, right]}


def contains(left: Any, right: Any) -> dict:
    return {"contains": [left, right]}


def starts_with(left: Any, right: Any) -> dict:
    return {"startsWith": [left, right]}


def ends_with(left: Any, right: Any) -> dict:
    return {"endsWith": [left, right]}


def greater(left: Any, right: Any) -> dict:
    return {"greater": [left, right]}


def less(left: Any, right: Any) -> dict:
    return {"less": [left, right]}


def all_of(*conditions: dict) -> dict:
    return {"and": list(conditions)}


def any_of(*conditions: dict) -> dict:
    return {"or": list(conditions)}


def not_(condition: dict) -> dict:
    return {"not": condition}


# -- triggers and actions ----------------------------------------------------------------------------
def eventgrid_trigger(topic: str, *, event_types: list[str], subject_begins_with: str | None = None,
                      subject_ends_with: str | None = None, resource_type: str = WORKSPACE_RESOURCE_TYPE) -> dict:
    """The Event Grid trigger "When a resource event occurs" on ``topic`` (the workspace's ARM id)."""
    subscription = topic.split("/")[2]
    flt: dict[str, Any] = {"includedEventTypes": [event_type(t) for t in event_types]}
    if subject_begins_with:
        flt["subjectBeginsWith"] = subject_begins_with
    if subject_ends_with:
        flt["subjectEndsWith"] = subject_ends_with
    return {
        "type": "ApiConnectionWebhook",
        "splitOn": "@triggerBody()",
        "inputs": {
            "host": {"connection": {"name": "@parameters('$connections')['azureeventgrid']['connectionId']"}},
            "path": f"/subscriptions/@{{encodeURIComponent('{subscription}')}}/providers/"
                    f"@{{encodeURIComponent('{resource_type}')}}/resource/eventSubscriptions",
            "queries": {"x-ms-api-version": "2017-09-15-preview"},
            "body": {"properties": {"topic": topic,
                                    "destination": {"endpointType": "webhook",
                                                    "properties": {"endpointUrl": "@{listCallbackUrl()}"}},
                                    "filter": flt}},
        },
    }


def send_email(*, to: str | list[str], subject: str = DEFAULT_SUBJECT, body: str = DEFAULT_BODY,
               importance: str = "Normal", run_after: dict | None = None) -> dict:
    """Office 365 Outlook "Send an email (V2)"; ``subject``/``body`` may use ``@{...}`` expressions."""
    recipients = ";".join(to) if isinstance(to, list) else to
    if not recipients:
        raise ValueError("send_email: 'to' needs at least one address.")
    if importance not in ("Low", "Normal", "High"):
        raise ValueError(f"send_email: importance {importance!r} must be Low, Normal or High.")
    return {"type": "ApiConnection",
            "inputs": {"host": {"connection": {"name": "@parameters('$connections')['office365']['connectionId']"}},
                       "method": "post", "path": "/v2/Mail",
                       "body": {"To": recipients, "Subject": subject, "Body": body, "Importance": importance}},
            "runAfter": run_after or {}}


def create_pipeline_run(*, subscription_id: str, resource_group: str, factory: str, pipeline: str,
                        parameters: dict | None = None, run_after: dict | None = None) -> dict:
    """Azure Data Factory "Create a pipeline run"; ``parameters`` values may use expressions."""
    enc = lambda v: f"@{{encodeURIComponent('{v}')}}"  # noqa: E731
    return {"type": "ApiConnection",
            "inputs": {"host": {"connection": {"name": "@parameters('$connections')['azuredatafactory']['connectionId']"}},
                       "method": "post",
                       "path": f"/subscriptions/{enc(subscription_id)}/resourcegroups/{enc(resource_group)}/providers/"
                               f"Microsoft.DataFactory/factories/{enc(factory)}/pipelines/{enc(pipeline)}/CreateRun",
                       "queries": {"x-ms-api-version": "2017-09-01-preview"},
                       "body": parameters or {}},
            "runAfter": run_after or {}}


def condition(expression: dict | str, *, actions: dict, else_actions: dict | None = None,
              run_after: dict | None = None) -> dict:
    """An ``If`` action: ``actions`` run when ``expression`` holds, ``else_actions`` otherwise."""
    return {"type": "If", "expression": expression, "actions": actions,
            "else": {"actions": else_actions or {}}, "runAfter": run_after or {}}


_if = condition  # email_alert's 'condition' parameter shadows the function's name


def definition(trigger: dict, actions: dict, *, trigger_name: str = TRIGGER) -> dict:
    """A whole workflow definition with the ``$connections`` parameter the connectors use."""
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"$connections": {"type": "Object", "defaultValue": {}}},
            "triggers": {trigger_name: trigger}, "actions": actions, "outputs": {}}


def _job_url(workspace_id: str, job_name: str, api_version: str) -> Any:
    """The job's ARM URL; an ADF expression object when ``job_name`` is an expression."""
    head = f"https://management.azure.com{workspace_id}/jobs/"
    tail = f"?api-version={api_version}"
    if job_name.startswith("@"):
        return {"value": f"@concat('{head}', {job_name[1:]}, '{tail}')", "type": "Expression"}
    return head + job_name + tail


def _msi() -> dict:
    return {"type": "MSI", "resource": "https://management.azure.com/"}


def ml_job_activity(name: str, *, workspace_id: str, job_name: str, job: dict,
                    api_version: str = "2024-04-01", depends_on: list[dict] | None = None) -> dict:
    """A Data Factory Web activity that submits an Azure ML v2 job through ARM (PUT jobs/{name}).

    Data Factory's AzureMLExecutePipeline runs v1 published pipelines only; a Web activity with the
    factory's managed identity is how a pipeline starts a v2 job. ``job_name`` may be an ADF
    expression such as ``"@concat('retrain-', pipeline().RunId)"``; ``job`` is the job's ARM body.
    """
    return {"name": name, "type": "WebActivity", "dependsOn": depends_on or [],
            "typeProperties": {"method": "PUT", "url": _job_url(workspace_id, job_name, api_version), "body": job,
                               "headers": {"Content-Type": "application/json"}, "authentication": _msi()}}


def ml_job_steps(prefix: str, *, workspace_id: str, job_name: str, job: dict, poll_seconds: int = 10,
                 timeout: str = "0.02:00:00", api_version: str = "2024-04-01",
                 depends_on: list[dict] | None = None) -> list[dict]:
    """Submit an Azure ML job and wait for it: the pipeline fails if the job does not complete.

    Three activities, as you would draw them in Data Factory Studio: ``{prefix}Submit`` (Web PUT),
    ``{prefix}WaitForJob`` (Until the job's status is terminal: Wait ``poll_seconds``, then Web GET
    ``{prefix}GetJob``), ``{prefix}CheckJob`` (If the status is not Completed: Fail).
    """
    submit, wait, get, check = (f"{prefix}{s}" for s in ("Submit", "WaitForJob", "GetJob", "CheckJob"))
    status = f"activity('{get}').output.properties.status"
    after = lambda n: [{"activity": n, "dependencyConditions": ["Succeeded"]}]  # noqa: E731
    return [
        ml_job_activity(submit, workspace_id=workspace_id, job_name=job_name, job=job, api_version=api_version,
                        depends_on=depends_on),
        {"name": wait, "type": "Until", "dependsOn": after(submit),
         "typeProperties": {"expression": {"value": f"@contains(createArray('Completed', 'Failed', 'Canceled'), {status})",
                                           "type": "Expression"},
                            "timeout": timeout,
                            "activities": [
                                {"name": f"{prefix}Poll", "type": "Wait", "typeProperties": {"waitTimeInSeconds": poll_seconds}},
                                {"name": get, "type": "WebActivity", "dependsOn": after(f"{prefix}Poll"),
                                 "typeProperties": {"method": "GET", "url": _job_url(workspace_id, job_name, api_version),
                                                    "authentication": _msi()}}]}},
        {"name": check, "type": "IfCondition", "dependsOn": after(wait),
         "typeProperties": {"expression": {"value": f"@not(equals({status}, 'Completed'))", "type": "Expression"},
                            "ifTrueActivities": [{"name": f"{prefix}JobDidNotComplete", "type": "Fail", "typeProperties": {
                                "message": {"value": f"@concat('The Azure ML job ended ', {status})", "type": "Expression"},
                                "errorCode": "MLJobNotCompleted"}}]}},
    ]


# -- plans: what to deploy ------------------------------------------------------------------------------
@dataclass
class WorkflowPlan:
    """A workflow and the API connections it needs, ready to deploy to Azure or the sandbox."""

    name: str
    resource_group: str
    subscription_id: str
    location: str
    definition: dict
    apis: list[str] = field(default_factory=list)

    def connection_id(self, api: str) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.Web/connections/{api}")

    @property
    def parameters(self) -> dict:
        """``properties.parameters``: the ``$connections`` value that points at the API connections."""
        value = {api: {"connectionId": self.connection_id(api), "connectionName": api,
                       "id": f"/subscriptions/{self.subscription_id}/providers/Microsoft.Web/locations/"
                             f"{self.location}/managedApis/{api}"} for api in self.apis}
        return {"$connections": {"value": value}}

    def connections(self) -> list[dict]:
        """The Microsoft.Web/connections resources (one per managed API), as ARM resources."""
        return [{"id": self.connection_id(api), "type": "Microsoft.Web/connections", "location": self.location,
                 "properties": {"displayName": api,
                                "api": {"id": f"/subscriptions/{self.subscription_id}/providers/Microsoft.Web/"
                                              f"locations/{self.location}/managedApis/{api}"}}}
                for api in self.apis]

    def workflow(self) -> dict:
        """The body ``LogicManagementClient.workflows.create_or_update`` sends."""
        return {"location": self.location, "properties": {"state": "Enabled", "definition": self.definition,
                                                          "parameters": self.parameters}}

    def to_json(self, *, indent: int = 2) -> str:
        """Both ARM bodies, to read or diff: ``{"connections": [...], "workflow": {...}}``.

        Not a file for ``az logic workflow create``: that is ``az_definition()``/``write_az_definition()``.
        """
        return json.dumps({"connections": self.connections(), "workflow": self.workflow()}, indent=indent)

    def az_definition(self) -> dict:
        """What ``az logic workflow create --definition FILE`` reads: ``{"definition", "parameters"}``.

        The ``$connections`` parameter points at the API connections, which this file does not
        create: they are ``Microsoft.Web/connections`` resources of their own (see ``az_commands``).
        """
        return {"definition": self.definition, "parameters": self.parameters}

    def write_az_definition(self, path: str | Path = "workflow.json") -> Path:
        """Write ``az_definition()`` as JSON to ``path`` and return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.az_definition(), indent=2) + "\n", encoding="utf-8")
        return path

    def az_commands(self, definition_file: str | Path = "workflow.json") -> list[str]:
        """The Azure CLI steps, in order: one ``az resource create`` per API connection, then the workflow.

        ``az logic workflow create`` comes with the ``logic`` extension (``az extension add -n logic``).
        On Azure, authorize the Office 365 connection once in the portal before the first run.
        """
        rg, q = self.resource_group, shlex.quote
        steps = [f"az resource create -g {q(rg)} -n {q(c['id'].rsplit('/', 1)[-1])} "
                 f"--resource-type Microsoft.Web/connections --api-version {CONNECTIONS_API} "
                 f"-l {q(c['location'])} --properties {q(json.dumps(c['properties'], separators=(',', ':')))}"
                 for c in self.connections()]
        steps.append(f"az logic workflow create -g {q(rg)} -n {q(self.name)} -l {q(self.location)} "
                     f"--definition {q(str(definition_file))}")
        return steps

    def deploy(self, target: Any) -> Any:
        """Create the API connections, then the workflow; returns the SDK's ``Workflow``.

        On Azure the Office 365 connection must then be authorized once in the portal
        (API connections > office365 > Edit API connection > Authorize).
        """
        from azure.mgmt.logic import LogicManagementClient
        from azure.mgmt.logic.models import Workflow
        from azure.mgmt.resource.resources import ResourceManagementClient
        from azure.mgmt.resource.resources.models import GenericResource
        resources = target.client(ResourceManagementClient)
        for conn in self.connections():
            resources.resources.begin_create_or_update_by_id(  # keywords: the order changed in 26.0
                resource_id=conn["id"], api_version=CONNECTIONS_API,
                parameters=GenericResource(location=conn["location"], properties=conn["properties"])).result()
        logic = target.client(LogicManagementClient)
        return logic.workflows.create_or_update(
            self.resource_group, self.name,
            Workflow(location=self.location, state="Enabled", definition=self.definition, parameters=self.parameters))

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(json.dumps(self.definition, indent=2))}</pre>"


def email_alert(target: Any, *, name: str, event_types: list[str], to: str | list[str],
                subject_begins_with: str | None = None, subject_ends_with: str | None = None,
                condition: dict | str | None = None, subject: str = DEFAULT_SUBJECT, body: str = DEFAULT_BODY,
                pipeline: dict | None = None) -> WorkflowPlan:
    """The how-to guide's first scenario: email the team when a workspace event arrives.

    ``condition`` (optional) guards the email (and the pipeline run); ``pipeline`` (optional) is
    ``{"factory": ..., "pipeline": ..., "parameters": {...}}`` for a "Create a pipeline run" action.
    """
    trigger = eventgrid_trigger(target.workspace_id, event_types=event_types,
                                subject_begins_with=subject_begins_with, subject_ends_with=subject_ends_with)
    inner: dict = {EMAIL: send_email(to=to, subject=subject, body=body)}
    apis = ["azureeventgrid", "office365"]
    if pipeline:
        inner[PIPELINE] = create_pipeline_run(subscription_id=target.subscription_id,
                                              resource_group=target.resource_group, factory=pipeline["factory"],
                                              pipeline=pipeline["pipeline"], parameters=pipeline.get("parameters"),
                                              run_after={EMAIL: ["Succeeded"]})
        apis.append("azuredatafactory")
    actions = {CONDITION: _if(condition, actions=inner)} if condition is not None else inner
    return WorkflowPlan(name=name, resource_group=target.resource_group, subscription_id=target.subscription_id,
                        location=target.location, definition=definition(trigger, actions), apis=apis)


# -- run history, read like the portal ----------------------------------------------------------------
@dataclass
class ActionView:
    name: str
    status: str
    code: str | None
    inputs: Any
    outputs: Any
    error: dict | None


@dataclass
class RunView:
    """One run: its status, the event that triggered it, and each action as the portal lists it."""

    name: str
    status: str
    start: str
    trigger_body: Any
    actions: list[ActionView]

    def action(self, name: str) -> ActionView:
        for a in self.actions:
            if a.name == name:
                return a
        raise KeyError(f"no action {name!r} in run {self.name}; actions: {[a.name for a in self.actions]}")

    def __str__(self) -> str:
        ev = self.trigger_body if isinstance(self.trigger_body, dict) else {}
        lines = [f"run {self.status}: {ev.get('eventType', '?')} on {ev.get('subject', '?')}"]
        for a in self.actions:
            mark = {"Succeeded": "✓", "Failed": "✗", "Skipped": "⊘"}.get(a.status, "·")
            lines.append(f"  {mark} {a.name}: {a.status}" + (f" ({a.code})" if a.code and a.code not in ("OK", "NotSpecified") else ""))
            if isinstance(a.inputs, dict) and "expressionResult" in a.inputs:
                lines.append(f"      condition: {json.dumps(a.inputs['expression'])} -> {a.inputs['expressionResult']}")
            if a.error and a.status != "Succeeded":
                lines.append(f"      {a.error.get('message')}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"


def _content(target: Any, link: Any) -> Any:
    if link is None:
        return None
    uri = link.uri if hasattr(link, "uri") else link.get("uri")
    if getattr(target, "sandbox", None) is not None:
        status, _, data = target.sandbox.handle("GET", uri, {}, b"")
    else:
        import requests  # a served sandbox (connect(url=...)) signs with its own CA; Azure's links are public
        resp = requests.get(uri, timeout=30, verify=getattr(target, "ca_path", None) or True)
        status, data = resp.status_code, resp.content
    return json.loads(data) if status == 200 and data else None


def run_history(target: Any, workflow: str, *, top: int = 10) -> list[RunView]:
    """The workflow's runs, newest first, each with its trigger event and actions (inputs/outputs read)."""
    from azure.mgmt.logic import LogicManagementClient
    logic = target.client(LogicManagementClient)
    views = []
    for i, run in enumerate(logic.workflow_runs.list(target.resource_group, workflow)):
        if i >= top:
            break
        trigger_outputs = _content(target, run.trigger.outputs_link) if run.trigger else None
        actions = [ActionView(a.name, a.status, a.code, _content(target, a.inputs_link),
                              _content(target, a.outputs_link),
                              a.error if isinstance(a.error, dict) or a.error is None else dict(a.error))
                   for a in logic.workflow_run_actions.list(target.resource_group, workflow, run.name)]
        views.append(RunView(run.name, run.status, str(run.start_time),
                             (trigger_outputs or {}).get("body"), actions))
    return views

"""An email alert form: the Logic App of the how-to guide's first scenario, built, shown and deployed.

``AlertForm`` builds the workflow with ``amlevents_kit.workflows.email_alert`` (the Event Grid
trigger on the workspace, an optional condition, "Send an email (V2)"), shows its definition as
JSON and what ``amlevents_kit.filters.lint`` finds in its prefix filter, and deploys it with
``LogicManagementClient`` to the target (the sandbox or Azure)::

    form = AlertForm(target, name="run-completed-alert")
    form                      # fill it in, press Deploy
    form.plan                 # the WorkflowPlan it built
"""

from __future__ import annotations

import html
import json
from typing import Any

import ipywidgets as W

from .. import workflows as wf
from ..events.types import ALL_AML_EVENT_TYPES
from ..filters import lint

OPERATORS = {"equals": wf.equals, "contains": wf.contains, "starts with": wf.starts_with,
             "ends with": wf.ends_with, "greater than": wf.greater, "less than": wf.less}
FIELDS = {"experiment name": "@triggerBody()?['data']?['experimentName']",
          "run type": "@triggerBody()?['data']?['runType']",
          "run status": "@triggerBody()?['data']?['runStatus']",
          "model name": "@triggerBody()?['data']?['modelName']",
          "subject": "@triggerBody()?['subject']",
          "event type": "@triggerBody()?['eventType']"}


def _short(event_type: str) -> str:
    return event_type.rsplit(".", 1)[-1]


class AlertForm(W.VBox):
    """Event types, subject prefix, condition, recipients and subject template -> a deployed workflow."""

    def __init__(self, target: Any, *, name: str = "email-alert", event_types: tuple[str, ...] = ("RunCompleted",),
                 subject_prefix: str = "", recipients: str = "team@example.com",
                 subject_template: str = wf.DEFAULT_SUBJECT) -> None:
        self.target = target
        self.plan: wf.WorkflowPlan | None = None
        self.deployed: Any = None
        self.name = W.Text(value=name, description="Name")
        self.types = {t: W.Checkbox(value=_short(t) in event_types, description=_short(t), indent=False)
                      for t in ALL_AML_EVENT_TYPES}
        self.prefix = W.Text(value=subject_prefix, description="Prefix", placeholder="experiments/")
        self.use_condition = W.Checkbox(value=False, description="only if", indent=False)
        self.field = W.Dropdown(options=list(FIELDS), value="experiment name", layout=W.Layout(width="160px"))
        self.operator = W.Dropdown(options=list(OPERATORS), value="equals", layout=W.Layout(width="120px"))
        self.value = W.Text(value="", placeholder="churn", layout=W.Layout(width="200px"))
        self.recipients = W.Text(value=recipients, description="To", placeholder="a@x.org; b@x.org")
        self.subject = W.Text(value=subject_template, description="Subject", layout=W.Layout(width="90%"))
        self.build_button = W.Button(description="Build", icon="code")
        self.deploy_button = W.Button(description="Deploy", icon="upload", button_style="primary")
        self.json_out = W.Output()
        self.out = W.Output()
        self.build_button.on_click(lambda _: self.build())
        self.deploy_button.on_click(lambda _: self.deploy())
        super().__init__([
            self.name, W.HTML("<b>Event types</b>"), W.HBox(list(self.types.values())), self.prefix,
            W.HBox([self.use_condition, self.field, self.operator, self.value]),
            self.recipients, self.subject, W.HBox([self.build_button, self.deploy_button]), self.out, self.json_out,
        ])

    def selected_types(self) -> list[str]:
        return [t for t, box in self.types.items() if box.value]

    def condition(self) -> dict | None:
        if not self.use_condition.value:
            return None
        return OPERATORS[self.operator.value](FIELDS[self.field.value], self.value.value)

    def build(self) -> wf.WorkflowPlan | None:
        """Build the plan from the form; show its JSON and the filter's lint findings."""
        self.out.outputs = ()
        self.json_out.outputs = ()
        types = self.selected_types()
        if not types:
            self.out.append_stdout("Choose at least one event type.\n")
            return None
        try:
            self.plan = wf.email_alert(self.target, name=self.name.value.strip(), event_types=types,
                                       subject_begins_with=self.prefix.value.strip() or None,
                                       condition=self.condition(), to=self.recipients.value.strip(),
                                       subject=self.subject.value)
        except ValueError as exc:
            self.out.append_stdout(f"Cannot build: {exc}\n")
            return None
        flt = self.plan.definition["triggers"][wf.TRIGGER]["inputs"]["body"]["properties"]["filter"]
        findings = lint(flt)
        lines = [f"Built workflow '{self.plan.name}' with {len(self.plan.apis)} API connections "
                 f"({', '.join(self.plan.apis)})."]
        lines += [f"filter {f.severity}: {f.message}" for f in findings] or ["filter: no findings"]
        self.out.append_stdout("\n".join(lines) + "\n")
        self.json_out.append_display_data(W.HTML(
            f"<pre style='max-height:300px;overflow:auto'>{html.escape(json.dumps(self.plan.definition, indent=2))}</pre>"))
        return self.plan

    def deploy(self) -> Any:
        """Build, then deploy the API connections and the workflow; report the outcome."""
        plan = self.build()
        if plan is None:
            return None
        try:
            self.deployed = plan.deploy(self.target)
        except Exception as exc:  # show Azure's (or the sandbox's) answer in the form
            message = getattr(exc, "message", None) or str(exc)
            self.out.append_stdout(f"Deploy failed: {message}\n")
            return None
        self.out.append_stdout(f"Deployed '{self.deployed.name}': state {self.deployed.state}, "
                               f"provisioning {self.deployed.provisioning_state}.\n")
        return self.deployed

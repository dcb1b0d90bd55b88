"""A deployment-rule form: tag conditions, endpoint and instance type -> the event subscription it creates
and the handler (``form.deployer(ml_client)``) that deploys to that endpoint on that instance type."""

from __future__ import annotations

import html
import json

import ipywidgets as W

from ..deploy import DEFAULT_INSTANCE_TYPE, DeploymentRule, TagDeployer

INSTANCE_TYPES = ("Standard_DS2_v2", "Standard_DS3_v2", "Standard_DS4_v2", "Standard_F4s_v2", "Standard_E4s_v3")


def parse_conditions(text: str) -> dict[str, list[str]]:
    """``key = v1, v2`` lines -> {key: [v1, v2]}; a clear error names the bad line."""
    tags: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, values = line.partition("=")
        allowed = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not allowed:
            raise ValueError(f"tag condition line {number} ({line!r}): write it as 'key = value' or "
                             "'key = value1, value2'")
        tags[key.strip()] = allowed
    return tags


class DeploymentRuleForm(W.VBox):
    """Fill in the rule; Preview shows the event subscription and where the handler deploys, Create makes the
    subscription (on the target's workspace), ``deployer(ml_client)`` gives the handler for the same rule."""

    def __init__(self, target, *, endpoint_url: str = "", subscription_name: str = "deploy-by-tags",
                 conditions: str = "ncd = true\nstage = production", endpoint: str = "tagged-ep") -> None:
        self.target = target
        self.conditions = W.Textarea(value=conditions, description="Tags", rows=3,
                                     placeholder="one per line: key = value1, value2")
        self.endpoint = W.Text(value=endpoint, description="Endpoint")
        self.instance_type = W.Dropdown(options=INSTANCE_TYPES, value=DEFAULT_INSTANCE_TYPE, description="Instance")
        self.endpoint_url = W.Text(value=endpoint_url, description="Webhook", placeholder="https://.../api/events")
        self.name = W.Text(value=subscription_name, description="Name")
        self.preview_button = W.Button(description="Preview", icon="eye")
        self.create_button = W.Button(description="Create subscription", button_style="primary", icon="plus")
        self.preview = W.HTML()
        self.out = W.Output()
        self.rule: DeploymentRule | None = None
        self.error: str | None = None  # why the form's values do not make a rule (plain text), or None
        self.preview_button.on_click(lambda _b: self.refresh())
        self.create_button.on_click(self._on_create)
        super().__init__([self.conditions, self.endpoint, self.instance_type, self.endpoint_url, self.name,
                          W.HBox([self.preview_button, self.create_button]), self.preview, self.out])
        self.refresh()

    def build(self) -> DeploymentRule:
        """The rule the form describes (ValueError naming the field when it is not valid)."""
        return DeploymentRule(workspace_id=self.target.workspace_id, tags=parse_conditions(self.conditions.value),
                              endpoint=self.endpoint.value.strip(), instance_type=self.instance_type.value)

    def subscription_body(self) -> dict:
        return self.build().event_subscription(self.endpoint_url.value.strip() or "<your webhook URL>")

    def refresh(self) -> DeploymentRule | None:
        """Redraw the preview: the subscription's scope, name and body and where the handler deploys, or what
        is wrong (also kept as plain text in ``error``)."""
        try:
            self.rule = self.build()
        except ValueError as exc:
            self.rule, self.error = None, str(exc)
            self.preview.value = f"<p style='color:#a4262c'>{html.escape(self.error)}</p>"
            return None
        self.error = None
        body = json.dumps(self.subscription_body(), indent=2)
        self.preview.value = (f"<p>PUT <code>{html.escape(self.target.workspace_id)}/providers/Microsoft.EventGrid/"
                              f"eventSubscriptions/{html.escape(self.name.value)}</code></p>"
                              f"<p class='amlevents-deploys-to'>{html.escape(self.deploys_to())}</p>"
                              f"<pre class='amlevents-subscription'>{html.escape(body)}</pre>")
        return self.rule

    def deploys_to(self) -> str:
        """The preview's line saying where the handler puts the models this rule lets through."""
        rule = self.rule or self.build()
        return f"The handler deploys to endpoint {rule.endpoint} on {rule.instance_type}."

    def deployer(self, ml_client) -> TagDeployer:
        """The handler for the form's rule (its tags, endpoint and instance type): ``receiver.on(...)(deployer)``."""
        rule = self.refresh()
        if rule is None:
            raise ValueError(self.error)
        return TagDeployer(rule, ml_client)

    def create(self):
        """Create (or update) the subscription through azure-mgmt-eventgrid; returns the SDK object."""
        from azure.mgmt.eventgrid import EventGridManagementClient
        rule = self.refresh()
        if rule is None:
            raise ValueError(self.error)
        url = self.endpoint_url.value.strip()
        if not url:
            raise ValueError("Webhook: give the URL Event Grid should deliver to (e.g. receiver.url).")
        eg = self.target.client(EventGridManagementClient)
        return eg.event_subscriptions.begin_create_or_update(
            self.target.workspace_id, self.name.value.strip(), rule.to_event_subscription(url)).result()

    def _on_create(self, _button) -> None:
        self.out.outputs = ()
        try:
            created = self.create()
        except Exception as exc:  # shown in the form, not raised into the kernel
            self.out.append_stdout(f"not created: {exc}\n")
            return
        self.out.append_stdout(f"{created.name}: {created.provisioning_state}\n")

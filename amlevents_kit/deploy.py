"""Deploy a model when it is registered with the right tags (lesson 05's handler).

Azure's no-code-deployment sample did this with SDK v1 and Azure Container Instances (both
retired), trusted the subscription filter alone, and deployed again on every redelivery. This
handler checks everything again (the topic is our workspace, the event is ModelRegistered, the tags
match), deploys through azure-ai-ml to a managed online endpoint, and is idempotent: the deployment
is named after the model version, so a redelivered event finds it and does nothing::

    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true", "stage": "production"},
                          endpoint="churn-ep")
    deployer = TagDeployer(rule, target.ml_client())
    receiver.on(events.MODEL_REGISTERED)(deployer)       # or deployer(event) yourself
    rule.event_subscription(receiver.url)                # the subscription that feeds it

A deployment that fails raises: the webhook answers 500 and Event Grid retries the event on its
schedule; the retry finds the failed deployment and tries again. If the deployment succeeded but moving
the traffic failed, the retry finds the deployment without its share and moves the traffic (unless a
deployment this handler made later has taken over since). An event for a model version the workspace
does not have is skipped, without creating anything: retrying it could never succeed.
``export_function_app(rule, folder)`` writes the same handler as an Azure Functions app.
This module imports only ``amlevents_kit.events`` (and azure-ai-ml when it deploys), so the
function app can carry a copy of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import sys
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import events as _events

#: The tag values a rule may require are compared as Event Grid's StringIn does: case-insensitively.
DEFAULT_INSTANCE_TYPE = "Standard_DS3_v2"


@dataclass
class DeploymentRule:
    """Which registrations to deploy (``tags``: key -> allowed value or values) and where."""

    workspace_id: str
    tags: dict[str, Any]
    endpoint: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    traffic: int = 100  # share of the endpoint's traffic the new deployment takes

    def __post_init__(self) -> None:
        if not self.tags:
            raise ValueError("DeploymentRule.tags: give at least one tag condition, e.g. {'ncd': 'true'}; "
                             "a rule without one would deploy every model registered in the workspace.")
        self.tags = {str(k): _values(k, v) for k, v in self.tags.items()}
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]", self.endpoint or ""):
            raise ValueError(f"DeploymentRule.endpoint: {self.endpoint!r} is not a valid endpoint name (3-32 "
                             "letters, digits and '-', starting with a letter, not ending with '-').")
        if not 0 <= int(self.traffic) <= 100:
            raise ValueError(f"DeploymentRule.traffic: {self.traffic!r} must be from 0 to 100.")
        if int(self.instance_count) < 1:
            raise ValueError(f"DeploymentRule.instance_count: {self.instance_count!r} must be at least 1.")

    # -- what the handler checks -----------------------------------------------------------------------
    def mismatches(self, model_tags: dict[str, Any] | None) -> list[str]:
        """Why these tags do not satisfy the rule (empty when they do)."""
        tags = model_tags or {}
        problems = []
        for key, allowed in self.tags.items():
            if key not in tags:
                problems.append(f"tag {key!r} is missing")
            elif str(tags[key]).lower() not in {a.lower() for a in allowed}:
                problems.append(f"tag {key!r} is {tags[key]!r}, not one of {allowed}")
        return problems

    # -- the subscription that feeds the handler ---------------------------------------------------------
    def advanced_filters(self) -> list[dict[str, Any]]:
        """One StringIn filter per tag, on ``data.modelTags.<key>`` (REST form)."""
        return [{"operatorType": "StringIn", "key": f"data.modelTags.{key}", "values": list(values)}
                for key, values in self.tags.items()]

    def event_filter(self) -> dict[str, Any]:
        return {"includedEventTypes": [_events.MODEL_REGISTERED], "subjectBeginsWith": "models/",
                "isSubjectCaseSensitive": False, "advancedFilters": self.advanced_filters()}

    def event_subscription(self, endpoint_url: str, *, max_delivery_attempts: int = 30,
                           event_time_to_live: int = 1440) -> dict[str, Any]:
        """The event subscription's REST body (``properties``), webhook destination ``endpoint_url``."""
        return {"properties": {
            "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": endpoint_url,
                                                                        "maxEventsPerBatch": 1,
                                                                        "preferredBatchSizeInKilobytes": 64}},
            "filter": self.event_filter(),
            "eventDeliverySchema": "EventGridSchema",
            "retryPolicy": {"maxDeliveryAttempts": max_delivery_attempts,
                            "eventTimeToLiveInMinutes": event_time_to_live},
            "labels": ["amlevents-kit", "deploy-by-tags"],
        }}

    def to_event_subscription(self, endpoint_url: str):
        """The same subscription as an ``azure.mgmt.eventgrid.models.EventSubscription``."""
        from azure.mgmt.eventgrid.models import (EventSubscription, EventSubscriptionFilter, RetryPolicy,
                                                 StringInAdvancedFilter, WebHookEventSubscriptionDestination)
        return EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=endpoint_url, max_events_per_batch=1,
                                                            preferred_batch_size_in_kilobytes=64),
            filter=EventSubscriptionFilter(
                included_event_types=[_events.MODEL_REGISTERED], subject_begins_with="models/",
                is_subject_case_sensitive=False,
                advanced_filters=[StringInAdvancedFilter(key=f["key"], values=f["values"])
                                  for f in self.advanced_filters()]),
            event_delivery_schema="EventGridSchema",
            retry_policy=RetryPolicy(max_delivery_attempts=30, event_time_to_live_in_minutes=1440),
            labels=["amlevents-kit", "deploy-by-tags"])

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class DeployOutcome:
    """What the handler did with one event: ``deployed``, ``already deployed``, ``in progress`` or ``skipped``."""

    action: str
    reason: str
    event_id: str = ""
    model: str | None = None
    endpoint: str | None = None
    deployment: str | None = None

    def __str__(self) -> str:
        where = f" -> {self.endpoint}/{self.deployment}" if self.deployment else ""
        return f"{self.action}: {self.model or '-'}{where} ({self.reason})"


def deployment_name(model_name: str, model_version: str) -> str:
    """The deployment's name for a model version: stable, so a redelivery finds it (1-32 chars).

    A name that is already a valid deployment name (``churn`` version 4 -> ``churn-v4``) is kept; when
    the clean-up changes it (case, ``_``, ``.``, a leading digit) or it is too long, a short hash of the
    raw name and version is added, so ``my_model``, ``my-model`` and ``My.Model`` get three deployments.
    """
    raw = f"{model_name}-v{model_version}"
    base = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    if not base or not base[0].isalpha():
        base = "m-" + base
    if base != raw or len(base) > 32:
        digest = hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:6]
        base = base[:25].rstrip("-") + "-" + digest
    return base


class _QuietHere(logging.Filter):
    """Drops azure-ai-ml's progress lines ("Check: endpoint … exists", ".") logged by the handler's thread.

    The handler runs in a webhook's thread; its progress would land in whichever notebook cell runs
    at that moment. Other threads (a learner's own ``begin_create_or_update``) keep them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "quiet", False)


_quiet = _QuietHere()
for _name in ("azure.ai.ml._utils._endpoint_utils", "azure.ai.ml.operations._online_deployment_operations",
              "azure.ai.ml.operations._online_endpoint_operations"):
    logging.getLogger(_name).addFilter(_quiet)

_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(endpoint: str, deployment: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((endpoint, deployment), threading.Lock())


class _QuietStdout:
    """Stands in for ``sys.stdout`` while a handler runs: drops what the handler's thread prints, and
    the "." azure-ai-ml's pollers print on every poll (they poll in azure-core's "LROPoller(...)"
    threads); passes everything else through."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if getattr(_quiet.local, "quiet", False) or threading.current_thread().name.startswith("LROPoller("):
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_stdout_guard = threading.Lock()
_stdout_users = 0
_stdout_saved: Any = None


@contextmanager
def _silenced_here():
    """Silence azure-ai-ml's progress output in this thread only (the handler's), for the duration."""
    global _stdout_users, _stdout_saved
    with _stdout_guard:
        if _stdout_users == 0:
            _stdout_saved = sys.stdout
            sys.stdout = _QuietStdout(_stdout_saved)
        _stdout_users += 1
    _quiet.local.quiet = True
    try:
        yield
    finally:
        _quiet.local.quiet = False
        with _stdout_guard:
            _stdout_users -= 1
            if _stdout_users == 0:
                if isinstance(sys.stdout, _QuietStdout):
                    sys.stdout = _stdout_saved
                _stdout_saved = None


def deploy_on_model_registered(event: Any, rule: DeploymentRule, ml_client: Any) -> DeployOutcome:
    """Check the event again, then deploy its model version once (see the module docstring)."""
    with _silenced_here():
        return _deploy(event, rule, ml_client)


def _deploy(event: Any, rule: DeploymentRule, ml_client: Any) -> DeployOutcome:
    if isinstance(event, dict):
        event = _events.parse_event(event)
    event_id = getattr(event, "id", "")
    if (event.topic or "").lower() != rule.workspace_id.lower():
        return DeployOutcome("skipped", f"the event comes from {event.topic!r}, not this rule's workspace", event_id)
    if event.type != _events.MODEL_REGISTERED:
        return DeployOutcome("skipped", f"{event.type} is not ModelRegistered", event_id)
    data = event.data
    name, version = data.model_name, str(data.model_version)
    model = f"{name}:{version}"
    problems = rule.mismatches(data.model_tags)
    if problems:
        return DeployOutcome("skipped", "; ".join(problems), event_id, model)
    if not _model_exists(ml_client, name, version):
        # answering 500 would make Event Grid retry for a day an event that can never deploy
        return DeployOutcome("skipped", f"model version {model} not found in the workspace", event_id, model)
    deployment = deployment_name(name, version)
    with _lock_for(rule.endpoint, deployment):
        existing = _get_deployment(ml_client, rule.endpoint, deployment)
        if existing is not None:
            serves = _model_of(existing)
            if serves != (name, version):
                shown = ":".join(serves) if serves else repr(getattr(existing, "model", None))
                return DeployOutcome("skipped", f"deployment {deployment!r} on {rule.endpoint!r} serves {shown}, "
                                     "another model: it is left alone", event_id, model, rule.endpoint, deployment)
            state = str(existing.provisioning_state)
            if state.lower().endswith("succeeded"):
                return _deployed_already(ml_client, rule, existing, event_id, model)
            if not state.lower().endswith("failed"):
                return DeployOutcome("in progress", f"the deployment is {state}", event_id, model, rule.endpoint,
                                     deployment)
        _ensure_endpoint(ml_client, rule.endpoint)
        from azure.ai.ml.entities import ManagedOnlineDeployment
        ml_client.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name=deployment, endpoint_name=rule.endpoint, model=f"azureml:{name}:{version}",
            instance_type=rule.instance_type, instance_count=int(rule.instance_count),
            tags={"deployed-by": DEPLOYED_BY, "model": model, "deployed-at": _now()})).result()
        _route_traffic(ml_client, rule.endpoint, deployment, int(rule.traffic))
    return DeployOutcome("deployed", f"tags match {sorted(rule.tags)}", event_id, model, rule.endpoint, deployment)


DEPLOYED_BY = "amlevents-kit deploy-by-tags"


def _now() -> str:
    """UTC now, in a form that sorts as text (the ``deployed-at`` tag that orders the handler's deployments)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _deployed_already(ml_client: Any, rule: DeploymentRule, existing: Any, event_id: str,
                      model: str) -> DeployOutcome:
    """A redelivery found the deployment succeeded: give it its traffic if an earlier delivery could not."""
    deployment = existing.name
    ep = ml_client.online_endpoints.get(rule.endpoint)
    deployments = list(ml_client.online_deployments.list(rule.endpoint))
    plan = _traffic_plan(ep.traffic, deployment, int(rule.traffic), _serving(deployments, deployment))
    if int((ep.traffic or {}).get(deployment, 0)) == plan[deployment]:
        return DeployOutcome("already deployed", "a redelivered event: nothing to do", event_id, model,
                             rule.endpoint, deployment)
    newer = _newer_than(existing, deployments)
    if newer:
        return DeployOutcome("already deployed", f"{newer} was deployed after it and keeps the traffic", event_id,
                             model, rule.endpoint, deployment)
    _set_traffic(ml_client, ep, plan)
    return DeployOutcome("deployed", f"the deployment was there without its {plan[deployment]}% of the traffic "
                         "(an earlier delivery failed after deploying): traffic moved now", event_id, model,
                         rule.endpoint, deployment)


def _model_exists(ml_client: Any, name: str, version: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError
    try:
        ml_client.models.get(name=name, version=version)
    except ResourceNotFoundError:
        return False
    return True


def _model_of(deployment: Any) -> tuple[str, str] | None:
    """(name, version) of the model a deployment serves: azure-ai-ml gives its ARM id (or azureml:name:version)."""
    model = getattr(deployment, "model", None)
    if model is not None and not isinstance(model, str):
        name, version = getattr(model, "name", None), getattr(model, "version", None)
        return (str(name), str(version)) if name and version else None
    m = re.search(r"/models/([^/]+)/versions/([^/]+)$", model or "")
    if m:
        return m.group(1), m.group(2)
    if (model or "").startswith("azureml:") and model.count(":") == 2:
        _, name, version = model.split(":")
        return name, version
    return None


def _serving(deployments: list[Any], deployment: str) -> set[str]:
    """The deployments that may take traffic: the one being routed and every other that succeeded."""
    return {d.name for d in deployments if str(d.provisioning_state).lower().endswith("succeeded")} | {deployment}


def _newer_than(existing: Any, deployments: list[Any]) -> str | None:
    """A deployment this handler made after ``existing`` (and that has not failed), if there is one."""
    since = (existing.tags or {}).get("deployed-at", "")
    for d in deployments:
        tags = d.tags or {}
        if (d.name != existing.name and tags.get("deployed-by") == DEPLOYED_BY and tags.get("deployed-at", "") > since
                and not str(d.provisioning_state).lower().endswith("failed")):
            return d.name
    return None


def _get_deployment(ml_client: Any, endpoint: str, deployment: str) -> Any:
    from azure.core.exceptions import ResourceNotFoundError
    try:
        return ml_client.online_deployments.get(name=deployment, endpoint_name=endpoint)
    except ResourceNotFoundError:
        return None


def _ensure_endpoint(ml_client: Any, endpoint: str) -> None:
    from azure.core.exceptions import ResourceNotFoundError
    try:
        ml_client.online_endpoints.get(endpoint)
    except ResourceNotFoundError:
        from azure.ai.ml.entities import ManagedOnlineEndpoint
        ml_client.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(
            name=endpoint, auth_mode="key", tags={"created-by": DEPLOYED_BY})).result()


def _traffic_plan(current: dict[str, Any] | None, deployment: str, share: int,
                  serving: set[str] | None = None) -> dict[str, int]:
    """The endpoint's traffic once ``deployment`` has ``share`` percent: the others that can serve
    (``serving``; all when not given) keep their proportions of the rest, the rest get none."""
    others = {k: int(v) for k, v in (current or {}).items()
              if k != deployment and (serving is None or k in serving)}
    rest = 100 - share
    total = sum(others.values())
    traffic = {k: (v * rest // total if total else 0) for k, v in others.items()}
    if share < 100 and total == 0:
        share = 100  # nothing else takes traffic: the new deployment must
    traffic[deployment] = share
    if sum(traffic.values()) != 100:
        biggest = max(others, key=others.get) if others and total else deployment
        traffic[biggest] += 100 - sum(traffic.values())
    return traffic


def _route_traffic(ml_client: Any, endpoint: str, deployment: str, share: int) -> None:
    """Give the new deployment ``share`` percent; the others that succeeded keep their proportions of the rest."""
    ep = ml_client.online_endpoints.get(endpoint)
    serving = _serving(list(ml_client.online_deployments.list(endpoint)), deployment)
    _set_traffic(ml_client, ep, _traffic_plan(ep.traffic, deployment, share, serving))


def _set_traffic(ml_client: Any, ep: Any, traffic: dict[str, int]) -> None:
    ep.traffic = traffic
    ml_client.online_endpoints.begin_create_or_update(ep).result()


@dataclass
class TagDeployer:
    """The handler as a callable for ``Receiver.on(...)``; keeps every outcome in ``outcomes``."""

    rule: DeploymentRule
    ml_client: Any
    outcomes: list[DeployOutcome] = field(default_factory=list)

    def __call__(self, event: Any) -> DeployOutcome:
        outcome = deploy_on_model_registered(event, self.rule, self.ml_client)
        self.outcomes.append(outcome)
        return outcome


FUNCTION_APP = '''

# -- deploy-by-tags (amlevents_kit.deploy) ------------------------------------------------------------
import os

from amlevents_kit.deploy import DeploymentRule, deploy_on_model_registered

RULE = DeploymentRule(**{rule})
_ml_client = None


def _client():
    """An MLClient on the rule's workspace, signed in with the function app's managed identity."""
    global _ml_client
    if _ml_client is None:
        from azure.ai.ml import MLClient
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.core.tools import parse_resource_id
        ws = parse_resource_id(RULE.workspace_id)
        _ml_client = MLClient(DefaultAzureCredential(), ws["subscription"], ws["resource_group"], ws["name"],
                              cloud="AzureCloud")
    return _ml_client


@app.function_name(name="deploy_by_tags")
@app.event_grid_trigger(arg_name="azevent")
def deploy_by_tags_trigger(azevent: func.EventGridEvent) -> None:
    outcome = deploy_on_model_registered(_event(azevent), RULE, _client())
    print(outcome)
'''


def export_function_app(rule: DeploymentRule, folder: str | Path) -> Path:
    """Write the handler as an Azure Functions app (EventGridTrigger) into ``folder``; returns it.

    Uses the receiver's exporter for the app skeleton (host.json, settings, the typed-event
    adapter and a copy of ``amlevents_kit.events``) and adds this module beside it. Deploy with
    ``func azure functionapp publish <app>``; give the app's managed identity the
    "AzureML Data Scientist" role on the workspace, and subscribe the function with the filter of
    ``rule.event_subscription(...)`` (endpoint type ``AzureFunction``).
    """
    from .receiver import export as receiver_export
    out = receiver_export.export_function_app([], folder, app_name="deploy-by-tags")
    app = out / "function_app.py"
    app.write_text(app.read_text() + FUNCTION_APP.format(rule=repr(json.loads(rule.to_json()))))
    (out / "requirements.txt").write_text(receiver_export.REQUIREMENTS + "azure-ai-ml\nazure-identity\n")
    shutil.copy2(Path(__file__), out / "amlevents_kit" / "deploy.py")
    return out


def _values(key: Any, value: Any) -> list[str]:
    values = [value] if isinstance(value, (str, int, float, bool)) else list(value or [])
    if not values:
        raise ValueError(f"DeploymentRule.tags[{key!r}]: give at least one allowed value.")
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in values]

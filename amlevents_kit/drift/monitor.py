"""The event bridge: a drift monitor whose runs raise ``DatasetDriftDetected``.

Azure ML v1 dataset monitors (``DataDriftDetector``) raised this event; they were retired on
2025-09-01, and Azure ML v2 model monitoring raises no drift event at all (a breached v2 signal only
fails its monitoring run: a RunStatusChanged of that run). Nothing else turns a drift result into an
event, so this does::

    monitor = DriftMonitor(target, "churn-drift", baseline=training_frame, threshold=0.1)
    run = monitor.run(new_batch, target_dataset_id="azureml://datastores/.../batch-07.csv")
    run.result.table          # per feature, as drift.detect() computes it
    run.event                 # the DatasetDriftDetected event it raised (None when nothing drifted)

Where the event goes:

- **sandbox** (``connect()``): the monitor is part of the workspace, so the event is raised on the
  workspace topic, exactly where a v1 monitor raised it: the workspace's subscriptions, Logic App
  triggers and the guide's ``DatasetDriftDetected`` filter all see it;
- **Azure** (or ``topic_endpoint=`` anywhere): it is published with ``EventGridPublisherClient`` to a
  custom Event Grid topic you own (``create_drift_topic``), since the workspace topic accepts no
  events from outside; subscribe your handlers to that topic instead of the workspace.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from .. import events
from ..events.models import parse_time
from .detect import DriftResult, detect
from .errors import DriftError
from .profile import Profile, profile

_NAMESPACE = uuid.UUID("0d7a9c55-3f51-4b8e-a1c2-6e0f0b9d8f21")
WHEN = ("drifted", "always", "never")


@dataclass
class DriftTopic:
    """A custom Event Grid topic to publish drift events to (``create_drift_topic``)."""

    id: str
    endpoint: str
    key: str
    connection_verify: str | bool = True  # the sandbox's CA file for its loopback HTTPS topics


@dataclass
class MonitorRun:
    """One monitor run: the drift result and the event it raised (if any)."""

    run_id: str
    result: DriftResult
    event: dict | None
    published_to: str | None  # "workspace topic", the custom topic's id, or None
    data: dict = field(default_factory=dict)  # the DatasetDriftDetected data, raised or not

    @property
    def drifted(self) -> bool:
        return self.result.drifted

    def summary(self) -> str:
        """Two lines: the verdict, and what was raised where."""
        raised = (f"raised {events.DATASET_DRIFT_DETECTED.rsplit('.', 1)[-1]} on the {self.published_to}"
                  if self.event else "no event raised")
        return (f"{self.result.verdict()}\n"
                f"drift coefficient {self.data.get('driftCoefficient', float('nan')):.3f}; {raised}")

    def __repr__(self) -> str:
        return f"<MonitorRun {self.run_id}: {self.summary().replace(chr(10), '; ')}>"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.summary()).replace(chr(10), '<br>')}</p>{self.result._repr_html_()}"


class DriftMonitor:
    """A named drift monitor on a workspace: a baseline profile plus the rule that decides drift."""

    def __init__(self, target: Any, name: str, baseline: Profile | pd.DataFrame, *,
                 features: list[str] | None = None, metric: str | dict | None = None,
                 threshold: float | dict | None = None, rule: str = "any", share: float = 0.5,
                 coefficient_threshold: float = 0.2, base_dataset_id: str | None = None,
                 topic: DriftTopic | None = None, when: str = "drifted") -> None:
        """``rule``/``metric``/``threshold``/``features`` are drift.detect()'s; ``when`` says when a run
        raises the event: 'drifted' (as v1 monitors alerted), 'always' or 'never'. ``topic`` publishes to a
        custom Event Grid topic instead of the sandbox workspace (required on Azure)."""
        if not isinstance(name, str) or not name.strip():
            raise DriftError(f"name must be a non-empty string, got {name!r}")
        if when not in WHEN:
            raise DriftError(f"when must be one of {list(WHEN)}, got {when!r}")
        if isinstance(baseline, pd.DataFrame):  # features named here are kept whatever the column typing says
            baseline = profile(baseline, name=base_dataset_id or f"{name}-baseline", features=features)
        elif not isinstance(baseline, Profile):
            raise DriftError(f"baseline must be a Profile or a DataFrame, got {type(baseline).__name__}")
        if topic is None and getattr(target, "sandbox", None) is None:
            raise DriftError(
                "On Azure a drift monitor needs topic=create_drift_topic(target, name): Azure ML v2 raises no "
                "drift event and v1 dataset monitors are retired, so the event goes to a custom Event Grid topic.")
        self.target = target
        self.name = name
        self.baseline = baseline
        self.options = dict(features=features, metric=metric, threshold=threshold, rule=rule, share=share,
                            coefficient_threshold=coefficient_threshold)
        self.base_dataset_id = base_dataset_id or baseline.name or f"{name}-baseline"
        self.topic = topic
        self.when = when
        self.runs: list[MonitorRun] = []
        if features is not None:  # fail now, not at the first run
            missing = [f for f in ([features] if isinstance(features, str) else features) if f not in baseline.features]
            if missing:
                raise DriftError(f"features must name baseline columns, got {missing}; baseline: {baseline.features}")

    @property
    def id(self) -> str:
        """``dataDriftId``: stable for a monitor name on a workspace (a GUID, as v1's were)."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.target.workspace_id.lower()}/datadrift/{self.name}"))

    def run(self, target_frame: pd.DataFrame, *, target_dataset_id: str, start_time: Any = None,
            end_time: Any = None, run_id: str | None = None) -> MonitorRun:
        """Score ``target_frame`` against the baseline and raise DatasetDriftDetected per ``when``."""
        if not isinstance(target_dataset_id, str) or not target_dataset_id:
            raise DriftError(f"target_dataset_id must be a non-empty string, got {target_dataset_id!r}")
        run_id = run_id or f"{self.name}_{uuid.uuid4().hex}"
        result = detect(self.baseline, target_frame, **self.options)
        data = result.to_event_data(data_drift_id=self.id, data_drift_name=self.name, run_id=run_id,
                                    base_dataset_id=self.base_dataset_id, target_dataset_id=target_dataset_id,
                                    start_time=start_time, end_time=end_time)
        event, where = None, None
        if self.when == "always" or (self.when == "drifted" and result.drifted):
            event, where = self._publish(data)
        run = MonitorRun(run_id=run_id, result=result, event=event, published_to=where, data=data)
        self.runs.append(run)
        return run

    # -- publishing ----------------------------------------------------------------------------------
    def _publish(self, data: dict) -> tuple[dict, str]:
        sandbox = getattr(self.target, "sandbox", None)
        now = sandbox.clock.utcnow() if sandbox is not None else datetime.now(timezone.utc)
        event = events.dataset_drift_detected(
            topic=self.target.workspace_id, data_drift_id=data["dataDriftId"], data_drift_name=data["dataDriftName"],
            run_id=data["runId"], base_dataset_id=data["baseDatasetId"], target_dataset_id=data["targetDatasetId"],
            drift_coefficient=data["driftCoefficient"], start_time=data["startTime"], end_time=data["endTime"],
            time=now)
        if self.topic is None:
            # In the sandbox the monitor belongs to the workspace: record and raise it there, like any
            # workspace event (backends['machinelearningservices'].events() lists it).
            ml = sandbox.backends.get("machinelearningservices")
            (ml.publish if ml is not None else sandbox.publish)([event])
            return event, "workspace topic"
        publish_to_topic(self.topic, [event])
        event = dict(event, topic=self.topic.id)  # Event Grid stamps the custom topic's id
        return event, self.topic.id

    def __repr__(self) -> str:
        where = self.topic.id if self.topic else "the workspace topic"
        return (f"<DriftMonitor {self.name!r} id={self.id} features={len(self.baseline.features)} "
                f"rule={self.options['rule']!r} -> {where}>")


def publish_to_topic(topic: DriftTopic, wire_events: list[dict]) -> None:
    """Send Event Grid schema events to a custom topic with ``EventGridPublisherClient`` and its key.

    ``topic`` is left out of each event: Event Grid fills it with the custom topic's id.
    """
    from azure.core.credentials import AzureKeyCredential
    from azure.eventgrid import EventGridEvent, EventGridPublisherClient

    client = EventGridPublisherClient(topic.endpoint, AzureKeyCredential(topic.key))
    batch = [EventGridEvent(subject=e["subject"], event_type=e["eventType"], data=e["data"],
                            data_version=e.get("dataVersion") or "1", id=e["id"],
                            event_time=parse_time(e["eventTime"]))
             for e in wire_events]
    # The publisher ignores connection_verify given to its constructor: it must come with send().
    client.send(batch, connection_verify=topic.connection_verify)


def create_drift_topic(target: Any, name: str) -> DriftTopic:
    """Create (or find) a custom Event Grid topic for drift events; returns its id, endpoint and key.

    *Azure CLI*: ``az eventgrid topic create -g <rg> -n <name> -l <location>`` then
    ``az eventgrid topic key list -g <rg> -n <name>``. In the sandbox the topic's endpoint is the
    sandbox's loopback HTTPS server, so publishing takes the same wire as on Azure.
    """
    from azure.mgmt.eventgrid import EventGridManagementClient
    from azure.mgmt.eventgrid.models import Topic

    eg = target.client(EventGridManagementClient)
    verify: str | bool = True
    if getattr(target, "sandbox", None) is not None:
        verify = target.serve()["ca_path"]  # the custom topic's endpoint is the sandbox's HTTPS server
    elif getattr(target, "ca_path", None):
        verify = target.ca_path
    created = eg.topics.begin_create_or_update(target.resource_group, name, Topic(location=target.location)).result()
    keys = eg.topics.list_shared_access_keys(target.resource_group, name)
    return DriftTopic(id=created.id, endpoint=created.endpoint, key=keys.key1, connection_verify=verify)

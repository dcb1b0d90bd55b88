"""A timeline of everything an event-driven loop did: events, deliveries, Logic App runs, mail, pipelines, jobs.

Event-driven work is scattered: the event is in Event Grid, its delivery in a log, the workflow run in
the Logic App's history, the email in a mailbox, the pipeline run in Data Factory, the job and the
model in the workspace. ``collect`` reads all of them and puts them on one clock::

    tl = timeline.collect(target, since=start, workflows=["mlops-drift"], factories=["mlops-adf"],
                          models=["mlops-churn"], mail_to="ml-team@example.com")
    tl                      # a table in Jupyter
    print(tl.text())        # numbered steps, oldest first
    tl.plot()               # one lane per source (a matplotlib Figure)

Sources: the workspace's events and the delivery log (sandbox only: Azure keeps neither for you to
read), Logic App run histories and actions (``LogicManagementClient``), mail (sandbox mailbox),
Data Factory pipeline and activity runs (``DataFactoryManagementClient``), jobs, model versions and
online deployments (``MLClient``). All sandbox times are the sandbox clock's.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from .events.models import parse_time

SOURCES = ("event", "delivery", "logic app", "mail", "pipeline", "job", "model", "deployment")
_RANK = {s: i for i, s in enumerate(SOURCES)}


@dataclass
class Entry:
    """One thing that happened: when, from which source, what, and a detail line."""

    time: datetime
    source: str
    what: str
    detail: str = ""


def _when(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from an ISO string, a datetime or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    parsed = parse_time(str(value))  # Azure writes 7 fractional digits, which Python 3.10 cannot parse
    if parsed is None:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    return parsed


class Timeline:
    """Entries in time order (ties broken by the order of SOURCES: an event before its delivery)."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = sorted(entries, key=lambda e: (e.time, _RANK.get(e.source, 99)))

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def sources(self) -> list[str]:
        return [s for s in SOURCES if any(e.source == s for e in self.entries)]

    def first(self, source: str, contains: str = "") -> Entry | None:
        """The first entry of a source whose ``what`` contains a text."""
        return next((e for e in self.entries if e.source == source and contains in e.what), None)

    def table(self):
        """A DataFrame: time, seconds since the first entry, source, what, detail."""
        import pandas as pd
        start = self.entries[0].time if self.entries else None
        return pd.DataFrame([{"time": e.time.strftime("%H:%M:%S.%f")[:-3],
                              "t+ (s)": round((e.time - start).total_seconds(), 3),
                              "source": e.source, "what": e.what, "detail": e.detail} for e in self.entries],
                            columns=["time", "t+ (s)", "source", "what", "detail"])

    def text(self, *, times: bool = False) -> str:
        """Numbered lines, oldest first; ``times=True`` adds seconds since the first entry."""
        start = self.entries[0].time if self.entries else None
        lines = []
        for i, e in enumerate(self.entries, 1):
            when = f"t+{(e.time - start).total_seconds():7.2f}s  " if times else ""
            lines.append(f"{i:2}. {when}{e.source:10} {e.what}")
        return "\n".join(lines)

    def plot(self, ax=None):
        """One lane per source, a marker per entry at its time (seconds since the first); returns the Figure."""
        from matplotlib.figure import Figure
        lanes = self.sources()
        if ax is None:
            fig = Figure(figsize=(9, 0.45 * max(len(lanes), 1) + 1.4), layout="constrained")
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        if not self.entries:
            ax.set_title("nothing happened")
            return fig
        start = self.entries[0].time
        y = {s: len(lanes) - 1 - i for i, s in enumerate(lanes)}
        xs = [(e.time - start).total_seconds() for e in self.entries]
        ax.scatter(xs, [y[e.source] for e in self.entries], s=40, zorder=3,
                   c=[f"C{_RANK.get(e.source, 0)}" for e in self.entries])
        shown = [(x, e) for x, e in zip(xs, self.entries) if e.source in ("event", "mail", "model", "deployment")]
        per_lane: dict[str, int] = {}
        for x, e in shown:  # alternate above/below within a lane, so close neighbours do not overlap
            i = per_lane[e.source] = per_lane.get(e.source, -1) + 1
            ax.annotate(_label(e), (x, y[e.source]), textcoords="offset points", xytext=(4, 7 if i % 2 else -13),
                        fontsize=7)
        ax.set_yticks(list(y.values()), list(y))
        ax.set_xlabel("seconds since the first entry")
        ax.set_ylim(-0.7, len(lanes) - 0.2)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"{len(self.entries)} entries", fontsize=10)
        return fig

    def __repr__(self) -> str:
        return f"<Timeline: {len(self.entries)} entries>\n{self.text()}"

    def _repr_html_(self) -> str:
        return self.table().to_html(index=False, escape=True)


def _label(e: Entry) -> str:
    """A short label for the plot: the event type, the mail's subject, the model or deployment name."""
    if e.source == "event":
        return e.what.split(" ", 1)[0]
    if e.source == "mail":
        subject = e.what.split(": ", 1)[-1]
        return "mail: " + (subject if len(subject) <= 30 else subject[:29] + "…")
    return e.what.split(" ")[1]


def collect(target: Any, *, since: Any = None, event_types: Iterable[str] | None = None,
            subject_prefixes: Iterable[str] | None = None, subscriptions: Iterable[str] | None = None,
            workflows: Iterable[str] = (), factories: Iterable[str] = (), experiments: Iterable[str] = (),
            models: Iterable[str] = (), endpoints: Iterable[str] = (), mail_to: str | None = None) -> Timeline:
    """Gather what happened since ``since`` (a datetime or ISO string), limited to the named things.

    ``event_types``/``subject_prefixes`` choose the workspace events (short or full type names);
    ``subscriptions``: name prefixes of the event subscriptions whose deliveries count (default: all,
    for the chosen events); ``workflows``, ``factories``, ``experiments`` (jobs), ``models``,
    ``endpoints``: names; ``mail_to``: the recipient whose mail counts.
    """
    since_t = _when(since) or datetime.min.replace(tzinfo=timezone.utc)
    entries: list[Entry] = []
    sandbox = getattr(target, "sandbox", None)
    if sandbox is not None:
        entries += _events_and_deliveries(sandbox, event_types, subject_prefixes, subscriptions)
        if mail_to:
            entries += _mail(target, mail_to)
    for name in workflows:
        entries += _logic_runs(target, name)
    for name in factories:
        entries += _pipeline_runs(target, name)
    if experiments or models or endpoints:
        ml = target.ml_client()
        entries += _jobs(ml, experiments) + _models(ml, models) + _deployments(ml, endpoints)
    return Timeline(e for e in entries if e.time >= since_t)


# -- sources ------------------------------------------------------------------------------------------
def _short(event_type: str) -> str:
    return event_type.rsplit(".", 1)[-1]


def _events_and_deliveries(sandbox, event_types, subject_prefixes, subscriptions) -> list[Entry]:
    types = {_short(t).lower() for t in event_types} if event_types is not None else None
    prefixes = tuple(subject_prefixes or ())
    subs = tuple(s.lower() for s in subscriptions) if subscriptions is not None else None  # ARM names: any case

    def wanted(event: dict) -> bool:
        if types is not None and _short(event.get("eventType", "")).lower() not in types:
            return False
        return not prefixes or str(event.get("subject", "")).startswith(prefixes)

    seen: dict[str, dict] = {}
    ml = sandbox.backends.get("machinelearningservices")
    for event in (ml.events() if ml is not None else []):
        if wanted(event):
            seen[event["id"]] = event
    out = []
    delivery = sandbox.service("delivery")
    for d in delivery.deliveries():
        event = d.get("event") or {}
        if not wanted(event) or (subs is not None and not d["subscription"].lower().startswith(subs)):
            continue
        seen.setdefault(event["id"], event)
        for a in d["attempts"]:
            status = a["status"] if a["status"] is not None else "-"
            out.append(Entry(_when(a["time"]), "delivery",
                             f"{_short(event['eventType'])} -> {d['subscription']}: {status} {a['outcome']}",
                             f"attempt {a['attempt']}" + (f", {a['error']}" if a.get("error") else "")))
    for event in seen.values():
        when = _when(event.get("eventTime") or event.get("time"))
        out.append(Entry(when, "event", f"{_short(event['eventType'])} {event['subject']}",
                         f"id {event['id']} on {event.get('topic', '').rsplit('/', 1)[-1]}"))
    return out


def _mail(target, to: str) -> list[Entry]:
    from .mailbox import open_mailbox
    box = open_mailbox(target)
    received = {e["seq"]: e.get("received") for e in box._entries()}
    out = []
    for m in box.messages(to=to):
        when = received.get(m.seq)
        if when is None:
            continue
        out.append(Entry(datetime.fromtimestamp(when, tz=timezone.utc), "mail", f"to {to}: {m.subject}",
                         f"sent by {m.workflow.rsplit('/', 1)[-1]}"))
    return out


def _logic_runs(target, workflow: str) -> list[Entry]:
    from azure.mgmt.logic import LogicManagementClient
    logic = target.client(LogicManagementClient)
    out = []
    for run in logic.workflow_runs.list(target.resource_group, workflow):
        out.append(Entry(_when(run.start_time), "logic app", f"{workflow} run {run.status}",
                         f"run {run.name}"))
        for action in logic.workflow_run_actions.list(target.resource_group, workflow, run.name):
            if action.start_time is not None:
                out.append(Entry(_when(action.start_time), "logic app", f"{workflow}: {action.name} {action.status}",
                                 f"run {run.name}"))
    return out


def _pipeline_runs(target, factory: str) -> list[Entry]:
    from azure.mgmt.datafactory import DataFactoryManagementClient
    from azure.mgmt.datafactory.models import RunFilterParameters
    adf = target.client(DataFactoryManagementClient)
    window = RunFilterParameters(last_updated_after=datetime(2000, 1, 1, tzinfo=timezone.utc),
                                 last_updated_before=datetime(2200, 1, 1, tzinfo=timezone.utc))
    out = []
    for run in adf.pipeline_runs.query_by_factory(target.resource_group, factory, window).value:
        out.append(Entry(_when(run.run_start), "pipeline", f"{factory}/{run.pipeline_name} run {run.status}",
                         f"run {run.run_id}"))
        for act in adf.activity_runs.query_by_pipeline_run(target.resource_group, factory, run.run_id, window).value:
            out.append(Entry(_when(act.activity_run_start), "pipeline",
                             f"{run.pipeline_name}: {act.activity_name} {act.status}", act.activity_type or ""))
    return out


def _jobs(ml, experiments) -> list[Entry]:
    wanted = set(experiments)
    out = []
    for job in ml.jobs.list() if wanted else []:
        if job.experiment_name not in wanted:
            continue
        created = getattr(job.creation_context, "created_at", None)
        if created is not None:
            out.append(Entry(_when(created), "job", f"job {job.name} submitted", f"experiment {job.experiment_name}"))
    return out


def _models(ml, names) -> list[Entry]:
    out = []
    for name in names:
        for model in ml.models.list(name):
            created = getattr(model.creation_context, "created_at", None)
            if created is not None:
                tags = ", ".join(f"{k}={v}" for k, v in sorted((model.tags or {}).items()))
                out.append(Entry(_when(created), "model", f"model {model.name}:{model.version} registered", tags))
    return out


def _deployments(ml, endpoints) -> list[Entry]:
    from azure.core.exceptions import ResourceNotFoundError
    out = []
    for endpoint in endpoints:
        try:
            deployments = list(ml.online_deployments.list(endpoint))
        except ResourceNotFoundError:
            continue
        for d in deployments:
            created = getattr(getattr(d, "creation_context", None), "created_at", None)
            if created is not None:
                out.append(Entry(_when(created), "deployment", f"deployment {endpoint}/{d.name} created",
                                 str(d.model)))
    return out

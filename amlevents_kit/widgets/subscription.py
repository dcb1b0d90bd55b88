"""An event subscription form and a live delivery monitor.

``SubscriptionForm`` builds the same ``azure.mgmt.eventgrid.models.EventSubscription`` a learner
would write by hand, shows what ``amlevents_kit.filters.lint`` finds in its filter and the
equivalent ``az eventgrid event-subscription create`` command, and creates it through the target
(the sandbox or Azure). ``DeliveryMonitor`` shows the sandbox's deliveries with their state and
attempts, read from the delivery engine's log::

    form = SubscriptionForm(target, name="model-registered", endpoint=receiver.url)
    form                                   # fill it in, press Create
    DeliveryMonitor(target)                # deliveries as they happen
"""

from __future__ import annotations

import html
import shlex
from typing import Any

import ipywidgets as W

from ..events.types import ALL_AML_EVENT_TYPES
from ..filters import OPERATORS, lint

DEFAULT_ATTEMPTS = 30
DEFAULT_TTL = 1440
SCHEMAS = ("EventGridSchema", "CloudEventSchemaV1_0")


def _short(event_type: str) -> str:
    return event_type.rsplit(".", 1)[-1]


class FilterRow(W.HBox):
    """One advanced filter: key, operator, values (comma-separated; ranges as ``lo,hi; lo,hi``)."""

    def __init__(self, key: str = "", operator: str = "StringIn", values: str = "") -> None:
        self.key = W.Text(value=key, placeholder="data.modelTags.stage", description="key",
                          layout=W.Layout(width="260px"))
        self.operator = W.Dropdown(options=list(OPERATORS), value=operator, layout=W.Layout(width="220px"))
        self.values = W.Text(value=values, placeholder="production, staging", layout=W.Layout(width="220px"))
        self.remove = W.Button(icon="trash", tooltip="Remove this filter", layout=W.Layout(width="40px"))
        super().__init__([self.key, self.operator, self.values, self.remove])

    def parsed(self) -> tuple[str, str, Any]:
        """(key, operator, value or values) with the values typed for the operator."""
        kind = OPERATORS[self.operator.value]
        text = self.values.value.strip()
        if kind == "none":
            return self.key.value.strip(), self.operator.value, None
        if kind == "bool":
            return self.key.value.strip(), self.operator.value, text.lower() == "true"
        if kind == "number":
            return self.key.value.strip(), self.operator.value, _number(text)
        if kind == "ranges":
            pairs = [[_number(x) for x in pair.split(",")] for pair in text.split(";") if pair.strip()]
            return self.key.value.strip(), self.operator.value, pairs
        items = [x.strip() for x in text.split(",") if x.strip()]
        if kind == "numbers":
            return self.key.value.strip(), self.operator.value, [_number(x) for x in items]
        return self.key.value.strip(), self.operator.value, items


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text  # left as text: the lint says it must be a number
    return int(value) if value.is_integer() else value


class SubscriptionForm(W.VBox):
    """Build an event subscription on the workspace, see its lint and its ``az`` command, create it."""

    def __init__(self, target, *, name: str = "", endpoint: str = "", scope: str | None = None,
                 event_types: tuple[str, ...] = ALL_AML_EVENT_TYPES) -> None:
        self.target = target
        self.scope = scope or target.workspace_id
        self.name = W.Text(value=name, description="Name", placeholder="3-64 letters, digits, '-'")
        self.types = {t: W.Checkbox(value=False, description=_short(t), indent=False) for t in event_types}
        self.subject_begins = W.Text(description="Begins with", placeholder="models/mymodelname")
        self.subject_ends = W.Text(description="Ends with", placeholder=":1")
        self.case_sensitive = W.Checkbox(value=False, description="Subject case-sensitive", indent=False)
        self.rows = W.VBox([])
        self.add_row = W.Button(description="Add advanced filter", icon="plus")
        self.endpoint = W.Text(value=endpoint, description="Endpoint", placeholder="https://…/api/events",
                               layout=W.Layout(width="520px"))
        self.schema = W.Dropdown(options=SCHEMAS, value="EventGridSchema", description="Schema")
        self.attempts = W.BoundedIntText(value=DEFAULT_ATTEMPTS, min=1, max=30, description="Max attempts")
        self.ttl = W.BoundedIntText(value=DEFAULT_TTL, min=1, max=1440, description="TTL (min)")
        self.dead_letter = W.Checkbox(value=False, description="Dead-letter to blob container", indent=False)
        storage = (f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
                   "/providers/Microsoft.Storage/storageAccounts/amleventsstorage")
        self.dead_letter_account = W.Text(value=storage, description="Storage id", layout=W.Layout(width="520px"))
        self.dead_letter_container = W.Text(value="deadletters", description="Container")
        self.preview_button = W.Button(description="Check", icon="check", tooltip="Lint the filter, show the az command")
        self.create_button = W.Button(description="Create", button_style="primary", icon="paper-plane")
        self.lint_out, self.az_out, self.result_out = W.Output(), W.Output(), W.Output()
        self.created: Any = None
        self.add_row.on_click(lambda _b: self.add_filter())
        self.preview_button.on_click(lambda _b: self.preview())
        self.create_button.on_click(lambda _b: self._on_create())
        box = lambda title, *children: W.VBox([W.HTML(f"<b>{html.escape(title)}</b>"), *children])  # noqa: E731
        super().__init__([
            self.name,
            box("Event types", W.HBox(list(self.types.values()))),
            box("Subject", W.HBox([self.subject_begins, self.subject_ends]), self.case_sensitive),
            box("Advanced filters (AND across rows; values are OR'ed)", self.rows, self.add_row),
            box("Endpoint", self.endpoint, self.schema),
            box("Retry policy", W.HBox([self.attempts, self.ttl])),
            box("Dead-letter", self.dead_letter, self.dead_letter_account, self.dead_letter_container),
            W.HBox([self.preview_button, self.create_button]),
            self.lint_out, self.az_out, self.result_out,
        ])
        for control in (self.name, *self.types.values(), self.subject_begins, self.subject_ends, self.case_sensitive,
                        self.endpoint, self.schema, self.attempts, self.ttl, self.dead_letter,
                        self.dead_letter_account, self.dead_letter_container):
            control.observe(self._changed, names="value")
        self.preview()

    # -- building -------------------------------------------------------------------------------
    def add_filter(self, key: str = "", operator: str = "StringIn", values: str = "") -> FilterRow:
        """Add an advanced-filter row (also what the "Add advanced filter" button does)."""
        row = FilterRow(key, operator, values)
        row.remove.on_click(lambda _b: self._remove(row))
        for control in (row.key, row.operator, row.values):
            control.observe(self._changed, names="value")
        self.rows.children = (*self.rows.children, row)
        self.preview()
        return row

    def _remove(self, row: FilterRow) -> None:
        self.rows.children = tuple(r for r in self.rows.children if r is not row)
        self.preview()

    def _changed(self, _change: Any) -> None:
        """Any edit redraws the lint and the az command, so they always match the form."""
        self.preview()

    @property
    def event_types(self) -> list[str]:
        return [t for t, box in self.types.items() if box.value]

    def filter_model(self):
        """The ``EventSubscriptionFilter`` the form describes."""
        from azure.mgmt.eventgrid import models as m
        advanced = []
        for row in self.rows.children:
            key, op, value = row.parsed()
            cls = getattr(m, f"{op}AdvancedFilter")
            kind = OPERATORS[op]
            if kind == "none":
                advanced.append(cls(key=key))
            elif kind in ("number", "bool"):
                advanced.append(cls(key=key, value=value))
            else:
                advanced.append(cls(key=key, values=value))
        return m.EventSubscriptionFilter(
            included_event_types=self.event_types or None,
            subject_begins_with=self.subject_begins.value or None,
            subject_ends_with=self.subject_ends.value or None,
            is_subject_case_sensitive=self.case_sensitive.value,
            advanced_filters=advanced or None)

    def model(self):
        """The ``EventSubscription`` to send: the object you would write by hand."""
        from azure.mgmt.eventgrid import models as m
        sub = m.EventSubscription(
            destination=m.WebHookEventSubscriptionDestination(endpoint_url=self.endpoint.value.strip()),
            filter=self.filter_model(),
            event_delivery_schema=self.schema.value,
            retry_policy=m.RetryPolicy(max_delivery_attempts=self.attempts.value,
                                       event_time_to_live_in_minutes=self.ttl.value))
        if self.dead_letter.value:
            sub.dead_letter_destination = m.StorageBlobDeadLetterDestination(
                resource_id=self.dead_letter_account.value.strip(),
                blob_container_name=self.dead_letter_container.value.strip())
        return sub

    def lint(self) -> list:
        """What ``amlevents_kit.filters.lint`` finds in the filter (errors Azure rejects, warnings)."""
        return lint(self.filter_model())

    def az_command(self) -> str:
        """The equivalent Azure CLI command (the guide's form, with this form's options)."""
        parts = [["az", "eventgrid", "event-subscription", "create"],
                 ["--name", self.name.value or "<name>"],
                 ["--source-resource-id", self.scope],
                 ["--endpoint", self.endpoint.value or "<endpoint>"]]
        if self.event_types:
            parts.append(["--included-event-types", *self.event_types])
        if self.subject_begins.value:
            parts.append(["--subject-begins-with", self.subject_begins.value])
        if self.subject_ends.value:
            parts.append(["--subject-ends-with", self.subject_ends.value])
        if self.case_sensitive.value:
            parts.append(["--subject-case-sensitive", "true"])
        for row in self.rows.children:
            key, op, value = row.parsed()
            kind = OPERATORS[op]
            if kind == "none":
                values: list[str] = []
            elif kind == "ranges":
                values = [",".join(str(x) for x in pair) for pair in value]
            elif kind in ("number", "bool"):
                values = [str(value).lower() if kind == "bool" else str(value)]
            else:
                values = [str(v) for v in value]
            parts.append(["--advanced-filter", key, op, *values])
        if self.schema.value != "EventGridSchema":
            parts.append(["--event-delivery-schema", "cloudeventschemav1_0"])
        if self.attempts.value != DEFAULT_ATTEMPTS:
            parts.append(["--max-delivery-attempts", str(self.attempts.value)])
        if self.ttl.value != DEFAULT_TTL:
            parts.append(["--event-ttl", str(self.ttl.value)])
        if self.dead_letter.value:
            parts.append(["--deadletter-endpoint", f"{self.dead_letter_account.value.strip()}/blobServices/default/"
                                                   f"containers/{self.dead_letter_container.value.strip()}"])
        return " \\\n  ".join(" ".join(shlex.quote(p) for p in part) for part in parts)

    def notes(self) -> list[str]:
        """What the az command cannot say as the SDK does (the CLI's BoolEquals parsing)."""
        out = []
        for row in self.rows.children:
            key, op, value = row.parsed()
            if op == "BoolEquals" and value is False:
                out.append(f"az parses the BoolEquals value with bool(text): 'false' becomes true, so "
                           f"'{key} BoolEquals false' cannot be written with --advanced-filter; use the SDK or ARM.")
        return out

    # -- showing and creating ------------------------------------------------------------------------
    def preview(self) -> list:
        """Show the lint findings and the az command; returns the findings."""
        try:
            findings = self.lint()
        except Exception as exc:  # a value the model cannot hold: say which
            findings = []
            self.lint_out.outputs = ()
            self.lint_out.append_stdout(f"error: {exc}\n")
        else:
            self.lint_out.outputs = ()
            text = "".join(f"{f}\n" for f in findings) or "lint: no problem found in the filter\n"
            self.lint_out.append_stdout(text)
        self.az_out.outputs = ()
        self.az_out.append_stdout("Azure CLI equivalent:\n" + self.az_command() + "\n")
        for note in self.notes():
            self.az_out.append_stdout(f"note: {note}\n")
        return findings

    def create(self):
        """Create (or update) the subscription through the target and wait for the handshake."""
        from azure.mgmt.eventgrid import EventGridManagementClient
        eg = self.target.client(EventGridManagementClient)
        poller = eg.event_subscriptions.begin_create_or_update(self.scope, self.name.value.strip(), self.model())
        self.created = poller.result()
        return self.created

    def _on_create(self) -> None:
        """The Create button: refuse while the lint finds errors; every outcome shows in the form.

        A button's handler that raises is only logged (in JupyterLab's log console), so nothing may
        escape from here: the learner would see no answer at all.
        """
        from azure.core.exceptions import HttpResponseError
        self.preview()
        self.result_out.outputs = ()
        try:
            errors = [f for f in self.lint() if f.severity == "error"]
        except Exception as exc:  # a value the SDK model cannot hold
            self.result_out.append_stdout(f"not created: the form cannot build the subscription: {exc}\n")
            return
        if errors:
            self.result_out.append_stdout(
                f"not created: the lint found {len(errors)} error(s) in the filter (shown above); Azure would refuse "
                "it or it would never match. Fix them, then press Create again.\n")
            return
        try:
            sub = self.create()
        except HttpResponseError as exc:
            error = getattr(exc, "error", None)
            code = getattr(error, "code", None) or exc.status_code
            message = getattr(error, "message", None) or str(exc)
            self.result_out.append_stdout(f"refused ({code}): {message}\n")
            return
        except Exception as exc:  # anything else (serialization, network ...): say it here, not in a log
            self.result_out.append_stdout(f"not created: {type(exc).__name__}: {exc}\n")
            return
        self.result_out.append_stdout(f"{sub.name}: {sub.provisioning_state}\n")
        for warning in _sandbox_warnings(self.target, sub.id):
            self.result_out.append_stdout(f"sandbox: {warning}\n")


def _sandbox_warnings(target, subscription_id: str) -> list[str]:
    sandbox = getattr(target, "sandbox", None)
    if sandbox is None:
        return []
    body = sandbox.store.get(subscription_id) or {}
    return list(body.get("_sandbox", {}).get("warnings") or [])


STATE_COLOURS = {"delivered": "#107c10", "pending": "#c19c00", "dead_lettered": "#a4262c", "dropped": "#605e5c"}


class DeliveryMonitor(W.VBox):
    """The sandbox's deliveries: event, subscription, state, attempts, last status, next attempt.

    *Refresh* reads the delivery log; *Deliver due* delivers what is due now; the clock buttons
    move sandbox time on (retries and expiry happen without waiting). ``start()`` refreshes by
    itself every ``interval`` seconds until ``stop()``.
    """

    STEPS = {"+10 s": 10, "+1 min": 60, "+5 min": 300, "+1 h": 3600}

    def __init__(self, target, *, subscription: str | None = None, interval: float = 1.0) -> None:
        if getattr(target, "sandbox", None) is None:
            raise ValueError("DeliveryMonitor reads the sandbox's delivery log; on Azure use the subscription's "
                             "metrics in the portal (Event Grid > Metrics: Delivered / Failed / Dead-lettered).")
        self.target = target
        self.subscription = subscription
        self.interval = interval
        self.table = W.HTML()
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.deliver_button = W.Button(description="Deliver due", icon="paper-plane")
        self.clock_buttons = {label: W.Button(description=label, icon="clock-o") for label in self.STEPS}
        self.clock_label = W.HTML()
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.deliver_button.on_click(lambda _b: self.deliver_due())
        for label, button in self.clock_buttons.items():
            button.on_click(lambda _b, s=self.STEPS[label]: self.advance(s))
        self.rows: list[dict] = []
        self._timer: Any = None
        super().__init__([W.HBox([self.refresh_button, self.deliver_button, *self.clock_buttons.values()]),
                          self.clock_label, self.table])
        self.refresh()

    @property
    def engine(self):
        return self.target.sandbox.service("delivery")

    def refresh(self) -> list[dict]:
        """Read the delivery log and redraw; returns one row per (event, subscription)."""
        found = self.engine.deliveries(subscription_id=self.subscription)
        rows = [{"event": d["event_id"], "type": _short(str(d["event"].get("eventType") or d["event"].get("type"))),
                 "subject": d["event"].get("subject", ""), "subscription": d["subscription"], "state": d["state"],
                 "attempts": d["delivery_attempts"], "last status": d["last_status"],
                 "outcome": d["last_outcome"] or d["reason"] or "", "next attempt": d["next_attempt"] or ""}
                for d in found]
        rows.sort(key=lambda r: (r["subscription"], r["subject"], r["event"]))
        self.rows = rows
        self.table.value = _table(rows)
        self.clock_label.value = f"<small>sandbox time {html.escape(self.target.sandbox.clock.isoformat())}</small>"
        return rows

    def deliver_due(self) -> list[dict]:
        """Deliver what is due now (the background worker does it too) and redraw."""
        self.engine.pump()
        return self.refresh()

    def advance(self, seconds: float) -> list[dict]:
        """Move sandbox time on, deliver what became due, redraw."""
        self.target.sandbox.clock.advance(seconds=seconds)
        return self.deliver_due()

    def start(self) -> None:
        """Refresh every ``interval`` seconds in the background (live view) until ``stop()``."""
        import threading
        self.stop()
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.interval):
                try:
                    self.refresh()
                except Exception:  # the sandbox was closed: stop quietly
                    return

        self._timer = (stop, threading.Thread(target=loop, name="delivery-monitor", daemon=True))
        self._timer[1].start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer[0].set()
            self._timer = None


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<i>no deliveries yet</i>"
    heads = list(rows[0])
    out = ["<table class='amlevents-deliveries'><tr>", *(f"<th>{html.escape(h)}</th>" for h in heads), "</tr>"]
    for r in rows:
        colour = STATE_COLOURS.get(r["state"], "#333")
        cells = "".join(f"<td>{html.escape(str(r[h]) if r[h] is not None else '')}</td>" if h != "state" else
                        f"<td style='color:{colour};font-weight:600'>{html.escape(r[h])}</td>" for h in heads)
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "".join(out)

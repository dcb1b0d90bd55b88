# %% [markdown]
# # 02 · Create an event subscription on the workspace
#
# **You will learn**
# - what an Azure Machine Learning event looks like, in the Event Grid schema and in CloudEvents 1.0;
# - how to run a handler (a webhook) that Event Grid can call, and the *validation handshake* it must answer;
# - how to create the guide's own subscription (`ModelRegistered`, subject begins with `models/mymodelname`) with
#   `EventGridManagementClient`, with a form, and with `az eventgrid event-subscription create`;
# - why an event does or does not match a filter;
# - what Event Grid does when the endpoint fails: retries on a schedule, then dead-letters.
#
# This is the heart of the guide *Create event-driven machine learning workflows*: "subscribe to the workspace and
# watch events reach an endpoint". Everything below runs the same calls against real Azure; the few sandbox-only
# helpers are marked **sandbox only**.

# %%
from amlevents_kit import connect, ensure_providers

target = connect()
states = ensure_providers(target)

# %% [markdown]
# ## 1. The events
#
# An Azure ML workspace publishes five event types. Each event is a small JSON object; its `topic` is the
# workspace's ARM id and its `subject` says which model, run or endpoint it is about. Here is a `ModelRegistered`
# event as the service sends it (values from Azure's SDK test payloads):

# %%
import json

from amlevents_kit import events

sample = events.sample_event(events.MODEL_REGISTERED)
print(json.dumps(sample, indent=2))

# %% [markdown]
# The same event in the **CloudEvents 1.0** schema, which a subscription can ask for
# (`eventDeliverySchema: CloudEventSchemaV1_0`): `topic` becomes `source`, `eventType` becomes `type`,
# `eventTime` becomes `time`.

# %%
print(json.dumps(events.to_cloudevent_schema(sample), indent=2))

# %% [markdown]
# The five types, and the subject each one has:

# %%
for event_type in events.ALL_AML_EVENT_TYPES:
    print(f"{event_type.rsplit('.', 1)[-1]:22} {events.SUBJECT_TEMPLATES[event_type]}")

# %% [markdown]
# ## 2. A handler
#
# Event Grid *pushes* events: it POSTs a JSON array to an HTTPS endpoint you own. Before it sends anything it
# checks that the endpoint wants the events: the **validation handshake**. It POSTs a
# `SubscriptionValidationEvent` carrying a `validationCode`, and the endpoint must answer
# `{"validationResponse": "<the code>"}` (or visit the `validationUrl` within 5 minutes).
#
# `amlevents_kit.receiver.Receiver` is such an endpoint, on 127.0.0.1: it answers the handshake and calls your
# Python functions with typed events. (The same function can be deployed as an Azure Function with an Event Grid
# trigger: `receiver.export_function_app(folder)`.)

# %%
from amlevents_kit.receiver import Receiver

receiver = Receiver().start()
received = []


@receiver.on(events.MODEL_REGISTERED)
def on_model_registered(event):
    """Called once per ModelRegistered event that reaches the endpoint."""
    received.append((event.subject, event.data.model_name, event.data.model_version))


print(receiver.url)

# %% [markdown]
# > **On Azure** Event Grid cannot reach `127.0.0.1`: give the subscription a public HTTPS endpoint instead, such as
# > the same handler deployed as an Azure Function (`receiver.export_function_app("my_app")`, then
# > `func azure functionapp publish …`). The cells that follow are unchanged apart from that URL; the cells marked
# > **sandbox only** have no Azure equivalent.

# %% [markdown]
# ## 3. The guide's subscription, with the SDK
#
# An event subscription is an ARM resource *on the workspace*: its scope is the workspace id. The filter keeps
# `ModelRegistered` events whose subject begins with `models/mymodelname`. `begin_create_or_update` is a
# long-running operation: it finishes when Event Grid has validated the endpoint.
#
# *Azure CLI* (the guide's command):
# ```bash
# az eventgrid event-subscription create \
#   --name lesson02-model-registered \
#   --source-resource-id "/subscriptions/{subId}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}" \
#   --endpoint https://<your-endpoint>/api/events \
#   --included-event-types Microsoft.MachineLearningServices.ModelRegistered \
#   --subject-begins-with "models/mymodelname"
# ```
# (The guide also says to run `az add extension --name eventgrid`: that command does not exist, and Event Grid
# commands ship with the Azure CLI. Its resource id also has a stray `\` in the middle: remove it.)

# %%
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import (EventSubscription, EventSubscriptionFilter,
                                         WebHookEventSubscriptionDestination)

eg = target.client(EventGridManagementClient)

guide_subscription = EventSubscription(
    destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
    filter=EventSubscriptionFilter(
        included_event_types=[events.MODEL_REGISTERED],
        subject_begins_with="models/mymodelname",
    ),
)
created = eg.event_subscriptions.begin_create_or_update(
    target.workspace_id, "lesson02-model-registered", guide_subscription).result()
print(created.name, created.provisioning_state)
print("topic:", created.topic)
print("endpoint (base URL only, as Azure shows it):", created.destination.endpoint_base_url)

# %% [markdown]
# The endpoint saw the handshake before the operation finished:

# %%
print([d.kind for d in receiver.deliveries])

# %% [markdown]
# > **Sandbox only.** Azure accepts only `https://` endpoints reachable from the internet. The sandbox delivers only
# > to this machine, and also accepts `http://127.0.0.1`: it says so in the `x-ms-sandbox-warning` response header
# > and in a log line (the warning above). On Azure, deploy the handler (for example as an Azure Function).
#
# Read it back, and list the subscriptions on the workspace (`az eventgrid event-subscription show` / `list
# --source-resource-id …`):

# %%
got = eg.event_subscriptions.get(target.workspace_id, "lesson02-model-registered")
print(got.filter.included_event_types, got.filter.subject_begins_with, got.filter.is_subject_case_sensitive)
print("retry policy:", got.retry_policy.max_delivery_attempts, "attempts,",
      got.retry_policy.event_time_to_live_in_minutes, "minutes")

on_workspace = eg.event_subscriptions.list_by_resource(
    target.resource_group, "Microsoft.MachineLearningServices", "workspaces", target.workspace_name)
print(sorted(s.name for s in on_workspace if s.name.startswith("lesson02-")))

# %% [markdown]
# ## 4. Fire an event, receive it
#
# On Azure, registering a model named `mymodelname` publishes the event (lesson 03 does exactly that). Azure has no
# "send a test event" button for system topics. **Sandbox only:** `fire` publishes the event that registering would
# publish, so we can watch delivery now. `pump()` delivers everything due (a background worker does it too).
#
# We also stop the sandbox clock from following the wall clock, so that retries happen only when *we* move time on.

# %%
sandbox = target.sandbox
sandbox.clock.freeze()
engine = sandbox.service("delivery")
eventgrid = sandbox.backends["eventgrid"]

fired = eventgrid.fire("ModelRegistered", modelName="mymodelname", modelVersion="1",
                       modelTags={"stage": "production"})
engine.pump()
print(received)

# %% [markdown]
# What the endpoint received is exactly what Azure sends: a JSON **array** with one event, and the `aeg-*` headers.

# %%
notification = receiver.notifications()[-1]
for header in ("aeg-event-type", "aeg-subscription-name", "aeg-delivery-count", "aeg-metadata-version",
               "aeg-data-version", "content-type"):
    print(f"{header}: {notification.headers.get(header)}")
print(json.dumps(json.loads(notification.body)[0]["data"], indent=2))

# %% [markdown]
# ## 5. A filter that does not match
#
# Register another model, `othermodel`: its subject is `models/othermodel:1`, which does not begin with
# `models/mymodelname`, so Event Grid does not deliver it. `filters.explain` says why, clause by clause.

# %%
from amlevents_kit import filters

other = eventgrid.fire("ModelRegistered", modelName="othermodel", modelVersion="1")
engine.pump()
print("received:", len(received), "event(s)")
print(filters.explain(other, got.filter))

# %% [markdown]
# Subject filters are prefix/suffix tests, case-insensitive unless `is_subject_case_sensitive=True`. Note that
# `models/mymodelname` also matches a model called `mymodelname2`: end it with `:` to mean "exactly this model".

# %%
print(filters.explain(events.model_registered(topic=target.workspace_id, model_name="mymodelname2",
                                              model_version="1"), got.filter))

# %% [markdown]
# ## 6. Break the endpoint, watch the retries
#
# Event Grid counts only 200–204 as success. After a failure it retries on a schedule: 10 s, 30 s, 1 min, 5 min,
# 10 min, 30 min, 1 h, then every few hours, until `maxDeliveryAttempts` (default 30) or `eventTimeToLiveInMinutes`
# (default 1440, one day). Make the handler answer 500, and watch with the **delivery monitor** (**sandbox
# only**: on Azure, look at the subscription's *Metrics*).

# %%
from amlevents_kit.widgets.subscription import DeliveryMonitor

receiver.fail_with(500)
broken = eventgrid.fire("ModelRegistered", modelName="mymodelname", modelVersion="2")
monitor = DeliveryMonitor(target, subscription=created.id)
monitor.deliver_button.click()
monitor


# %%
def attempts_of(event_id):
    """(state, attempts so far, last HTTP status) of an event's delivery."""
    d = engine.deliveries(event_id=event_id)[0]
    return d["state"], d["delivery_attempts"], d["last_status"]


print(attempts_of(broken["id"]))

# %% [markdown]
# Ten seconds later (sandbox time) the second attempt fails too; the next one waits 30 seconds:

# %%
monitor.clock_buttons["+10 s"].click()
print(attempts_of(broken["id"]))
monitor.clock_buttons["+10 s"].click()
print(attempts_of(broken["id"]), "- not due yet")
sandbox.clock.advance(seconds=20)
engine.pump()
print(attempts_of(broken["id"]))

# %% [markdown]
# Fix the endpoint; the next retry (one minute later) succeeds. Every attempt is in the delivery log:

# %%
receiver.recover()
monitor.clock_buttons["+1 min"].click()
for attempt in engine.log(event_id=broken["id"]):
    print(attempt["attempt"], attempt["status"], attempt["outcome"])
print(attempts_of(broken["id"]))
print(received[-1])

# %% [markdown]
# ## 7. Dead-lettering
#
# When Event Grid gives up, the event is **dropped**, unless the subscription has a *dead-letter destination*: a
# blob container where Event Grid writes the event with the reason. Some answers are never retried: 400, 403 and
# 413, and for webhooks 401 too, dead-letter the event at once. (An Azure resource such as a function that answers
# 401 is retried, after 5 minutes at least.)
#
# A second subscription with at most 2 attempts and a dead-letter container (`--max-delivery-attempts 2
# --deadletter-endpoint <storage id>/blobServices/default/containers/deadletters`):

# %%
from azure.mgmt.eventgrid.models import RetryPolicy, StorageBlobDeadLetterDestination

storage_id = (f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
              "/providers/Microsoft.Storage/storageAccounts/amleventsstorage")
with_dead_letter = EventSubscription(
    destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
    filter=EventSubscriptionFilter(included_event_types=[events.MODEL_REGISTERED],
                                   subject_begins_with="models/deadletterdemo"),
    retry_policy=RetryPolicy(max_delivery_attempts=2, event_time_to_live_in_minutes=60),
    dead_letter_destination=StorageBlobDeadLetterDestination(resource_id=storage_id,
                                                             blob_container_name="deadletters"),
)
dl_sub = eg.event_subscriptions.begin_create_or_update(
    target.workspace_id, "lesson02-dead-letter", with_dead_letter).result()
print(dl_sub.name, dl_sub.provisioning_state)

receiver.fail_with(500)
lost = eventgrid.fire("ModelRegistered", modelName="deadletterdemo", modelVersion="1")
engine.pump()
sandbox.clock.advance(seconds=10)
engine.pump()
print(attempts_of(lost["id"]))

# %% [markdown]
# The dead-letter record is the original event plus why it could not be delivered:

# %%
record = engine.dead_letters(dl_sub.id)[-1]
for key in ("subject", "deadLetterReason", "deliveryAttempts", "lastDeliveryOutcome", "publishTime",
            "lastDeliveryAttemptTime"):
    print(f"{key}: {record.get(key)}")

# %% [markdown]
# A 400 is not retried: the event is dead-lettered after one attempt.

# %%
receiver.fail_with(400)
rejected = eventgrid.fire("ModelRegistered", modelName="deadletterdemo", modelVersion="2")
engine.pump()
print(attempts_of(rejected["id"]))
print(engine.dead_letters(dl_sub.id)[-1]["deadLetterReason"])
receiver.recover()

# %% [markdown]
# ## 8. The same subscription with a form
#
# The form builds the same `EventSubscription` object, shows what the filter linter finds and the equivalent
# `az` command, and creates it through the target. Fill it in and press **Check** then **Create**; here the cell
# fills it in for you.

# %%
from amlevents_kit.widgets.subscription import SubscriptionForm

form = SubscriptionForm(target, name="lesson02-form", endpoint=receiver.url)
form.types[events.MODEL_REGISTERED].value = True
form.subject_begins.value = "models/mymodelname:"
form.add_filter("data.modelTags.stage", "StringIn", "production")
form

# %%
form.create_button.click()
print(form.created.name, form.created.provisioning_state)
print(form.created.filter.advanced_filters[0].key, form.created.filter.advanced_filters[0].values)

# %% [markdown]
# The form's `az` command, as text. A note on `--advanced-filter`: the Azure CLI reads a `BoolEquals` value with
# Python's `bool("...")`, so `false` becomes *true*. Write `BoolEquals false` filters with the SDK (or in an ARM
# template).

# %%
print(form.az_command())

# %% [markdown]
# ## Exercise
#
# Subscribe to **failed runs**: `RunStatusChanged` events whose `data.runStatus` is `Failed` (an advanced filter
# `StringIn`; string comparisons ignore case). Name it `lesson02-failed-runs` and deliver to `receiver.url`.
# Write your answer in the empty cell below, run it, then run the **Check**: it reads your subscription back from
# Event Grid, fires one failed run and one running run, and only the failed one must reach the handler.
# Our solution is further down, folded away under **Solution**: try first.

# %%
# Your answer: create the event subscription "lesson02-failed-runs" here.

# %% [markdown]
# ### Solution
#
# One answer (click the `⋯` to open it). Running it replaces your subscription with this one.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution
from azure.mgmt.eventgrid.models import StringInAdvancedFilter

failed_runs = EventSubscription(
    destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
    filter=EventSubscriptionFilter(
        included_event_types=[events.RUN_STATUS_CHANGED],
        advanced_filters=[StringInAdvancedFilter(key="data.runStatus", values=["Failed"])],
    ),
)
solution = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "lesson02-failed-runs",
                                                         failed_runs).result()

# %% [markdown]
# ### Check

# %%
# Check: your subscription, as Event Grid has it, and what it lets through
exercise = eg.event_subscriptions.get(target.workspace_id, "lesson02-failed-runs")
assert exercise.provisioning_state == "Succeeded", exercise.provisioning_state
assert exercise.filter.included_event_types == [events.RUN_STATUS_CHANGED], exercise.filter.included_event_types
first = len(receiver.received)
for status in ("Failed", "Running"):
    eventgrid.fire("RunStatusChanged", experimentId="exp-1", experimentName="lesson02", runId=f"run-{status}",
                   runType="command", runStatus=status)
engine.pump()
arrived = [e.data.run_status for e in receiver.received[first:] if e.type == events.RUN_STATUS_CHANGED]
assert arrived == ["Failed"], f"these runs reached the handler: {arrived}; only the failed one should"
print("Only the failed run reached the handler.")

# %% [markdown]
# ## Clean up
#
# Delete this lesson's subscriptions (`az eventgrid event-subscription delete --name … --source-resource-id …`),
# stop the handler, and let the sandbox clock follow the wall clock again.

# %%
for name in sorted(s.name for s in eg.event_subscriptions.list_by_resource(
        target.resource_group, "Microsoft.MachineLearningServices", "workspaces", target.workspace_name)):
    if name.startswith("lesson02-"):
        eg.event_subscriptions.begin_delete(target.workspace_id, name).result()
        print("deleted", name)
receiver.stop()
sandbox.clock.follow_wall_clock()

# %% [markdown]
# # 03 · Email alerts with a Logic App
#
# **You will learn**
# - how the guide's first scenario is built: a Logic App whose Event Grid trigger *"When a resource event occurs"*
#   listens to the workspace, a **condition** on the event, and **"Send an email (V2)"**;
# - what the trigger's **prefix filter** does, and why the guide's own example `/datadriftID/runs/` never matches;
# - that the trigger creates its **own event subscription** on the workspace;
# - how to read a Logic App's **run history** like the portal, including why an event sent no email.
#
# In the sandbox the workflow really runs: Event Grid delivers each event over HTTPS to the workflow's callback
# URL, and "Send an email" sends real SMTP mail to a local mailbox this notebook can open.
#
# Cells marked **Sandbox only** raise the events a run would raise and read the sandbox's mailbox; on Azure they
# skip that part (your workspace raises the events when runs complete, and the mail goes to real inboxes).

# %%
from amlevents_kit import connect, ensure_providers, events, filters
from amlevents_kit import workflows as wf
from amlevents_kit.mailbox import open_mailbox
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.logic import LogicManagementClient

target = connect()
ensure_providers(target)
logic = target.client(LogicManagementClient)
if target.is_sandbox:           # Sandbox only: the local mailbox (on Azure, mail goes to real inboxes)
    box = open_mailbox(target)
    mail_before = len(box)      # the mailbox keeps earlier lessons' mail: we only look at what comes next

# %% [markdown]
# ## The prefix filter, and the guide's example
#
# The designer's **Prefix Filter** becomes the event subscription's `subjectBeginsWith`. An Azure ML event's subject
# says *what* the event is about: `experiments/{experimentId}/runs/{runId}` for RunCompleted,
# `datadrift/{id}/run/{runId}` for DatasetDriftDetected. The guide's screenshot uses the prefix `/datadriftID/runs/`
# with **RunCompleted**: no RunCompleted subject starts with it (no leading `/`, and they start with `experiments/`),
# so that Logic App never fires. `filters.lint` says so before you deploy anything:

# %%
guide_filter = {"includedEventTypes": [events.RUN_COMPLETED], "subjectBeginsWith": "/datadriftID/runs/"}
for finding in filters.lint(guide_filter):
    print(finding)

# %% [markdown]
# And `filters.explain` shows it on a real RunCompleted event:

# %%
run_event = events.run_completed(topic=target.workspace_id, experiment_id="exp-42", experiment_name="churn",
                                 run_id="run-7")
print(run_event["subject"])
print(filters.explain(run_event, guide_filter))

# %% [markdown]
# A prefix that matches runs is `experiments/` (every run), or `experiments/exp-42/` (one experiment):

# %%
print(filters.explain(run_event, {"includedEventTypes": [events.RUN_COMPLETED], "subjectBeginsWith": "experiments/"}))

# %% [markdown]
# ## Build the workflow
#
# `wf.email_alert` writes what the designer saves: the Event Grid trigger on the workspace (event types and
# prefix filter), a condition (here: only the `churn` experiment), and "Send an email (V2)" whose subject carries
# the event type and subject, as the guide suggests. Each `@{...}` is a Logic Apps expression, evaluated per event.

# %%
plan = wf.email_alert(
    target, name="lesson03-run-alert", event_types=["RunCompleted"], subject_begins_with="experiments/",
    condition=wf.equals("@triggerBody()?['data']?['experimentName']", "churn"),
    to="ml-team@example.com")
trigger = plan.definition["triggers"]["When_a_resource_event_occurs"]
print(trigger["type"], trigger["inputs"]["body"]["properties"]["filter"])
print(plan.definition["actions"]["Condition"]["expression"])
print(plan.definition["actions"]["Condition"]["actions"]["Send_an_email_(V2)"]["inputs"]["body"]["Subject"])

# %% [markdown]
# The workflow also needs **API connections** (`Microsoft.Web/connections`), one per connector: its
# `$connections` parameter only points at them. `plan.deploy(target)` creates them, then the workflow.
#
# *Azure CLI* (the `logic` extension: `az extension add -n logic`): `plan.write_az_definition("workflow.json")`
# writes the file `az logic workflow create --definition` reads (`{"definition": ..., "parameters": ...}`), and
# `plan.az_commands()` lists the steps: the connections first, each its own `az resource create`, then the
# workflow. (`plan.to_json()` is something else: both ARM bodies, to read or diff.) *Portal*: workspace →
# **Events** → **Logic Apps**, as in the guide; on Azure, authorize the `office365` connection once
# (API connections → office365 → Edit API connection → Authorize).

# %%
import json
import tempfile
from pathlib import Path

path = plan.write_az_definition(Path(tempfile.mkdtemp()) / "workflow.json")   # any folder of yours
print(list(json.loads(path.read_text())))
for command in plan.az_commands("workflow.json"):
    print(command)

# %% [markdown]
# This lesson deploys with `plan.deploy(target)`: the same two steps through the SDK (`ResourceManagementClient`
# for the connections, `LogicManagementClient` for the workflow), on either target.

# %%
deployed = plan.deploy(target)
print(deployed.name, deployed.state, deployed.provisioning_state)

# %% [markdown]
# ## The trigger subscribed itself
#
# Saving the workflow made its Event Grid trigger create an event subscription on the workspace, pointing at the
# workflow's callback URL. It is in the workspace's subscription list, like any other (portal: workspace →
# **Events** → **Event Subscriptions**):

# %%
eg = target.client(EventGridManagementClient)
for sub in eg.event_subscriptions.list_by_resource(target.resource_group, "Microsoft.MachineLearningServices",
                                                   "workspaces", target.workspace_name):
    if sub.name.startswith("LogicApp-lesson03-run-alert"):
        print(sub.name, sub.provisioning_state, sub.filter.included_event_types, sub.filter.subject_begins_with)

# %% [markdown]
# ## Events arrive
#
# Two runs complete: one in the `churn` experiment, one in another. Event Grid delivers both (they pass the
# filter); the workflow runs once per event; only the first passes the condition.
#
# **Sandbox only**: the sandbox has no runs of its own, so `target.sandbox.publish` raises the two RunCompleted
# events Azure ML would raise. On Azure, this cell publishes nothing: complete a run in an experiment named `churn`
# and one in another experiment, and the workspace raises the events itself.

# %%
churn_run = events.run_completed(topic=target.workspace_id, experiment_id="exp-42", experiment_name="churn",
                                 run_id="lesson03-run-1")
other_run = events.run_completed(topic=target.workspace_id, experiment_id="exp-43", experiment_name="pricing",
                                 run_id="lesson03-run-2")
if target.is_sandbox:
    target.sandbox.publish([churn_run, other_run])

# %% [markdown]
# `target.wait_for(...)` looks until the workflow's two runs are in its run history; in the sandbox it also drives
# the delivery engine (on Azure, Event Grid delivers on its own within seconds, and `wait_for` only waits).


# %%
def our_runs():
    """The runs of our two events (on Azure: the workflow's two latest runs)."""
    runs = wf.run_history(target, "lesson03-run-alert", top=50)
    ours = {churn_run["id"], other_run["id"]}
    return [r for r in runs if r.trigger_body["id"] in ours] if target.is_sandbox else runs[:2]


runs = target.wait_for(lambda: len(found := our_runs()) == 2 and found)
print(len(runs), "runs")

# %% [markdown]
# **Sandbox only**: the email, as it arrived in the sandbox's mailbox (the last line links back to the Logic App
# run that sent it; run names are unique ids, shown here as `<run>`). On Azure, it is in `ml-team@example.com`'s
# inbox: use an address of yours.

# %%
if target.is_sandbox:
    new_mail = [m for m in box.messages()[mail_before:] if m.workflow.endswith("/lesson03-run-alert")]
    print(len(new_mail), "new message(s)")
    message = new_mail[0]
    print(message.render().replace(message.run_name, "<run>"))

# %% [markdown]
# ## The run history, read like the portal
#
# The portal's **Runs history** lists each run; opening one shows each action with its status, inputs and
# outputs. `wf.run_history` reads the same through `LogicManagementClient` (`workflow_runs`,
# `workflow_run_actions` and their inputs/outputs links):

# %%
for run in sorted(runs, key=lambda r: r.trigger_body["subject"]):
    print(run, end="\n\n")

# %% [markdown]
# The second run **succeeded** without sending anything: its condition compared `pricing` with `churn`, was false,
# and the email action was *Skipped* with `ActionBranchingConditionNotSatisfied`. That is the portal's answer to
# "why did I get no email?". (Events the *filter* rejects never start a run at all: check them with
# `filters.explain`, as above.)
#
# The sandbox refuses, at save time, what it cannot run, and bad expressions, with the path in the definition:

# %%
from azure.core.exceptions import HttpResponseError

broken = wf.email_alert(target, name="lesson03-broken", event_types=["RunCompleted"], to="ml-team@example.com",
                        subject="Run @{triggerBody()?['subject']")
try:
    broken.deploy(target)
except HttpResponseError as err:
    print(err.error.code)
    print(err.error.message)

# %% [markdown]
# ## The same, with a form
#
# `AlertForm` builds the workflow from a few fields, shows its JSON and the filter's lint, and deploys it.

# %%
from amlevents_kit.widgets.alert import AlertForm

form = AlertForm(target, name="lesson03-form-alert", event_types=("RunCompleted",), subject_prefix="experiments/",
                 recipients="ml-team@example.com")
form

# %%
form.deploy_button.click()
assert form.deployed is not None and form.deployed.state == "Enabled"
print(form.deployed.name, form.deployed.state)

# %% [markdown]
# ## Exercise
#
# The model owners want an email to `owners@example.com` **only** when a new version of the model `fraud` is
# registered. Build and deploy a workflow named `lesson03-exercise` with the right event type and prefix filter
# (a ModelRegistered subject is `models/{name}:{version}`), then check it with the cell below.

# %%
# Solution
exercise = wf.email_alert(target, name="lesson03-exercise", event_types=["ModelRegistered"],
                          subject_begins_with="models/fraud:", to="owners@example.com")
deployed_exercise = exercise.deploy(target)

# %% [markdown]
# **Sandbox only**: the check raises three ModelRegistered events (`fraud`, `fraud-detector`, `churn`) and reads the
# mailbox. On Azure, register a version of a model named `fraud` and of one named `fraud-detector`: only the
# first should reach the owners' inbox.

# %%
# Check
if target.is_sandbox:
    before = len(box)
    registered = [events.model_registered(topic=target.workspace_id, model_name=name, model_version="3")
                  for name in ("fraud", "fraud-detector", "churn")]
    target.sandbox.publish(registered)
    delivery = target.sandbox.service("delivery")
    # Wait until every delivery of these events to the exercise's workflow has finished, then read the mail.
    target.wait_for(lambda: all(d["finished"] for e in registered for d in delivery.deliveries(event_id=e["id"])
                                if d["subscription"].lower().startswith("logicapp-lesson03-exercise")))
    owners = [m for m in box.messages()[before:] if "owners@example.com" in m.recipients]
    assert [m.subject for m in owners] == ["AML Microsoft.MachineLearningServices.ModelRegistered on models/fraud:3"], \
        owners
    print("Well done: only 'fraud' reached the owners.")

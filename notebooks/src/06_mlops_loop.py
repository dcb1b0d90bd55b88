# %% [markdown]
# # 06 · The whole loop: drift → alert → retraining → new version → deployment → alert
#
# **You will learn**
# - how the pieces of lessons 02–05 fit into one event-driven MLOps loop, with no human in it:
#   1. a drift monitor finds that November's customers no longer look like the training data and raises
#      `DatasetDriftDetected`;
#   2. a Logic App **emails** the on-call team and starts a Data Factory **retraining** pipeline;
#   3. the pipeline's job trains on November's batch and **registers a new model version** tagged for production;
#   4. `ModelRegistered` reaches the deploy-by-tags handler, which **deploys** that version to the online endpoint
#      where October's model runs, and moves all traffic to it;
#   5. `ModelDeployed` starts a second Logic App, which emails the team that the new model is live;
# - how to follow such a loop afterwards: a **timeline** of every event, delivery, workflow run, email, pipeline
#   run, job, model version and deployment, on one clock.
#
# Everything runs for real in the sandbox (HTTP deliveries, SMTP mail, a training process, a scoring server);
# cells marked **sandbox only** drive the delivery engine or read the sandbox's own logs.

# %%
from amlevents_kit import connect, ensure_providers, events

target = connect()
states = ensure_providers(target)
ml = target.ml_client()
ONCALL = "mlops-oncall@example.com"

# %% [markdown]
# ## 1. The data and the monitor
#
# October's customers trained the model; November's batch has arrived. The monitor holds October's profile and
# raises `DatasetDriftDetected` when any feature drifts (lesson 04). The batch goes to the workspace's datastore,
# where the retraining job will read it.

# %%
from amlevents_kit import drift, retrain

october = retrain.sample_batch(2000)
november = retrain.sample_batch(2000, shifted=True)
features = [c for c in october.columns if c != "label"]
monitor = drift.DriftMonitor(target, "mlops-churn-drift", baseline=october[features], base_dataset_id="october")
november_uri = retrain.upload_data(target, november, "mlops/batches/2026-11.csv")
print(monitor.name, monitor.id)

# %% [markdown]
# **October's model is in production.** The same training job ran on October's batch and registered
# `mlops-churn` version 1, which serves the endpoint `mlops-ep` (lesson 05 showed these calls).
# *Azure CLI*: `az ml job create`, `az ml online-endpoint create`, `az ml online-deployment create --all-traffic`.

# %%
import uuid

from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint

october_uri = retrain.upload_data(target, october, "mlops/batches/2026-10.csv")
job = ml.jobs.create_or_update(retrain.retraining_command(
    target, code="jobs/retrain", data_uri=october_uri, model_name="mlops-churn",
    tags={"stage": "production", "ncd": "true"}, name=f"mlops-october-{uuid.uuid4().hex[:8]}"))
retrain.wait_for_job(target, job.name)
october_model = ml.models.get("mlops-churn", label="latest")
ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="mlops-ep", auth_mode="key")).result()
ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
    name="mlops-churn-v1", endpoint_name="mlops-ep", model=october_model.id, instance_type="Standard_DS3_v2",
    instance_count=1)).result()
endpoint = ml.online_endpoints.get("mlops-ep")
endpoint.traffic = {"mlops-churn-v1": 100}
ml.online_endpoints.begin_create_or_update(endpoint).result()
print(october_model.name, october_model.version, ml.online_endpoints.get("mlops-ep").traffic)

# %% [markdown]
# From here on, everything is the loop: the timeline (section 5) starts now.

# %%
from datetime import datetime, timezone

start = target.sandbox.clock.utcnow() if target.is_sandbox else datetime.now(timezone.utc)

# %% [markdown]
# ## 2. Wire the loop
#
# **Retraining pipeline** (lesson 04): a Data Factory pipeline whose Web activity submits the training job; the
# job registers `mlops-churn` with the tags `stage=production, ncd=true`.

# %%
from azure.mgmt.datafactory import DataFactoryManagementClient
from azure.mgmt.datafactory.models import Factory, FactoryIdentity

adf = target.client(DataFactoryManagementClient)
adf.factories.create_or_update(target.resource_group, "mlops-adf",
                               Factory(location=target.location, identity=FactoryIdentity(type="SystemAssigned")))
code_id = retrain.upload_code(target, "jobs/retrain", name="mlops-retrain")
adf.pipelines.create_or_update(target.resource_group, "mlops-adf", "retrain-churn", retrain.retraining_pipeline(
    target, code_id=code_id, model_name="mlops-churn", tags={"stage": "production", "ncd": "true"}))
print([p.name for p in adf.pipelines.list_by_factory(target.resource_group, "mlops-adf")])

# %% [markdown]
# **Drift alert and retraining** (lessons 03 and 04): a Logic App on this monitor's `DatasetDriftDetected` events
# emails the on-call team, then starts the pipeline with the event's run id and batch.

# %%
from amlevents_kit import workflows as wf

drift_alert = wf.email_alert(
    target, name="mlops-drift-alert", event_types=["DatasetDriftDetected"],
    subject_begins_with=f"datadrift/{monitor.id}/", to=ONCALL,
    subject="Drift on @{triggerBody()?['data']?['dataDriftName']}: retraining started",
    body="<p>Drift coefficient @{triggerBody()?['data']?['driftCoefficient']} on "
         "@{triggerBody()?['data']?['targetDatasetId']}.</p>",
    pipeline={"factory": "mlops-adf", "pipeline": "retrain-churn",
              "parameters": {"driftRunId": "@{triggerBody()?['data']?['runId']}",
                             "targetDatasetId": "@{triggerBody()?['data']?['targetDatasetId']}"}})
print(drift_alert.deploy(target).state)

# %% [markdown]
# **Deploy by tags** (lesson 05): a handler behind a webhook, fed by a subscription whose advanced filters keep
# only registrations tagged `ncd=true` and `stage=production`; it deploys them to the endpoint `mlops-ep`.

# %%
from azure.mgmt.eventgrid import EventGridManagementClient

from amlevents_kit.deploy import DeploymentRule, TagDeployer
from amlevents_kit.receiver import Receiver

rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true", "stage": "production"},
                      endpoint="mlops-ep")
deployer = TagDeployer(rule, ml)
receiver = Receiver().start()
receiver.on(events.MODEL_REGISTERED)(deployer)
eg = target.client(EventGridManagementClient)
created = eg.event_subscriptions.begin_create_or_update(
    target.workspace_id, "mlops-deploy-by-tags", rule.to_event_subscription(receiver.url)).result()
print(created.name, created.provisioning_state)

# %% [markdown]
# **Deployment alert**: a second Logic App emails the team when `ModelDeployed` comes from the endpoint.

# %%
deployed_alert = wf.email_alert(
    target, name="mlops-deployed-alert", event_types=["ModelDeployed"], subject_begins_with="endpoints/mlops-ep",
    to=ONCALL, subject="Live on @{triggerBody()?['data']?['serviceName']}: @{triggerBody()?['data']?['modelIds']}")
print(deployed_alert.deploy(target).state)

# %% [markdown]
# The wiring, as the workspace's **Events** blade lists it (subscriptions on the workspace that this lesson made):

# %%
for sub in eg.event_subscriptions.list_by_resource(target.resource_group, "Microsoft.MachineLearningServices",
                                                   "workspaces", target.workspace_name):
    if sub.name.startswith(("LogicApp-mlops-", "mlops-")):
        print(f"{sub.name:58} {[t.rsplit('.', 1)[-1] for t in sub.filter.included_event_types]}")

# %% [markdown]
# ## 3. Drift happens
#
# The monitor runs on November's batch. That is the only thing we do by hand.

# %%
run = monitor.run(november[features], target_dataset_id=november_uri, run_id=f"mlops-nov-{uuid.uuid4()}",
                  start_time="2026-11-01T00:00:00Z", end_time="2026-12-01T00:00:00Z")
print(run.summary())

# %% [markdown]
# ## 4. The loop runs
#
# `target.wait_for(...)` looks until the second email (the model is live) is in the mailbox; in the sandbox it also
# drives the delivery engine. On Azure nothing needs driving: it waits (a few minutes: the job, then the managed
# deployment) while the email reaches your inbox.

# %%
from amlevents_kit.mailbox import open_mailbox

# The handler records its outcome after routing traffic, a moment after ModelDeployed: wait for both.
if target.is_sandbox:  # the sandbox's mailbox; on Azure the emails reach the on-call team's real inbox
    box = open_mailbox(target)
    live = target.wait_for(lambda: deployer.outcomes and [m for m in box.messages(to=ONCALL)
                                                          if m.subject.startswith("Live on mlops-ep")])
    for message in box.messages(to=ONCALL):
        print(message.subject)
else:
    target.wait_for(lambda: deployer.outcomes)

# %% [markdown]
# What the handler did, and the endpoint: November's model (version 2) now takes all the traffic, October's
# deployment none:

# %%
for outcome in deployer.outcomes:
    print(outcome)
endpoint = ml.online_endpoints.get("mlops-ep")
print(endpoint.name, dict(sorted(endpoint.traffic.items())))

# %% [markdown]
# The new model answers over HTTP (with the endpoint's key), scoring three November customers:

# %%
import requests

key = ml.online_endpoints.get_keys("mlops-ep").primary_key
rows = november[features].head(3)
payload = {"input_data": {"columns": features, "index": [0, 1, 2], "data": rows.values.tolist()}}
answer = requests.post(endpoint.scoring_uri, json=payload, headers={"Authorization": f"Bearer {key}"}, timeout=60)
print(answer.status_code, answer.json())

# %% [markdown]
# ## 5. The timeline
#
# `amlevents_kit.timeline.collect` reads every place the loop left a trace (the workspace's events and the
# delivery log, the two Logic Apps' run histories, the mailbox, the Data Factory runs, the jobs, the model
# versions and the deployments) and puts them on one clock. The steps, oldest first:

# %%
from amlevents_kit import timeline

tl = timeline.collect(
    target, since=start, event_types=["DatasetDriftDetected", "ModelRegistered", "ModelDeployed"],
    subject_prefixes=[f"datadrift/{monitor.id}/", "models/mlops-churn:", "endpoints/mlops-ep"],
    subscriptions=["LogicApp-mlops-", "mlops-"], workflows=["mlops-drift-alert", "mlops-deployed-alert"],
    factories=["mlops-adf"], experiments=["drift-retraining"], models=["mlops-churn"], endpoints=["mlops-ep"],
    mail_to=ONCALL)
print(tl.text())

# %% [markdown]
# The same on a time axis: one lane per source (how long each step took depends on the machine):

# %%
# %matplotlib inline
tl.plot()

# %% [markdown]
# Each step happened after the one that caused it:

# %%
milestones = [("event", "DatasetDriftDetected"), ("mail", "Drift on"), ("pipeline", "run"), ("job", "submitted"),
              ("model", "registered"), ("event", "ModelRegistered"), ("deployment", "created"),
              ("event", "ModelDeployed"), ("mail", "Live on")]
times = [tl.first(source, text).time for source, text in milestones]
assert times == sorted(times), list(zip(milestones, times))
print(" -> ".join(text if source != "mail" else f"mail '{text}…'" for source, text in milestones))

# %% [markdown]
# ## Exercise
#
# The on-call team asks: *which Event Grid deliveries did this loop need, and did any of them have to be
# retried?* Using `tl`, build `deliveries`, the list of the timeline's `delivery` entries, and `retried`, those
# whose detail is not `attempt 1`.
#
# Write your answer in a new cell below this one (press `B` to add it), run it, then run the **Check**. Our
# solution is folded away in the next cell: click its `⋯` to open it.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution
deliveries = [e for e in tl if e.source == "delivery"]
retried = [e for e in deliveries if e.detail != "attempt 1"]

# %%
# Check
assert [e.what.split(" -> ")[0] for e in deliveries] == ["DatasetDriftDetected", "ModelRegistered", "ModelDeployed"]
assert all(e.what.endswith(("200 Delivered", "202 Delivered")) for e in deliveries), deliveries  # Logic Apps answer 202
assert retried == []
print(f"{len(deliveries)} deliveries, none retried.")

# %% [markdown]
# ## Clean up
#
# Delete the endpoint, the two Logic Apps, the deploy subscription and the factory, and stop the handler.
# *Azure CLI*: `az ml online-endpoint delete`, `az logic workflow delete`, `az eventgrid event-subscription
# delete`, `az datafactory delete`.

# %%
from azure.mgmt.logic import LogicManagementClient

ml.online_endpoints.begin_delete("mlops-ep").result()
logic = target.client(LogicManagementClient)
for name in ("mlops-drift-alert", "mlops-deployed-alert"):
    logic.workflows.delete(target.resource_group, name)
eg.event_subscriptions.begin_delete(target.workspace_id, "mlops-deploy-by-tags").result()
adf.factories.delete(target.resource_group, "mlops-adf")
receiver.stop()
print("cleaned up")

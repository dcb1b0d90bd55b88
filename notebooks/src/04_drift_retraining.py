# %% [markdown]
# # 04 · Data drift that triggers retraining
#
# **You will learn**
# - how to compare a new batch of data with the training data, **feature by feature** (the statistics Azure ML v2
#   monitoring uses) and as a whole (Azure ML v1's **drift coefficient**), and how to read the report;
# - how a drift result becomes a **`DatasetDriftDetected`** event, and why a bridge is needed today;
# - the guide's retraining chain: the event starts a **Logic App**, which starts a **Data Factory** pipeline, which
#   submits an **Azure ML job**, which trains on the new data and registers a **new model version** with tags;
# - the shorter Azure ML v2 way: a webhook handler that submits the retraining job itself with `azure-ai-ml`.
#
# The guide's scenario *"Use a Logic App to trigger retraining workflows when data drift occurs"*: "Models go stale
# over time… This example shows how to use Event Grid with an Azure Logic App to trigger retraining. The example
# triggers an Azure Data Factory pipeline when data drift occurs between a model's training and serving datasets."
# Cells marked **sandbox only** drive the sandbox's delivery engine.

# %%
from amlevents_kit import connect, ensure_providers, events

target = connect()
states = ensure_providers(target)
ml = target.ml_client()

# %% [markdown]
# ## 1. Training data and a new month
#
# A churn model was trained on October's customers. November's batch has just arrived. Both have the same
# columns; `label` says whether the customer left. (`sample_batch` makes them; November has a price rise, more
# support calls and more premium plans, planted on purpose.)

# %%
from amlevents_kit import retrain

october = retrain.sample_batch(2000)
november = retrain.sample_batch(2000, shifted=True)
features = [c for c in october.columns if c != "label"]
print(october.head(3).to_string())
print(f"{len(october)} rows in October, {len(november)} in November; features: {features}")

# %% [markdown]
# ## 2. The drift report, feature by feature
#
# `drift.detect(baseline, target)` scores every feature with the statistics of **Azure ML v2 model monitoring**:
# numeric features by the **normalized Wasserstein distance** (how far the values moved, in baseline standard
# deviations; drift above **0.1**), categorical ones by the **Jensen-Shannon distance** (base 2, between 0 and 1;
# drift above **0.1**). The table also has PSI, the KS and chi-squared tests, and the means. The dataset is
# drifted when **any** feature is (Azure v2's rule).
#
# In production you `profile()` the training data once and keep the small profile next to the model; `detect`
# accepts the profile instead of the DataFrame.

# %%
from amlevents_kit import drift

baseline = drift.profile(october[features], name="october")
report = drift.detect(baseline, november[features])
print(report.verdict())
print(report.table[["feature", "kind", "metric", "value", "threshold", "drifted", "baseline_mean", "target_mean"]]
      .round(3).to_string(index=False))

# %% [markdown]
# Reading it feature by feature:
#
# - `monthly_charges` moved by about one standard deviation (a Wasserstein distance of 1.0): the baseline mean was
#   60, the new one is 75. That is the price rise.
# - `support_calls` doubled on average: drifted too.
# - `plan` is categorical: its Jensen-Shannon distance says the mix of plans changed (more premium).
# - `age`, `tenure_months` and `region` stay well under 0.1: sampling noise, not drift.
#
# The bars against their thresholds, and the distributions of the three most drifted features:

# %%
# %matplotlib inline
report.plot()

# %%
report.plot_features(top=3)

# %% [markdown]
# **The drift coefficient.** Azure ML v1 dataset monitors summed drift up in one number: train a classifier to
# tell baseline rows from target rows, and take its **Matthews correlation** on held-out rows. 0 means the two
# datasets cannot be told apart, 1 means every row gives itself away. v1 alerted above **0.2** by default
# (`rule="coefficient"` uses it as the verdict).

# %%
print(f"drift coefficient: {report.drift_coefficient:.3f}")
same_month = drift.detect(baseline, retrain.sample_batch(2000, random_state=7)[features])
print(f"another October sample: {same_month.verdict()}; coefficient {same_month.drift_coefficient:.3f}")

# %% [markdown]
# ## 3. The same, with a form
#
# Choose the baseline, the target, the features, the metric and the threshold; **Run** shows the table and the
# plots. (Tick *raise DatasetDriftDetected* to run it as a monitor: section 4.)

# %%
from amlevents_kit.widgets.drift import DriftForm

form = DriftForm({"october": october, "november": november}, target=target, monitor_name="lesson04-form")
form

# %%
form.run_button.click()
assert form.result is not None and sorted(form.result.drifted_features) == ["monthly_charges", "plan", "support_calls"]
print(form.result.verdict())

# %% [markdown]
# ## 4. From a drift result to an event
#
# `DatasetDriftDetected` is the workspace event of the guide's scenario. Its data has exactly these fields:
# `dataDriftId`, `dataDriftName` (the monitor), `runId` (the monitor run), `baseDatasetId`, `targetDatasetId`,
# `driftCoefficient`, `startTime` and `endTime` (the target's time slice).
#
# **Why a bridge is needed.** The service that raised it, Azure ML v1 **dataset monitors**, was retired on
# 2025-09-01. Azure ML v2 **model monitoring** computes drift too, but raises *no* drift event: a breached signal
# only fails its monitoring run, which Event Grid reports as a `RunStatusChanged` of that run (Microsoft's docs say
# not to pick "Dataset drift detected", which is v1-only).
# `drift.DriftMonitor` closes the gap: a named monitor with a baseline and a rule; each `run()` scores a batch and,
# when it drifted, raises the event. In the sandbox the monitor belongs to the workspace and raises the event on
# the **workspace topic**, exactly where a v1 monitor did; on Azure it publishes it to a **custom Event Grid topic**
# with `EventGridPublisherClient` (section 7).
#
# The job will train on November's batch, so we first put it on the workspace's default datastore; its URI becomes
# the event's `targetDatasetId`. (*Azure CLI*: `az storage blob upload` to the datastore's container.)

# %%
november_uri = retrain.upload_data(target, november, "lesson04/batches/2026-11.csv")
monitor = drift.DriftMonitor(target, "lesson04-churn-drift", baseline=baseline, base_dataset_id="october")
print(monitor)
print(november_uri)

# %% [markdown]
# ## 5. The guide's chain: Logic App → Data Factory → Azure ML job → new model version
#
# **The job.** `jobs/retrain/train.py` reads a CSV, fits a small scikit-learn pipeline, saves it in the MLflow
# format and **registers** it with `azure-ai-ml` as a new version of `lesson04-churn`, with the tags we give
# (`stage=production, ncd=true`: lesson 05's deploy-by-tags flow would deploy it). We upload the folder once as a
# code asset, so a job body written by hand can name it.

# %%
code_id = retrain.upload_code(target, "jobs/retrain", name="lesson04-retrain")
print(code_id.rsplit("/codes/", 1)[-1])

# %% [markdown]
# **The pipeline.** Data Factory's *Machine Learning Execute Pipeline* activity runs v1 *published pipelines*, which
# v2 workspaces do not have. What submits a v2 job from a pipeline is a **Web activity** that PUTs the job to the
# workspace's ARM API with the factory's managed identity. Our pipeline has two parameters, `driftRunId` and
# `targetDatasetId`, and one activity, which submits the job `retrain-<driftRunId>` with the batch as its input.
#
# *Azure CLI*: `az datafactory create` and `az datafactory pipeline create --pipeline @pipeline.json` (the
# `datafactory` extension). *Portal*: Data Factory Studio → Author → Pipeline → *General* → **Web**.

# %%
from azure.mgmt.datafactory import DataFactoryManagementClient
from azure.mgmt.datafactory.models import Factory, FactoryIdentity

adf = target.client(DataFactoryManagementClient)
adf.factories.create_or_update(target.resource_group, "lesson04-adf",
                               Factory(location=target.location, identity=FactoryIdentity(type="SystemAssigned")))
pipeline = retrain.retraining_pipeline(target, code_id=code_id, model_name="lesson04-churn",
                                       tags={"stage": "production", "ncd": "true"})
created = adf.pipelines.create_or_update(target.resource_group, "lesson04-adf", "retrain-churn", pipeline)
print(created.name, sorted(created.parameters), [(a.name, a.type) for a in created.activities])
print(pipeline["properties"]["activities"][0]["typeProperties"]["body"]["properties"]["command"])

# %% [markdown]
# **The Logic App**, built with lesson 03's builder: the Event Grid trigger on the workspace for
# `DatasetDriftDetected`, an email to the team, then Data Factory's **"Create a pipeline run"** with the event's
# `runId` and `targetDatasetId` as the pipeline's parameters. Its prefix filter is this monitor's subjects,
# `datadrift/<monitor id>/`: the prefix that works where the guide's `/datadriftID/runs/` never matches.
#
# *Portal*, as in the guide: Logic App → *When a resource event occurs* (Resource Type
# `Microsoft.MachineLearningServices.Workspaces`, Event Type `DatasetDriftDetected`) → *Azure Data Factory* →
# **Create a pipeline run**.

# %%
from amlevents_kit import workflows as wf

plan = wf.email_alert(
    target, name="lesson04-drift-retrain", event_types=["DatasetDriftDetected"],
    subject_begins_with=f"datadrift/{monitor.id}/", to="ml-team@example.com",
    subject="Drift on @{triggerBody()?['data']?['dataDriftName']}: retraining",
    pipeline={"factory": "lesson04-adf", "pipeline": "retrain-churn",
              "parameters": {"driftRunId": "@{triggerBody()?['data']?['runId']}",
                             "targetDatasetId": "@{triggerBody()?['data']?['targetDatasetId']}"}})
print(list(plan.definition["actions"]), [c["id"].rsplit("/", 1)[-1] for c in plan.connections()])
print(plan.deploy(target).state)

# %% [markdown]
# **Drift happens.** The monitor runs on November's batch and raises the event (`run_id` is the monitor run's id;
# a UUID here):

# %%
import json
import uuid

run = monitor.run(november[features], target_dataset_id=november_uri, run_id=f"lesson04-nov-{uuid.uuid4()}",
                  start_time="2026-11-01T00:00:00Z", end_time="2026-12-01T00:00:00Z")
print(run.summary())
print(run.event["eventType"], run.event["subject"])
print(json.dumps(run.event["data"], indent=2))

# %% [markdown]
# Event Grid delivers it to the Logic App, whose run sends the email and starts the pipeline.
# `target.wait_for(...)` looks until something is there; in the sandbox it also drives the delivery engine (on
# Azure, Event Grid delivers on its own within seconds and `wait_for` only waits).

# %%
from amlevents_kit.mailbox import open_mailbox

la_run = target.wait_for(lambda: [r for r in wf.run_history(target, "lesson04-drift-retrain", top=50)
                          if r.trigger_body["id"] == run.event["id"]])[0]
print(la_run)
if target.is_sandbox:  # the sandbox's mailbox; on Azure the email is in the team's real inbox
    mail = [m for m in open_mailbox(target).messages(to="ml-team@example.com")
            if m.subject.startswith("Drift on lesson04")]
    print(mail[-1].subject)

# %% [markdown]
# The pipeline run it started, and its activity (portal: Data Factory Studio → **Monitor** → Pipeline runs):

# %%
from azure.mgmt.datafactory.models import RunFilterParameters

pipeline_run_id = la_run.action("Create_a_pipeline_run").outputs["body"]["runId"]
pipeline_run = target.wait_for(
    lambda: (r := adf.pipeline_runs.get(target.resource_group, "lesson04-adf", pipeline_run_id))
    .status not in ("Queued", "InProgress") and r)
print(pipeline_run.pipeline_name, pipeline_run.status, pipeline_run.parameters["driftRunId"] == run.run_id)
window = RunFilterParameters(last_updated_after="2000-01-01T00:00:00Z", last_updated_before="2200-01-01T00:00:00Z")
for act in adf.activity_runs.query_by_pipeline_run(target.resource_group, "lesson04-adf", pipeline_run_id, window).value:
    print(act.activity_name, act.activity_type, act.status, "->", act.output["name"], act.output["properties"]["status"])

# %% [markdown]
# The job (portal: Azure ML studio → **Jobs** → `drift-retraining`). It is a real process here: it trains on
# November's batch and registers the model. *Azure CLI*: `az ml job show --name <job>`.

# %%
job_name = retrain.job_name_for(run.run_id)
job = retrain.wait_for_job(target, job_name)
print(job.name, retrain.status(job), job.experiment_name)
print("trained on:", job.inputs["data"].path)

# %% [markdown]
# **The new model version**, with its tags (*Azure CLI*: `az ml model list --name lesson04-churn`). Registering it
# raised `ModelRegistered`, the event lesson 05 deploys from.

# %%
model = next(m for m in ml.models.list("lesson04-churn") if m.tags.get("trained-by") == job_name)
print(f"{model.name}:{model.version}", {k: model.tags[k] for k in ("stage", "ncd", "training-rows")})
print("accuracy on its training batch:", model.properties["accuracy"])
registered = [e for e in target.sandbox.backends["machinelearningservices"].events(events.MODEL_REGISTERED)
              if e["data"]["modelName"] == "lesson04-churn"] if target.is_sandbox else []
print([e["subject"] for e in registered][-1:])

# %% [markdown]
# ## 6. The shorter v2 way: a handler submits the job
#
# Without Logic Apps and Data Factory: a webhook subscribed to `DatasetDriftDetected` submits the same job with
# `azure-ai-ml` (`ml.jobs.create_or_update(command(...))`, which uploads the code folder itself).
# `retrain.RetrainOnDrift` is that handler. Like lesson 05's, it checks the event again (our workspace, the right
# type, optionally a minimum coefficient) and is **idempotent**: the job is named after the drift run, so a
# redelivered event finds it and submits nothing. On Azure the handler runs in an Azure Function
# (`receiver.export_function_app(...)`), whose identity needs the *AzureML Data Scientist* role.
#
# A second monitor, on the same workspace, feeds it (the Logic App above only listens to the first monitor's
# subjects):

# %%
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import EventSubscription, EventSubscriptionFilter, WebHookEventSubscriptionDestination

from amlevents_kit.receiver import Receiver

receiver = Receiver().start()
handler = retrain.RetrainOnDrift(target, code="jobs/retrain", model_name="lesson04-churn",
                                 tags={"stage": "staging"}, min_coefficient=0.2)
receiver.on(events.DATASET_DRIFT_DETECTED)(handler)
monitor_v2 = drift.DriftMonitor(target, "lesson04-churn-drift-v2", baseline=baseline, base_dataset_id="october")
eg = target.client(EventGridManagementClient)
sub = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "lesson04-retrain-v2", EventSubscription(
    destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
    filter=EventSubscriptionFilter(included_event_types=[events.DATASET_DRIFT_DETECTED],
                                   subject_begins_with=f"datadrift/{monitor_v2.id}/"))).result()
print(sub.name, sub.provisioning_state, sub.filter.subject_begins_with == f"datadrift/{monitor_v2.id}/")

# %%
run_v2 = monitor_v2.run(november[features], target_dataset_id=november_uri, run_id=f"lesson04-v2-{uuid.uuid4()}")
outcome = target.wait_for(lambda: handler.outcomes)[0]
print(outcome.action, outcome.job == retrain.job_name_for(run_v2.run_id))
job_v2 = retrain.wait_for_job(target, outcome.job)
model_v2 = next(m for m in ml.models.list("lesson04-churn") if m.tags.get("trained-by") == job_v2.name)
print(retrain.status(job_v2), model_v2.tags["stage"], int(model_v2.version) == int(model.version) + 1)

# %% [markdown]
# Delivered twice? The handler finds the job and does nothing:

# %%
print(handler(receiver.received[0]).action)

# %% [markdown]
# ## Exercise
#
# Retraining costs money: the team wants it only for **serious** drift. With `rule="any"` a batch where only a
# fifth of the customers changed already raises the event (`monthly_charges` moves past 0.1). Create a monitor
# named `lesson04-exercise` that raises `DatasetDriftDetected` only when the **drift coefficient** is above
# **0.3**, then run it on the `mixed` batch below (it should stay quiet) and on November (it should raise); call the
# two runs `quiet_run` and `loud_run`. Write your answer in a new cell below this one (press `B` to add it), run
# it, then run the **Check**. Our solution is folded away in the next cell: click its `⋯` to open it.

# %%
import pandas as pd

mixed = pd.concat([october.sample(1600, random_state=1), november.sample(400, random_state=1)])[features]
print(drift.detect(baseline, mixed).verdict())

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution
exercise = drift.DriftMonitor(target, "lesson04-exercise", baseline=baseline, rule="coefficient",
                              coefficient_threshold=0.3)
quiet_run = exercise.run(mixed, target_dataset_id="mixed")
loud_run = exercise.run(november[features], target_dataset_id=november_uri)

# %%
# Check
assert exercise.options["rule"] == "coefficient" and exercise.options["coefficient_threshold"] == 0.3
assert quiet_run.event is None and quiet_run.data["driftCoefficient"] <= 0.3, quiet_run
assert loud_run.event is not None and loud_run.event["data"]["driftCoefficient"] > 0.3, loud_run
print(f"quiet at {quiet_run.data['driftCoefficient']:.2f}, raised at {loud_run.data['driftCoefficient']:.2f}: well done.")

# %% [markdown]
# ## 7. On Azure: publish to a custom topic
#
# On Azure, nothing outside the service can publish on a workspace's topic. Create a **custom Event Grid topic**
# for drift events, give the monitor its endpoint and key, and subscribe the Logic App (Resource Type
# `Microsoft.EventGrid.Topics`) or the handler (`topics=[topic.id]`) to it. `EventGridPublisherClient` sends each
# event with the topic's key; Event Grid stamps the topic's id on it. In the sandbox the topic is served over
# loopback HTTPS, so this cell takes the same wire as on Azure.
#
# *Azure CLI*: `az eventgrid topic create -g <rg> -n lesson04-drift-events -l <region>`, then
# `az eventgrid topic key list -g <rg> -n lesson04-drift-events`.

# %%
topic = drift.create_drift_topic(target, "lesson04-drift-events")
on_topic = drift.DriftMonitor(target, "lesson04-churn-drift", baseline=baseline, topic=topic)
topic_run = on_topic.run(november[features], target_dataset_id=november_uri)
print(topic_run.published_to.rsplit("/providers/", 1)[-1], topic_run.event["subject"] == f"datadrift/{monitor.id}/run/{topic_run.run_id}")

# %% [markdown]
# ## Clean up
#
# Delete the Logic App (its trigger's subscription goes with it), the handler's subscription, the custom topic and
# the factory, and stop the handler. The model versions stay (archive them with `ml.models.archive(name, version)`).
# *Azure CLI*: `az logic workflow delete`, `az eventgrid event-subscription delete`, `az eventgrid topic delete`,
# `az datafactory delete`.

# %%
from azure.mgmt.logic import LogicManagementClient

target.client(LogicManagementClient).workflows.delete(target.resource_group, "lesson04-drift-retrain")
eg.event_subscriptions.begin_delete(target.workspace_id, "lesson04-retrain-v2").result()
eg.topics.begin_delete(target.resource_group, "lesson04-drift-events").result()
adf.factories.delete(target.resource_group, "lesson04-adf")
receiver.stop()
print("cleaned up")

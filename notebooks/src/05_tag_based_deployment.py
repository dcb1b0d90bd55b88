# %% [markdown]
# # 05 · Deploy a model based on its tags
#
# **You will learn**
# - how a `ModelRegistered` event carries the model's tags, and how a subscription's **advanced filters** on
#   `data.modelTags.*` pick the registrations worth deploying;
# - how to write the handler that deploys them with `azure-ai-ml` to a **managed online endpoint**, checking the
#   event again (defence in depth) and staying **idempotent** when Event Grid delivers an event twice;
# - how to score the deployed model over HTTP and watch `ModelDeployed` arrive;
# - what went wrong in the guide's v1 sample (no check in the handler, not idempotent, a misspelt filter key).
#
# The guide's scenario *"Use Azure Functions to deploy a model based on tags"*: "An Azure Machine Learning model
# object contains parameters you can pivot deployments on, such as model name, version, tag, and property. The
# model registration event can trigger an endpoint and you can use an Azure Function to deploy a model based on the
# value of those parameters." The sample it links uses SDK v1 and Azure Container Instances, both retired; this
# lesson does the same with `azure-ai-ml` v2.

# %%
from amlevents_kit import connect, ensure_providers

target = connect()
states = ensure_providers(target)
ml = target.ml_client()

# %% [markdown]
# ## 1. Train a small model
#
# A decision tree on the iris data, saved in the **MLflow format** (a folder with an `MLmodel` file and the
# pickled model). Azure ML deploys an MLflow model with no scoring script and no environment to write.
# `mlflow.sklearn.save_model(model, path)` writes this folder; when mlflow is not installed the cell writes the
# same files itself.

# %%
import pickle
import tempfile
from pathlib import Path

import sklearn
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

X, y = load_iris(return_X_y=True, as_frame=True)
model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
print(f"training accuracy: {model.score(X, y):.3f}")


def save_mlflow_model(model, path: Path) -> Path:
    """Save a scikit-learn model in the MLflow format (with mlflow if it is installed)."""
    try:
        import mlflow.sklearn
        mlflow.sklearn.save_model(model, str(path))
        return path
    except ImportError:
        pass
    path.mkdir(parents=True)
    (path / "model.pkl").write_bytes(pickle.dumps(model))
    (path / "MLmodel").write_text(
        "flavors:\n"
        "  python_function:\n    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n"
        "    loader_module: mlflow.sklearn\n    model_path: model.pkl\n    predict_fn: predict\n"
        f"  sklearn:\n    pickled_model: model.pkl\n    serialization_format: pickle\n"
        f"    sklearn_version: {sklearn.__version__}\n")
    (path / "requirements.txt").write_text(f"mlflow\nscikit-learn=={sklearn.__version__}\n")
    (path / "conda.yaml").write_text("dependencies:\n- python=3.11\n- pip:\n  - mlflow\n"
                                     f"  - scikit-learn=={sklearn.__version__}\nname: mlflow-env\n")
    (path / "python_env.yaml").write_text("python: 3.11\nbuild_dependencies:\n- pip\ndependencies:\n"
                                          "- -r requirements.txt\n")
    return path


model_dir = save_mlflow_model(model, Path(tempfile.mkdtemp()) / "iris-tree")
print(sorted(p.name for p in model_dir.iterdir()))

# %% [markdown]
# ## 2. The handler
#
# The rule: deploy a registered model when its tags say `ncd=true` **and** `stage=production`, to the endpoint
# `lesson05-ep`. `amlevents_kit.deploy` holds the handler; read it (`deploy_on_model_registered`), it is short.
# For each event it:
#
# 1. checks the **topic** is *our* workspace, the **type** is `ModelRegistered`, and the **tags** match the rule:
#    the subscription filter already did this, but a handler must not trust that a filter exists or is right;
# 2. looks the model version up: an event for a version that is gone is skipped, not failed (a failure would
#    have Event Grid retry it for a day, and it can never succeed);
# 3. names the deployment after the model version (`lesson05-iris-v1`) and looks for it: Event Grid delivers
#    **at least once**, so the same event may come twice; if the deployment exists, serves this model and has
#    its share of the traffic, there is nothing to do (if an earlier try failed before moving the traffic, it
#    moves it now);
# 4. creates the endpoint if needed, deploys with `ml.online_deployments.begin_create_or_update(...)`, and moves
#    the endpoint's traffic to the new deployment.
#
# The handler runs behind a local webhook (`Receiver`), the way lesson 02 received events.

# %%
from amlevents_kit import events
from amlevents_kit.deploy import DeploymentRule, TagDeployer
from amlevents_kit.receiver import Receiver

rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true", "stage": "production"},
                      endpoint="lesson05-ep", instance_type="Standard_DS3_v2")
deployer = TagDeployer(rule, ml)
receiver = Receiver().start()
receiver.on(events.MODEL_REGISTERED)(deployer)
deployed_events = []
receiver.on(events.MODEL_DEPLOYED)(deployed_events.append)
print(rule)

# %% [markdown]
# ## 3. The subscription: advanced filters on `data.modelTags`
#
# One **StringIn** advanced filter per tag; Event Grid ANDs them. Only registrations that pass all of them are
# delivered. The rule builds the subscription, as the SDK object or as the REST body:

# %%
import json

print(json.dumps(rule.event_subscription(receiver.url)["properties"]["filter"], indent=2))

# %% [markdown]
# The same rule as a form: change the tags, the endpoint or the instance type and **Preview** shows the subscription
# it will create and where the handler deploys; `form.deployer(ml)` gives the handler for the form's rule.
#
# *Azure CLI*:
# ```
# az eventgrid event-subscription create --name lesson05-deploy-by-tags --source-resource-id <workspace id> \
#   --endpoint <function or webhook URL> --included-event-types Microsoft.MachineLearningServices.ModelRegistered \
#   --advanced-filter data.modelTags.ncd StringIn true --advanced-filter data.modelTags.stage StringIn production
# ```
# *Portal*: workspace → **Events** → **+ Event Subscription** → *Filters* tab → **Enable advanced filtering**.

# %%
from amlevents_kit.widgets.deployment import DeploymentRuleForm

form = DeploymentRuleForm(target, endpoint_url=receiver.url, subscription_name="lesson05-deploy-by-tags",
                          endpoint="lesson05-ep")
form

# %% [markdown]
# Editing the form changes the filter: allow `staging` as well and press **Preview** (here, from code):

# %%
form.conditions.value = "ncd = true\nstage = production, staging"
form.preview_button.click()
assert form.rule.tags == {"ncd": ["true"], "stage": ["production", "staging"]}
print(form.rule.advanced_filters()[1])
print(form.deploys_to())

# %% [markdown]
# Create it (the form's **Create subscription** button does the same), plus a second subscription that sends
# `ModelDeployed` events to the same receiver, so we can see the deployment finish.

# %%
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import EventSubscription, EventSubscriptionFilter, WebHookEventSubscriptionDestination

eg = target.client(EventGridManagementClient)
created = eg.event_subscriptions.begin_create_or_update(
    target.workspace_id, "lesson05-deploy-by-tags", rule.to_event_subscription(receiver.url)).result()
watch = eg.event_subscriptions.begin_create_or_update(target.workspace_id, "lesson05-deployed", EventSubscription(
    destination=WebHookEventSubscriptionDestination(endpoint_url=receiver.url),
    filter=EventSubscriptionFilter(included_event_types=[events.MODEL_DEPLOYED],
                                   subject_begins_with="endpoints/lesson05-ep"))).result()
for sub in (created, watch):
    print(f"{sub.name:26} {sub.provisioning_state}  {[f.key for f in sub.filter.advanced_filters or []]}")

# %% [markdown]
# ## 4. Register two versions
#
# Version 1 carries `ncd=true, stage=production`; version 2 only `stage=dev`. Registering from a local folder
# uploads it to the workspace's storage, then raises `ModelRegistered` with the tags.
#
# *Azure CLI*: `az ml model create --name lesson05-iris --path <folder> --type mlflow_model --tags ncd=true stage=production`

# %%
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Model

tagged = ml.models.create_or_update(Model(path=str(model_dir), name="lesson05-iris", type=AssetTypes.MLFLOW_MODEL,
                                          tags={"ncd": "true", "stage": "production"}))
untagged = ml.models.create_or_update(Model(path=str(model_dir), name="lesson05-iris", type=AssetTypes.MLFLOW_MODEL,
                                            tags={"stage": "dev"}))
print(tagged.name, tagged.version, tagged.tags)
print(untagged.name, untagged.version, untagged.tags)

# %% [markdown]
# Event Grid delivers the first registration and filters out the second. `target.wait_for(...)` looks until
# `ModelDeployed` has arrived and the handler has finished; in the sandbox it also drives the delivery engine (on
# Azure, deliveries happen on their own within seconds, and a managed deployment takes several minutes).

# %%
target.wait_for(lambda: deployed_events and deployer.outcomes)  # the handler finishes just after ModelDeployed
for outcome in deployer.outcomes:
    print(outcome)

# %% [markdown]
# Only the tagged version was deployed. `ModelDeployed` arrived too: its `modelIds` say which model versions the
# service runs (`name:version`, comma-separated), its subject names the endpoint.

# %%
arrived = deployed_events[0]
print(arrived.subject)
print(arrived.data.model_ids, arrived.data.service_compute_type)

# %% [markdown]
# ## 5. Score it over HTTP
#
# The endpoint has a scoring URI and keys. Any HTTP client can call it with the key as a bearer token;
# `ml.online_endpoints.invoke(...)` does the same. (A trap in azure-ai-ml 1.35: once you call `invoke` with
# `deployment_name=...`, later `invoke` calls in the same kernel keep sending that deployment's header, because the
# SDK writes it into a shared default; plain HTTP, as below, does not have that problem.)

# %%
import requests

endpoint = ml.online_endpoints.get("lesson05-ep")
print(endpoint.traffic)
key = ml.online_endpoints.get_keys("lesson05-ep").primary_key
rows = [0, 60, 120]
payload = {"input_data": {"columns": list(X.columns), "index": rows, "data": X.iloc[rows].values.tolist()}}
answer = requests.post(endpoint.scoring_uri, json=payload, headers={"Authorization": f"Bearer {key}"}, timeout=60)
print(answer.status_code, answer.json(), "expected", y.iloc[rows].tolist())

# %% [markdown]
# Without the key, the endpoint refuses:

# %%
print(requests.post(endpoint.scoring_uri, json=payload, timeout=60).status_code)

# %% [markdown]
# ## 6. Delivered twice? Nothing happens twice
#
# Event Grid retries when a handler answers late or fails, so a handler may see the same event again. Ours finds
# the deployment named after the model version and stops:

# %%
first_event = deployer.outcomes[0].event_id
again = deployer(next(e for e in receiver.received if e.id == first_event))
print(again)
print(sorted(d.name for d in ml.online_deployments.list("lesson05-ep")))

# %% [markdown]
# ## 7. The v1 sample's pitfalls
#
# The sample the guide links (*MachineLearningSamples-NoCodeDeploymentTriggeredByEventGrid*, 2019):
#
# - **No check in the handler.** Its function deployed whatever it received: only the portal filter decided. A
#   subscription created without the filter, or a second subscription on the same function, deploys every model.
#   Ours checks topic, type and tags again:

# %%
from amlevents_kit.deploy import deploy_on_model_registered

stray = events.model_registered(topic=target.workspace_id, model_name="lesson05-iris", model_version="2",
                                model_tags={"stage": "dev"})
print(deploy_on_model_registered(stray, rule, ml))

# %% [markdown]
# - **Not idempotent.** It called `Model.deploy(ws, "acitest-<name>-<version>", ...)` on every delivery: a
#   redelivery tried to create the same service again and failed (or, with another name, deployed twice).
# - **A misspelt key.** Its README tells you to filter on `data.modelTages.stage`. A filter on a key that does not
#   exist never matches, and nothing says so: no model is ever deployed. `amlevents_kit.filters.lint` catches it:

# %%
from amlevents_kit import filters

typo = {"includedEventTypes": [events.MODEL_REGISTERED],
        "advancedFilters": [{"operatorType": "StringContains", "key": "data.modelTages.stage", "values": ["production"]}]}
for finding in filters.lint(typo):
    print(finding)

# %% [markdown]
# - **String contains.** It filtered with *String contains* `true`, which also lets `untrue` through; `StringIn`
#   compares the whole value. And it ran on SDK v1 and Azure Container Instances, both retired.
#
# ## Exercise
#
# Write `contains_filter`, the v1 sample's filter *spelt correctly*: the REST form of a filter (a dict like
# `rule.event_filter()` above) with one `StringContains` advanced filter on `data.modelTags.ncd` and the value
# `true`. Then build `sneaky`, a `ModelRegistered` event (`events.model_registered(...)`, as `stray` above) whose
# `ncd` tag this filter lets through but our rule does not. The **Check** tests your filter, your event, and that
# our handler refuses the event.
#
# Write your answer in a new cell below this one (press `B` to add it), run it, then run the **Check**. Our
# solution is folded away under the next heading: try first, then click its `⋯` to open it.

# %% [markdown]
# ### Solution

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution
contains_filter = {
    "includedEventTypes": [events.MODEL_REGISTERED],
    "advancedFilters": [{"operatorType": "StringContains", "key": "data.modelTags.ncd", "values": ["true"]}],
}
sneaky = events.model_registered(topic=target.workspace_id, model_name="lesson05-iris", model_version="9",
                                 model_tags={"ncd": "untrue", "stage": "production"})

# %%
# Check
on_ncd = [f for f in contains_filter.get("advancedFilters") or [] if str(f.get("key")).lower() == "data.modeltags.ncd"]
assert [(f.get("operatorType"), f.get("values")) for f in on_ncd] == [("StringContains", ["true"])], \
    "contains_filter needs exactly one advanced filter on data.modelTags.ncd: StringContains with values ['true']"
wanted = events.model_registered(topic=target.workspace_id, model_name="lesson05-iris", model_version="1",
                                 model_tags={"ncd": "true", "stage": "production"})
assert filters.matches(wanted, {"properties": {"filter": contains_filter}}), \
    "contains_filter must still let a registration tagged ncd=true through"
assert sneaky["eventType"] == events.MODEL_REGISTERED, "sneaky must be a ModelRegistered event"
ncd = str((sneaky["data"].get("modelTags") or {}).get("ncd"))
assert ncd.lower() not in rule.tags["ncd"], f"sneaky's ncd tag is {ncd!r}, which our rule accepts too"
assert filters.matches(sneaky, {"properties": {"filter": contains_filter}}), "contains_filter should let sneaky through"
assert not filters.matches(sneaky, {"properties": {"filter": rule.event_filter()}}), "our rule's filter must drop it"
assert deploy_on_model_registered(sneaky, rule, ml).action == "skipped"
print("StringContains lets", repr(ncd), "through; StringIn and the handler do not.")

# %% [markdown]
# ## On Azure: the handler as a function app
#
# The receiver above runs in this notebook. On Azure the same handler runs in an Azure Function:
# `export_function_app(rule, folder)` writes a Python v2 function app with an Event Grid trigger that calls
# `deploy_on_model_registered`. Publish it with `func azure functionapp publish <app>`, give its managed identity
# the *AzureML Data Scientist* role on the workspace, and subscribe it with endpoint type `AzureFunction` and the
# filter above.

# %%
from amlevents_kit.deploy import export_function_app

app = export_function_app(rule, Path(tempfile.mkdtemp()) / "deploy-by-tags")
print(sorted(p.name for p in app.iterdir()))

# %% [markdown]
# ## Clean up
#
# Delete the endpoint (`az ml online-endpoint delete --name lesson05-ep`) and this lesson's subscriptions, and stop
# the handler. The model versions stay registered (archive them with `ml.models.archive(name, version)`).

# %%
ml.online_endpoints.begin_delete("lesson05-ep").result()
for name in ("lesson05-deploy-by-tags", "lesson05-deployed"):
    eg.event_subscriptions.begin_delete(target.workspace_id, name).result()
    print("deleted", name)
receiver.stop()

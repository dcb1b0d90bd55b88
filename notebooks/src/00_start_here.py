# %% [markdown]
# # 00 · Start here: event-driven machine learning on Azure
#
# **You will learn**
# - what an Azure Machine Learning workspace tells the world through **Azure Event Grid**, and what can listen;
# - how these lessons reach either **your own Azure subscription** or the **local sandbox**, with the same code;
# - how to check that your set-up works.
#
# This kit follows Azure's guide *Create event-driven machine learning workflows* step by step and goes further:
# every event, filter, retry and e-mail in the lessons really happens, on your machine.

# %% [markdown]
# ## The event flow
#
# ```
#  Azure ML workspace                 Azure Event Grid                         handlers
#  ───────────────────                ─────────────────────────                ─────────────────────────
#  model registered  ─┐               event subscription                       webhook (your code)
#  model deployed    ─┤               ├─ filter: event types                   Logic App → e-mail
#  run completed     ─┼─ events ───►  ├─ filter: subject begins/ends with ──►  Logic App → Data Factory → retrain
#  run status changed─┤               ├─ advanced filters (data.*)             Azure Function → deploy
#  data drift found  ─┘               └─ retries, dead-letter
# ```
#
# | Event type | Raised when |
# |---|---|
# | `Microsoft.MachineLearningServices.ModelRegistered` | a model version is registered |
# | `Microsoft.MachineLearningServices.ModelDeployed` | a model is deployed to an endpoint |
# | `Microsoft.MachineLearningServices.RunCompleted` | a job (run) completes |
# | `Microsoft.MachineLearningServices.RunStatusChanged` | a job's status changes |
# | `Microsoft.MachineLearningServices.DatasetDriftDetected` | a drift monitor finds drift |

# %% [markdown]
# ## Choosing a target
#
# `connect()` returns a **target**: the subscription, resource group and workspace the lessons act on, and a way to
# build the real Azure SDK clients for them.
#
# - With no argument it is the **sandbox**: a local emulator of Azure Resource Manager, with its state in a folder.
#   Nobody needs an Azure subscription.
# - `connect("azure")` (or the environment variable `AMLEVENTS_TARGET=azure`) uses your real workspace: it signs in
#   with `DefaultAzureCredential` (for example after `az login`) and reads the workspace's `config.json`.
#
# Every later cell is the same on both targets, except the few marked **Sandbox only**: they move the sandbox's
# clock or drive its delivery engine, which Azure does by itself.

# %%
from amlevents_kit import connect

target = connect()
target

# %% [markdown]
# Every client is built through the target. Here is the resource-management client, the one lesson 01 uses:

# %%
from azure.mgmt.resource.resources import ResourceManagementClient

rm = target.client(ResourceManagementClient)
group = rm.resource_groups.get(target.resource_group)
print(group.name, group.location, group.properties.provisioning_state)

# %% [markdown]
# ## Health check
#
# The workspace is what raises the events. Reading it through `azure-ai-ml`'s `MLClient` checks credentials,
# the subscription, the resource group and the workspace in one go.

# %%
ml = target.ml_client()
workspace = ml.workspaces.get(target.workspace_name)  # az ml workspace show --name <workspace> --resource-group <group>
print("workspace:", workspace.name)
print("ARM id   :", workspace.id == target.workspace_id)

# %% [markdown]
# **Starting again.** The sandbox keeps what the lessons create in a folder, so you can stop and come back later.
# To throw it all away and start from a fresh sandbox, run `target.sandbox.reset()` (with the other lessons'
# kernels shut down), or `amlevents-kit sandbox reset --folder <folder>` in a terminal. On Azure, use
# `amlevents_kit.cleanup(target)` instead (below).

# %% [markdown]
# ## Going to Azure
#
# To run the lessons on your own workspace instead of the sandbox:
#
# 1. **Permissions**: *Contributor* on the resource group (to create event subscriptions, Logic Apps, endpoints),
#    and the right to register resource providers on the subscription (lesson 01).
# 2. **`config.json`**: in Azure ML studio, open the workspace menu (top right) and *Download config file*; put it in
#    the `notebooks/` folder (or any folder above it).
# 3. **Sign in**: `az login` in a terminal (or any other way `DefaultAzureCredential` knows).
# 4. **Choose the target**: `export AMLEVENTS_TARGET=azure` before starting JupyterLab, or `connect("azure")`.
# 5. **Webhooks need a public HTTPS address**: the lessons' `Receiver` listens on your machine, which Event Grid
#    cannot reach. Deploy the handler as an Azure Function (`receiver.export_function_app(...)`, lesson 02) and
#    subscribe its URL, or expose the receiver's port through a tunnel (for example `devtunnel host -p <port>
#    --allow-anonymous`).
# 6. **Once in the portal**: authorise the Logic Apps' API connections (office365, azureeventgrid,
#    azuredatafactory: *API connection → Edit API connection → Authorize*); give the Data Factory's managed identity
#    the *AzureML Data Scientist* role on the workspace (lesson 04's pipeline submits the job with it); build the
#    retraining job's environment from `notebooks/jobs/retrain/conda.yaml` (its first lines say how) and pass it as
#    `environment=` / `environment_id=` to the `retrain` helpers.
# 7. **What costs money**: managed online endpoints (lesson 05, billed per hour while they exist), compute for
#    jobs (lessons 04 and 06), Logic App runs and Event Grid operations (cents). Delete what you made when you are
#    done: `amlevents_kit.cleanup(target)` removes the subscriptions, topics, workflows, factories and endpoints the
#    lessons created.

# %%
import os

print("AMLEVENTS_TARGET =", os.environ.get("AMLEVENTS_TARGET", "(not set: sandbox)"))

# %% [markdown]
# ## Exercise
#
# Build an `EventGridManagementClient` through the target (you will need it in lesson 02), call it `eventgrid`, and
# check that it points at the same subscription as the target.
#
# Each lesson ends with an exercise like this one. Write your answer in a new cell below this one (press `B` to
# add it), run it, then run the **Check**. Our solution is folded away in the next cell: click its `⋯` to open it.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution
from azure.mgmt.eventgrid import EventGridManagementClient

eventgrid = target.client(EventGridManagementClient)

# %%
# Check
assert eventgrid._config.subscription_id == target.subscription_id
print("Well done: every client comes from the same target.")

# %% [markdown]
# # 01 · Register the resource providers
#
# **You will learn**
# - what a *resource provider* is and why Event Grid needs one registered before it can subscribe to a workspace;
# - how to check and register providers with `ResourceManagementClient`, and the `az` commands that do the same;
# - how registration moves from `NotRegistered` through `Registering` to `Registered`.
#
# The guide's first step: *"Register the Microsoft.EventGrid resource provider"*. Every Azure service is offered by a
# resource provider (`Microsoft.EventGrid`, `Microsoft.MachineLearningServices`, …). A subscription can only create
# resources of a provider it is *registered* for.

# %%
from amlevents_kit import connect
from azure.mgmt.resource.resources import ResourceManagementClient

target = connect()
rm = target.client(ResourceManagementClient)

# %% [markdown]
# ## Check the state
#
# `providers.get(namespace)` returns the provider with its `registration_state` and the resource types it offers.
#
# *Azure CLI*: `az provider show --namespace Microsoft.EventGrid --query registrationState`

# %%
for namespace in ["Microsoft.EventGrid", "Microsoft.MachineLearningServices"]:
    provider = rm.providers.get(namespace)
    print(f"{namespace:36} {provider.registration_state}")

# %% [markdown]
# A provider lists the resource types it offers. Event subscriptions are the ones these lessons create:

# %%
provider = rm.providers.get("Microsoft.EventGrid")
print(sorted(t.resource_type for t in provider.resource_types)[:6])

# %% [markdown]
# ## Register
#
# `providers.register(namespace)` starts the registration and returns at once with `Registering`; the provider is
# usable when `get` says `Registered`. On Azure this takes from seconds to a few minutes; in the sandbox, two
# seconds. So we poll, and print the state each time it changes.
#
# *Azure CLI*: `az provider register --namespace Microsoft.EventGrid` (add `--wait` to block until registered).
#
# *Portal*: your subscription → **Resource providers** → select *Microsoft.EventGrid* → **Register**.

# %%
import time


def register_and_wait(namespace: str, timeout: float = 300) -> list[str]:
    """Register a provider and return the states seen until it is registered."""
    seen = [rm.providers.get(namespace).registration_state]
    rm.providers.register(namespace)
    deadline = time.monotonic() + timeout
    while seen[-1] != "Registered" and time.monotonic() < deadline:
        state = rm.providers.get(namespace).registration_state
        if state != seen[-1]:
            seen.append(state)
        time.sleep(0.25)
    return seen


print(" → ".join(register_and_wait("Microsoft.EventGrid")))

# %% [markdown]
# Registering again is harmless: a registered provider stays registered. That is why later lessons start with
# `ensure_providers(target)`, which registers what is missing and waits.
#
# > **The guide's note on re-registering.** The guide says that if the provider was registered *before*
# > Azure Machine Learning events existed, you may have to register it again to see them. Re-registering is the
# > same `register` call.

# %% [markdown]
# ## What happens if you forget?
#
# Creating a resource of an unregistered provider fails with `MissingSubscriptionRegistration` (HTTP 409). For
# ordinary calls the Azure SDK for Python catches that error, **registers the provider for you**, waits in steps of
# 10 seconds and retries: convenient, but it hides a slow first call. Long-running creates (an event subscription,
# an endpoint) are sent differently and simply fail with the 409. Registering first keeps the lessons fast and
# explicit.

# %% [markdown]
# ## The same with a panel
#
# The panel shows the providers the lessons need; *Register* registers the one selected, *Refresh* reads the states
# again.

# %%
from amlevents_kit.widgets.providers import ProvidersPanel

panel = ProvidersPanel(target)
panel

# %%
panel.choice.value = "Microsoft.MachineLearningServices"
panel.register_button.click()
print(panel.states["Microsoft.MachineLearningServices"])

# %% [markdown]
# ## Exercise
#
# Wait until `Microsoft.MachineLearningServices` is registered (you may reuse `register_and_wait`, or poll
# `rm.providers.get`), then press *Refresh* on the panel, or call `panel.refresh()`.
#
# Write your answer in a new cell below this one (press `B` to add it), run it, then run the **Check**. Our
# solution is folded away in the next cell: click its `⋯` to open it.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution
states = register_and_wait("Microsoft.MachineLearningServices")
panel.refresh()

# %%
# Check
assert panel.states == {"Microsoft.EventGrid": "Registered", "Microsoft.MachineLearningServices": "Registered"}
print("Both providers are registered: on to lesson 02.")

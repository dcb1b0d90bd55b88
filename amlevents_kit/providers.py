"""Resource-provider registration, the first step of every lesson (``az provider register``)."""

from __future__ import annotations

import time
from typing import Iterable

LESSON_PROVIDERS = ("Microsoft.EventGrid", "Microsoft.MachineLearningServices")


def provider_states(target, namespaces: Iterable[str] = LESSON_PROVIDERS) -> dict[str, str]:
    """Each provider's registration state on the target's subscription, sorted by name."""
    from azure.mgmt.resource.resources import ResourceManagementClient
    rm = target.client(ResourceManagementClient)
    return {ns: rm.providers.get(ns).registration_state for ns in sorted(namespaces)}


def ensure_providers(target, namespaces: Iterable[str] = LESSON_PROVIDERS, *, timeout: float = 300,
                     quiet: bool = False) -> dict[str, str]:
    """Register the providers that are not yet registered and wait until they all are.

    Registering is idempotent on Azure, so this is safe to run at the top of every lesson. On
    Azure it can take a few minutes; in the sandbox it takes two seconds of *sandbox* time, which
    this function skips by moving the sandbox clock on.
    """
    from azure.mgmt.resource.resources import ResourceManagementClient
    if not callable(getattr(target, "client", None)):
        raise TypeError(f"ensure_providers({target!r}): expected the target from amlevents_kit.connect().")
    if isinstance(namespaces, str):  # one namespace on its own, not its letters
        namespaces = [namespaces]
    names = sorted(namespaces)
    if not names or not all(isinstance(ns, str) and ns for ns in names):
        raise ValueError(f"ensure_providers(namespaces={names!r}): expected names such as 'Microsoft.EventGrid'.")
    rm = target.client(ResourceManagementClient)
    for ns in names:
        if rm.providers.get(ns).registration_state != "Registered":
            rm.providers.register(ns)
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while True:
        states = {ns: rm.providers.get(ns).registration_state for ns in names}
        if all(s == "Registered" for s in states.values()):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"providers still not registered after {timeout:.0f} s: {states}")
        if getattr(target, "sandbox", None) is not None:
            target.sandbox.clock.advance(seconds=1)
        else:
            time.sleep(5)
    if not quiet:
        for ns, state in states.items():
            print(f"{ns}: {state}")
    return states

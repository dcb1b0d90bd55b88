"""Microsoft.Resources state and behaviour: the subscription, resource groups and provider registration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...arm.errors import ArmError, invalid_value, missing_field
from ... import defaults
from . import catalog
from .exceptions import (invalid_namespace, missing_registration, resource_group_not_found,
                         subscription_not_found)

if TYPE_CHECKING:
    from ...app import Sandbox

PROVIDER_TYPE = "Microsoft.Resources/providers"
GROUP_TYPE = "Microsoft.Resources/resourceGroups"
TRANSITIONS = {"Registering": "Registered", "Unregistering": "NotRegistered"}


class ResourcesBackend:
    """Providers with NotRegistered → Registering → Registered in sandbox time; resource groups."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.clock = sandbox.clock

    # -- seeding -----------------------------------------------------------------------------------
    def seed(self) -> None:
        """Give a fresh sandbox its subscription, resource group and provider states."""
        with self.store.transaction():
            if self.store.get_meta("seeded.resources"):
                return
            sub = defaults.SUBSCRIPTION_ID
            for namespace, (state, _) in catalog.PROVIDERS.items():
                self.store.put(self._provider_id(sub, namespace), PROVIDER_TYPE,
                               {"namespace": namespace, "registrationState": state, "_since": 0})
            self.create_or_update_group(sub, defaults.RESOURCE_GROUP,
                                        {"location": defaults.LOCATION, "tags": {"purpose": "amlevents-kit lessons"}})
            self.store.set_meta("seeded.resources", "1")

    # -- subscriptions -------------------------------------------------------------------------------
    def subscription(self, subscription: str) -> dict[str, Any]:
        if subscription.lower() != defaults.SUBSCRIPTION_ID:
            raise subscription_not_found(subscription)
        return {
            "id": f"/subscriptions/{defaults.SUBSCRIPTION_ID}",
            "subscriptionId": defaults.SUBSCRIPTION_ID,
            "tenantId": defaults.TENANT_ID,
            "displayName": defaults.SUBSCRIPTION_NAME,
            "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "Sandbox",
                                     "spendingLimit": "Off"},
            "authorizationSource": "RoleBased",
        }

    # -- providers -------------------------------------------------------------------------------------
    @staticmethod
    def _provider_id(subscription: str, namespace: str) -> str:
        return f"/subscriptions/{subscription}/providers/{namespace}"

    def _settle(self, subscription: str, namespace: str) -> dict[str, Any]:
        """Read a provider's state, completing a registration whose sandbox time has passed."""
        self.subscription(subscription)
        canonical = catalog.canonical(namespace)
        if canonical is None:
            raise invalid_namespace(namespace)
        rid = self._provider_id(defaults.SUBSCRIPTION_ID, canonical)
        with self.store.transaction():
            state = self.store.get(rid)
            nxt = TRANSITIONS.get(state["registrationState"])
            if nxt and self.clock.now() - state["_since"] >= catalog.REGISTRATION_SECONDS:
                state.update(registrationState=nxt, _since=self.clock.now())
                self.store.put(rid, PROVIDER_TYPE, state)
        return state

    def provider(self, subscription: str, namespace: str) -> dict[str, Any]:
        state = self._settle(subscription, namespace)
        name = state["namespace"]
        return {
            "id": self._provider_id(defaults.SUBSCRIPTION_ID, name),
            "namespace": name,
            "registrationState": state["registrationState"],
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": catalog.resource_types(name, [defaults.LOCATION_DISPLAY]),
        }

    def providers(self, subscription: str) -> list[dict[str, Any]]:
        return [self.provider(subscription, ns) for ns in sorted(catalog.PROVIDERS)]

    def state(self, subscription: str, namespace: str) -> str:
        return self._settle(subscription, namespace)["registrationState"]

    def _move(self, subscription: str, namespace: str, *, to: str, settled: str) -> dict[str, Any]:
        state = self._settle(subscription, namespace)
        if state["registrationState"] not in (settled, to):
            state.update(registrationState=to, _since=self.clock.now())
            self.store.put(self._provider_id(defaults.SUBSCRIPTION_ID, state["namespace"]), PROVIDER_TYPE, state)
        return self.provider(subscription, namespace)

    def register(self, subscription: str, namespace: str) -> dict[str, Any]:
        """Start registration; a provider already registered (or registering) stays as it is."""
        return self._move(subscription, namespace, to="Registering", settled="Registered")

    def unregister(self, subscription: str, namespace: str) -> dict[str, Any]:
        if catalog.canonical(namespace) == "Microsoft.Resources":
            raise ArmError(409, "CannotUnregisterResourceProvider",
                           "The resource provider 'Microsoft.Resources' cannot be unregistered.")
        return self._move(subscription, namespace, to="Unregistering", settled="NotRegistered")

    def require_registered(self, subscription: str, namespace: str, method: str) -> None:
        """Answer 409 MissingSubscriptionRegistration for writes into an unregistered provider."""
        if catalog.canonical(namespace) and self.state(subscription or defaults.SUBSCRIPTION_ID, namespace) != "Registered":
            raise missing_registration(catalog.canonical(namespace))

    # -- resource groups ---------------------------------------------------------------------------------
    @staticmethod
    def group_id(subscription: str, name: str) -> str:
        return f"/subscriptions/{subscription}/resourceGroups/{name}"

    def get_group(self, subscription: str, name: str) -> dict[str, Any]:
        self.subscription(subscription)
        body = self.store.get(self.group_id(subscription, name))
        if body is None:
            raise resource_group_not_found(name)
        return body

    def create_or_update_group(self, subscription: str, name: str, spec: dict[str, Any]) -> tuple[dict, bool]:
        self.subscription(subscription)
        if not name or len(name) > 90 or not all(c.isalnum() or c in "-_.()" for c in name) or name.endswith("."):
            raise invalid_value("resourceGroupName", name,
                                "1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'")
        location = spec.get("location")
        if not location:
            raise missing_field("location")
        if not isinstance(location, str):
            raise invalid_value("location", location, "a location name such as 'eastus'")
        tags = spec.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise invalid_value("tags", tags, "an object of string values")
        rid = self.group_id(defaults.SUBSCRIPTION_ID, name)
        existed = self.store.get(rid) is not None
        body = {"id": rid, "name": name, "type": GROUP_TYPE, "location": location, "tags": tags,
                "properties": {"provisioningState": "Succeeded"}}
        self.store.put(rid, GROUP_TYPE, body, parent=f"/subscriptions/{defaults.SUBSCRIPTION_ID}")
        return body, not existed

    def list_groups(self, subscription: str) -> list[dict[str, Any]]:
        self.subscription(subscription)
        return self.store.list(type=GROUP_TYPE)

    def list_group_resources(self, subscription: str, name: str, resource_type: str | None = None) -> list[dict]:
        """The top-level resources in a group (``resources.list_by_resource_group``), oldest first."""
        self.get_group(subscription, name)
        prefix = self.group_id(defaults.SUBSCRIPTION_ID, name).lower() + "/providers/"
        out = []
        for body in self.store.list(under=self.group_id(defaults.SUBSCRIPTION_ID, name)):
            rid, rtype = body.get("id", ""), body.get("type", "")
            rest = rid.lower()[len(prefix):].split("/") if rid.lower().startswith(prefix) else []
            if len(rest) != 3 or rtype.count("/") != 1:
                continue
            if resource_type and rtype.lower() != resource_type.lower():
                continue
            out.append({k: body[k] for k in ("id", "name", "type", "location", "tags", "kind", "sku") if k in body})
        return out

    def delete_group(self, subscription: str, name: str) -> bool:
        self.get_group(subscription, name)
        return self.store.delete(self.group_id(defaults.SUBSCRIPTION_ID, name))

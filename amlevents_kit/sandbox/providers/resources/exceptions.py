"""Errors Microsoft.Resources answers, worded as Azure words them."""

from ...arm.errors import ArmError


def subscription_not_found(subscription: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")


def invalid_namespace(namespace: str) -> ArmError:
    return ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")


def missing_registration(namespace: str) -> ArmError:
    # The SDK's auto-registration policy takes the namespace from the last quoted word of this message.
    return ArmError(409, "MissingSubscriptionRegistration",
                    "The subscription is not registered to use namespace "
                    f"'{namespace}'. See https://aka.ms/rps-not-found for how to register subscriptions.",
                    details=[{"code": "MissingSubscriptionRegistration", "target": namespace,
                              "message": f"The subscription is not registered to use namespace '{namespace}'."}])


def resource_group_not_found(name: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")

"""Errors Microsoft.Logic answers, worded as Azure words them where we know the words."""

from __future__ import annotations

from typing import Any

from ...arm.errors import ArmError


def trigger_not_found(workflow: str, trigger: str) -> ArmError:
    return ArmError(404, "WorkflowTriggerNotFound",
                    f"The workflow '{workflow}' has no trigger named '{trigger}'.")


def workflow_disabled(workflow: str) -> ArmError:
    return ArmError(409, "WorkflowNotEnabled", f"The workflow '{workflow}' is disabled: enable it to run it.")


def bad_signature() -> ArmError:
    return ArmError(401, "DirectApiInvalidAuthorizationSignature",
                    "The provided authorization signature 'sig' is missing or invalid: use the URL from "
                    "listCallbackUrl.")


def subscription_failed(trigger: str, subscription_id: str, answer: Any) -> ArmError:
    """The Event Grid trigger could not create its event subscription: say what Event Grid answered."""
    inner = (answer or {}).get("error") if isinstance(answer, dict) else None
    said = f"({inner.get('code')}) {inner.get('message')}" if isinstance(inner, dict) else str(answer)
    return ArmError(400, "WorkflowTriggerSubscriptionFailed",
                    f"The trigger '{trigger}' could not create its event subscription '{subscription_id}'. "
                    f"Event Grid answered: {said}")

"""The shapes of this provider's request bodies, checked once before any handler reads them.

A field of the wrong type (``"traffic": "a string"``, ``"properties": 12345``) is a 400 that names the
field by its path and says what is allowed, instead of an ``AttributeError`` deep in a handler.
Only the fields the sandbox reads are described; others pass through untouched, as ARM ignores
properties it does not know. ``null`` counts as "not given" everywhere, as in ARM PUT bodies.
"""

from __future__ import annotations

from typing import Any, Callable

from ...arm.errors import ArmError

Rule = Callable[[Any, str], None]


def invalid(field: str, value: Any, allowed: str) -> ArmError:
    """400 naming the field, the value given (shortened) and what is allowed."""
    text = repr(value)
    if len(text) > 80:
        size = f" of length {len(value)}" if hasattr(value, "__len__") else ""
        text = f"{text[:60]}... (a {type(value).__name__}{size})"
    return ArmError(400, "InvalidRequestContent", f"The value {text} of '{field}' is invalid. Allowed: {allowed}.")


def check(body: Any, rule: Rule, field: str = "") -> None:
    """Check ``body`` against ``rule``; raises a 400 naming the first field that does not fit."""
    if body is not None:
        rule(body, field)


def _kind(allowed: str, test: Callable[[Any], bool]) -> Rule:
    def rule(value: Any, field: str) -> None:
        if not test(value):
            raise invalid(field or "body", value, allowed)
    return rule


TEXT = _kind("a string", lambda v: isinstance(v, str))
FLAG = _kind("true or false", lambda v: isinstance(v, bool))
WHOLE = _kind("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
ANY_OBJECT = _kind("a JSON object", lambda v: isinstance(v, dict))


def whole(low: int, high: int | None = None) -> Rule:
    """An integer from ``low`` (to ``high``)."""
    allowed = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"
    return _kind(allowed, lambda v: isinstance(v, int) and not isinstance(v, bool)
                 and v >= low and (high is None or v <= high))


def obj(fields: dict[str, Rule]) -> Rule:
    """A JSON object whose named fields (when given and not null) follow their rules."""
    def rule(value: Any, field: str) -> None:
        if not isinstance(value, dict):
            raise invalid(field or "body", value, "a JSON object")
        for key, sub in fields.items():
            if value.get(key) is not None:
                sub(value[key], f"{field}.{key}" if field else key)
    return rule


def mapping(values: Rule, allowed: str, *, nulls: bool = True) -> Rule:
    """A JSON object of any keys whose values follow ``values``; null values pass unless ``nulls`` is False."""
    def rule(value: Any, field: str) -> None:
        if not isinstance(value, dict):
            raise invalid(field, value, allowed)
        for key, item in value.items():
            if item is not None or not nulls:
                values(item, f"{field}.{key}")
    return rule


SCALAR = _kind("a string, a number or true/false",
               lambda v: isinstance(v, (str, int, float)))  # bool is an int; azure-ai-ml sends some numbers
# tags, properties, environment variables: strings on the wire by the spec, though azure-ai-ml sends a few numbers
STRINGS = mapping(SCALAR, "a JSON object of string (or number) values")

# -- request bodies ----------------------------------------------------------------------------------------

_ASSET = {"description": TEXT, "tags": STRINGS, "properties": STRINGS, "isArchived": FLAG, "isAnonymous": FLAG}

MODEL_CONTAINER = obj({"properties": obj(_ASSET)})
MODEL_VERSION = obj({"properties": obj({**_ASSET, "modelUri": TEXT, "modelType": TEXT, "jobName": TEXT,
                                        "stage": TEXT})})
CODE_VERSION = obj({"properties": obj({**_ASSET, "codeUri": TEXT})})

_JOB_INPUT = obj({"jobInputType": TEXT, "uri": TEXT, "mode": TEXT})
_JOB_OUTPUT = obj({"jobOutputType": TEXT, "uri": TEXT, "mode": TEXT})
JOB = obj({"properties": obj({
    "jobType": TEXT, "command": TEXT, "environmentId": TEXT, "codeId": TEXT, "computeId": TEXT,
    "experimentName": TEXT, "displayName": TEXT, "description": TEXT, "tags": STRINGS, "properties": STRINGS,
    "environmentVariables": STRINGS, "isArchived": FLAG,
    "inputs": mapping(_JOB_INPUT, "a JSON object of inputs (each a JSON object with 'jobInputType')", nulls=False),
    "outputs": mapping(_JOB_OUTPUT, "a JSON object of outputs (each a JSON object with 'jobOutputType')",
                       nulls=False),
})})

_TRAFFIC = mapping(whole(0, 100), "a JSON object of deployment name to an integer from 0 to 100", nulls=False)
ENDPOINT = obj({"location": TEXT, "tags": STRINGS, "properties": obj({
    "authMode": TEXT, "description": TEXT, "properties": STRINGS, "publicNetworkAccess": TEXT,
    "traffic": _TRAFFIC, "mirrorTraffic": _TRAFFIC,
})})

_PROBE = obj({"failureThreshold": WHOLE, "successThreshold": WHOLE, "timeout": TEXT, "period": TEXT,
              "initialDelay": TEXT})
DEPLOYMENT = obj({"location": TEXT, "tags": STRINGS, "sku": obj({"name": TEXT, "tier": TEXT, "capacity": WHOLE}),
                  "properties": obj({
    "model": TEXT, "endpointComputeType": TEXT, "description": TEXT, "properties": STRINGS,
    "codeConfiguration": obj({"codeId": TEXT, "scoringScript": TEXT}), "environmentId": TEXT,
    "environmentVariables": STRINGS, "instanceType": TEXT, "appInsightsEnabled": FLAG,
    "scaleSettings": ANY_OBJECT, "requestSettings": ANY_OBJECT, "livenessProbe": _PROBE, "readinessProbe": _PROBE,
    "egressPublicNetworkAccess": TEXT,
})})

REGENERATE_KEYS = obj({"keyType": TEXT, "keyValue": TEXT})
GET_LOGS = obj({"tail": whole(0), "containerType": TEXT})

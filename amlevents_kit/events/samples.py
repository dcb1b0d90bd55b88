"""Sample events for every type, in both schemas, with the values of Azure's SDK test payloads.

The values are those of ``fixtures/events/sdk-net-tests`` (azure-sdk-for-net ConsumeEventTests,
captured from real workspaces), with the test's typos fixed: ``targetDatasetId`` (the test says
``tarAsSystemEventDatasetId``), ``runTags`` (one test says ``RunTags``) and the ModelRegistered
CloudEvent's ``subject`` (the test repeats ``source``).
"""

from __future__ import annotations

import copy

from . import types as t
from .build import build_event

_JENNS = "/subscriptions/a5fe3bc5-98f0-4c84-affc-a589f54d9b23/resourceGroups/jenns/providers/Microsoft.MachineLearningServices/workspaces/jenns-canary"
_DRIFT_WS = "/subscriptions/60582a10-b9fd-49f1-a546-c4194134bba8/resourceGroups/copetersRG/providers/Microsoft.MachineLearningServices/workspaces/driftDemoWS"
_EG_TOPIC = "/subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_EXPERIMENT = "0fa9dfaa-cba3-4fa7-b590-23e48548f5c1"
_RUN = "AutoML_ad912b2d-6467-4f32-a616-dbe4af6dd8fc"
_RUN_TAGS = {"experiment_status": "ModelSelection", "experiment_status_descr": "Beginning model selection."}
_RUN_PROPS = {"num_iterations": "10", "target": "local"}
_DRIFT_ID = "01d29aa4-e6a4-470a-9ef3-66660d21f8ef"

# event type -> envelope keyword arguments and data for build_event (subject per schema if given)
_SAMPLES = {
    t.MODEL_REGISTERED: dict(
        topic=_JENNS, id="3b73ee51-bbf4-480d-9112-cfc23b41bfdb", time="2019-10-17T22:23:57.5350054+00:00",
        data={"modelName": "sklearn_regression_model", "modelVersion": "3",
              "modelTags": {"area": "diabetes", "type": "regression"},
              "modelProperties": {"area": "test"}},
    ),
    t.MODEL_DEPLOYED: dict(
        topic=_JENNS, id="40d0b167-be44-477b-9d23-a2befba7cde0", time="2019-10-23T18:20:08.8824474+00:00",
        data={"serviceName": "aciservice1", "serviceComputeType": "ACI",
              "serviceTags": {"mytag": "test tag"}, "serviceProperties": {"myprop": "test property"},
              "modelIds": "my_first_model:1,my_second_model:1"},
    ),
    t.RUN_COMPLETED: dict(
        topic=_JENNS, id="044ac44d-462c-4043-99eb-d9e01dc760ab", time="2019-10-18T19:29:55.8856038+00:00",
        data={"experimentId": _EXPERIMENT, "experimentName": "automl-local-regression", "runId": _RUN,
              "runType": "automl", "runTags": _RUN_TAGS, "runProperties": _RUN_PROPS},
    ),
    t.RUN_STATUS_CHANGED: dict(
        topic=_JENNS, id="aa8cd7df-fe28-5d5d-9b40-3342dbc2a887", time="2020-03-09T23:53:04.4579724Z",
        data={"runStatus": "Running", "experimentId": _EXPERIMENT, "experimentName": "automl-local-regression",
              "runId": _RUN, "runType": "automl", "runTags": _RUN_TAGS, "runProperties": _RUN_PROPS},
    ),
    t.DATASET_DRIFT_DETECTED: dict(
        topic=_DRIFT_WS, id="2684de79-b145-4dcf-ad2e-6a1db798585f", time="2019-10-20T17:08:08.467191+00:00",
        data={"dataDriftId": _DRIFT_ID, "dataDriftName": "copetersDriftMonitor3",
              "runId": f"{_DRIFT_ID}_1571590300380",
              "baseDatasetId": "3c56d136-0f64-4657-a0e8-5162089a88a3",
              "targetDatasetId": "d7e74d2e-c972-4266-b5fb-6c9c182d2a74",
              "driftCoefficient": 0.8350349068479208,
              "startTime": "2019-07-04T00:00:00+00:00", "endTime": "2019-07-05T00:00:00+00:00"},
    ),
    t.SUBSCRIPTION_VALIDATION: dict(
        topic=_EG_TOPIC, id="2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", time="2018-01-25T22:12:19.4556811Z",
        subject={t.EVENTGRID_SCHEMA: "mySubject", t.CLOUDEVENT_SCHEMA: ""},
        data={"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
              "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/estest/validate?id=B2E34264-7D71-453A-B5FB-B62D0FDC85EE&t=2018-04-26T20:30:54.4538837Z&apiVersion=2018-05-01-preview&token=1BNqCxBBSSE9OnNSfZM4%2b5H9zDegKMY6uJ%2fO2DFRkwQ%3d"},
    ),
    t.SUBSCRIPTION_DELETED: dict(
        topic=_EG_TOPIC, id="2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", time="2018-01-25T22:12:19.4556811Z",
        data={"eventSubscriptionId": "/subscriptions/id/resourceGroups/rg/providers/Microsoft.EventGrid/topics/topic1/providers/Microsoft.EventGrid/eventSubscriptions/eventsubscription1"},
    ),
}


def sample_event(event_type, schema: str = t.EVENTGRID_SCHEMA) -> dict:
    """Return a sample wire event of ``event_type`` in ``schema`` (a fresh dict each call)."""
    name = t.event_type_name(event_type)
    if name not in _SAMPLES:
        raise ValueError(f"event_type: no sample for {name!r}; samples exist for {', '.join(_SAMPLES)}")
    kwargs = copy.deepcopy(_SAMPLES[name])
    if isinstance(kwargs.get("subject"), dict):
        kwargs["subject"] = kwargs["subject"].get(schema)
    return build_event(name, schema=schema, **kwargs)

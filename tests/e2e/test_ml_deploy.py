"""Deploy-by-tags end to end: MLClient registers, Event Grid filters and delivers over HTTP, the handler deploys."""

from __future__ import annotations

import json
import pickle
import py_compile

import pytest
import requests
from azure.mgmt.eventgrid import EventGridManagementClient
from azure.mgmt.eventgrid.models import EventSubscription, EventSubscriptionFilter, WebHookEventSubscriptionDestination

from amlevents_kit import events
from amlevents_kit.deploy import DeploymentRule, TagDeployer, deploy_on_model_registered, export_function_app
from amlevents_kit.providers import ensure_providers

pytest.importorskip("azure.ai.ml")
from azure.ai.ml.constants import AssetTypes  # noqa: E402
from azure.ai.ml.entities import Model  # noqa: E402


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    folder = tmp_path_factory.mktemp("models") / "iris-tree"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(clf))
    (folder / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n"
                                    "    serialization_format: pickle\n")
    return folder, X, clf


def test_only_the_tagged_version_is_deployed_and_redelivery_is_harmless(target, rx, model_folder):
    ensure_providers(target, quiet=True)
    folder, X, clf = model_folder
    ml = target.ml_client()
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true", "stage": "production"},
                          endpoint="tagged-ep")
    deployer = TagDeployer(rule, ml)
    rx.on(events.MODEL_REGISTERED)(deployer)
    deployed = []
    rx.on(events.MODEL_DEPLOYED)(deployed.append)
    eg = target.client(EventGridManagementClient)
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "deploy-by-tags",
                                                  rule.to_event_subscription(rx.url)).result()
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "deployed", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=rx.url),
        filter=EventSubscriptionFilter(included_event_types=[events.MODEL_DEPLOYED]))).result()

    ml.models.create_or_update(Model(path=str(folder), name="iris-tree", type=AssetTypes.MLFLOW_MODEL,
                                     tags={"ncd": "true", "stage": "production"}))
    ml.models.create_or_update(Model(path=str(folder), name="iris-tree", type=AssetTypes.MLFLOW_MODEL,
                                     tags={"stage": "dev"}))
    engine = target.sandbox.service("delivery")
    engine.pump()   # ModelRegistered -> the handler deploys version 1 (the filter dropped version 2)
    engine.pump()   # ModelDeployed -> the receiver
    assert [str(o) for o in deployer.outcomes] == [
        "deployed: iris-tree:1 -> tagged-ep/iris-tree-v1 (tags match ['ncd', 'stage'])"]
    assert [d.data.model_ids for d in deployed] == ["iris-tree:1"]
    assert [d.name for d in ml.online_deployments.list("tagged-ep")] == ["iris-tree-v1"]
    endpoint = ml.online_endpoints.get("tagged-ep")
    assert endpoint.traffic == {"iris-tree-v1": 100}
    key = ml.online_endpoints.get_keys("tagged-ep").primary_key
    rows = [0, 75, 140]
    answer = requests.post(endpoint.scoring_uri, headers={"Authorization": f"Bearer {key}"}, json={
        "input_data": {"columns": list(X.columns), "index": rows, "data": X.iloc[rows].values.tolist()}})
    assert answer.status_code == 200 and answer.json() == clf.predict(X.iloc[rows]).tolist()

    # Event Grid delivers at least once: the same event again changes nothing and does not fail
    first = target.sandbox.backends["machinelearningservices"].events(events.MODEL_REGISTERED)[0]
    again = deployer(first)
    assert again.action == "already deployed"
    assert len(target.sandbox.backends["machinelearningservices"].events(events.MODEL_DEPLOYED)) == 1


def test_the_handler_checks_again_what_the_filter_checked(target, model_folder):
    """Defence in depth: without (or with a wrong) subscription filter the handler still refuses."""
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true"}, endpoint="guarded-ep")
    untagged = events.model_registered(topic=target.workspace_id, model_name="m", model_version="1",
                                       model_tags={"ncd": "false"})
    foreign = events.model_registered(topic=target.workspace_id.replace("amlevents-ws", "other-ws"),
                                      model_name="m", model_version="1", model_tags={"ncd": "true"})
    completed = events.run_completed(topic=target.workspace_id, experiment_id="e", experiment_name="x", run_id="r")
    outcomes = [deploy_on_model_registered(e, rule, ml) for e in (untagged, foreign, completed)]
    assert [o.action for o in outcomes] == ["skipped"] * 3
    assert "'ncd' is 'false'" in outcomes[0].reason
    assert "other-ws" in outcomes[1].reason
    assert "RunCompleted is not ModelRegistered" in outcomes[2].reason
    assert list(ml.online_endpoints.list()) == []


def test_export_as_an_azure_functions_app(tmp_path):
    rule = DeploymentRule(workspace_id=events.workspace_topic("5f7e3b2a-8c1d-4e6f-9a0b-1c2d3e4f5a6b", "rg", "ws"),
                          tags={"ncd": "true"}, endpoint="prod-ep")
    out = export_function_app(rule, tmp_path / "app")
    app = (out / "function_app.py").read_text()
    assert "@app.event_grid_trigger" in app and "deploy_on_model_registered(_event(azevent), RULE, _client())" in app
    py_compile.compile(str(out / "function_app.py"), doraise=True)
    assert (out / "amlevents_kit" / "deploy.py").is_file() and (out / "amlevents_kit" / "events").is_dir()
    assert "azure-ai-ml" in (out / "requirements.txt").read_text()
    assert json.loads((out / "host.json").read_text())["version"] == "2.0"


def test_a_failed_deployment_raises_so_event_grid_retries_and_the_retry_tries_again(target, tmp_path):
    from azure.core.exceptions import HttpResponseError
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    (tmp_path / "weights.bin").write_bytes(b"not a model")  # a custom model with no scoring script cannot load
    ml.models.create_or_update(Model(path=str(tmp_path / "weights.bin"), name="opaque", tags={"ncd": "true"}))
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true"}, endpoint="retry-ep")
    event = target.sandbox.backends["machinelearningservices"].events(events.MODEL_REGISTERED)[0]
    for _ in range(2):
        with pytest.raises(HttpResponseError, match="no scoring script"):
            deploy_on_model_registered(event, rule, ml)
    assert ml.online_deployments.get("opaque-v1", "retry-ep").provisioning_state == "Failed"
    assert target.sandbox.backends["machinelearningservices"].events(events.MODEL_DEPLOYED) == []

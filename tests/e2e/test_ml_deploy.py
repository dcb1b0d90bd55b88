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


def _register(ml, folder, name, **tags):
    return ml.models.create_or_update(Model(path=str(folder), name=name, type=AssetTypes.MLFLOW_MODEL, tags=tags))


def _registered_events(target):
    return target.sandbox.backends["machinelearningservices"].events(events.MODEL_REGISTERED)


def test_a_redelivery_moves_the_traffic_an_earlier_delivery_could_not(target, model_folder, monkeypatch):
    """The deployment succeeded, then moving the traffic failed (500, Event Grid retries): the retry routes it."""
    from amlevents_kit import deploy
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    _register(ml, model_folder[0], "churn", ncd="true")
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true"}, endpoint="blip-ep")
    event = _registered_events(target)[0]

    def blip(*args):
        raise ConnectionError("the network dropped while moving traffic")

    monkeypatch.setattr(deploy, "_route_traffic", blip)
    with pytest.raises(ConnectionError):
        deploy_on_model_registered(event, rule, ml)
    monkeypatch.undo()
    assert ml.online_deployments.get("churn-v1", "blip-ep").provisioning_state == "Succeeded"
    assert not ml.online_endpoints.get("blip-ep").traffic.get("churn-v1")

    retry = deploy_on_model_registered(event, rule, ml)
    assert retry.action == "deployed" and "traffic moved now" in retry.reason
    assert ml.online_endpoints.get("blip-ep").traffic == {"churn-v1": 100}
    again = deploy_on_model_registered(event, rule, ml)
    assert (again.action, again.reason) == ("already deployed", "a redelivered event: nothing to do")


def test_a_late_redelivery_does_not_take_the_traffic_back_from_a_newer_version(target, model_folder, monkeypatch):
    from amlevents_kit import deploy
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    folder = model_folder[0]
    # a canary rule: each new version takes 20%
    canary = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true"}, endpoint="canary-ep", traffic=20)
    _register(ml, folder, "churn", ncd="true")
    _register(ml, folder, "churn", ncd="true")
    v1, v2 = _registered_events(target)
    assert deploy_on_model_registered(v1, canary, ml).action == "deployed"
    assert deploy_on_model_registered(v2, canary, ml).action == "deployed"
    assert ml.online_endpoints.get("canary-ep").traffic == {"churn-v1": 80, "churn-v2": 20}
    late = deploy_on_model_registered(v1, canary, ml)   # v1's share under this rule would be 20%, but v2 is newer
    assert late.action == "already deployed" and "churn-v2 was deployed after it" in late.reason
    assert ml.online_endpoints.get("canary-ep").traffic == {"churn-v1": 80, "churn-v2": 20}

    # v3's traffic move fails, then v4 deploys: v3's retry must not take v4's traffic
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true"}, endpoint="canary-ep")
    _register(ml, folder, "churn", ncd="true")
    _register(ml, folder, "churn", ncd="true")
    v3, v4 = _registered_events(target)[2:]
    monkeypatch.setattr(deploy, "_route_traffic", lambda *a: (_ for _ in ()).throw(ConnectionError("blip")))
    with pytest.raises(ConnectionError):
        deploy_on_model_registered(v3, rule, ml)
    monkeypatch.undo()
    assert deploy_on_model_registered(v4, rule, ml).action == "deployed"
    assert deploy_on_model_registered(v3, rule, ml).action == "already deployed"
    assert {k: v for k, v in ml.online_endpoints.get("canary-ep").traffic.items() if v} == {"churn-v4": 100}


def test_models_whose_names_clean_up_alike_get_their_own_deployments(target, model_folder):
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    names = ["my_model", "my-model", "My.Model"]
    for name in names:
        _register(ml, model_folder[0], name, ncd="true")
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true"}, endpoint="names-ep", traffic=0)
    outcomes = [deploy_on_model_registered(e, rule, ml) for e in _registered_events(target)]
    assert [o.action for o in outcomes] == ["deployed"] * 3, [str(o) for o in outcomes]
    assert len({o.deployment for o in outcomes}) == 3
    for name, outcome in zip(names, outcomes):
        served = ml.online_deployments.get(outcome.deployment, "names-ep").model
        assert served.endswith(f"/models/{name}/versions/1"), (name, served)
    assert "my-model-v1" in {o.deployment for o in outcomes}   # an already clean name keeps its plain deployment name


def test_a_deployment_serving_another_model_is_left_alone(target, model_folder):
    """The deployment the handler would use already exists but serves another model: not 'already deployed'."""
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    _register(ml, model_folder[0], "other")
    _register(ml, model_folder[0], "churn", ncd="true")
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="shared-ep", auth_mode="key")).result()
    ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="churn-v1", endpoint_name="shared-ep", model="azureml:other:1", instance_type="Standard_DS3_v2",
        instance_count=1)).result()
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true"}, endpoint="shared-ep")
    outcome = deploy_on_model_registered(_registered_events(target)[1], rule, ml)
    assert outcome.action == "skipped" and "serves other:1" in outcome.reason, str(outcome)
    assert ml.online_deployments.get("churn-v1", "shared-ep").model.endswith("/models/other/versions/1")


def test_an_event_for_a_model_version_that_does_not_exist_is_skipped_and_creates_nothing(target, rx):
    """Over the webhook: a 200 with a skip, not a 500 that Event Grid would retry 30 times over a day."""
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true"}, endpoint="ghost-ep")
    deployer = TagDeployer(rule, ml)
    rx.on(events.MODEL_REGISTERED)(deployer)
    ghost = events.model_registered(topic=target.workspace_id, model_name="ghost", model_version="3",
                                    model_tags={"ncd": "true"})
    answer = requests.post(rx.url, json=[ghost], headers={"aeg-event-type": "Notification"}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert [str(o) for o in deployer.outcomes] == ["skipped: ghost:3 (model version ghost:3 not found in the workspace)"]
    assert list(ml.online_endpoints.list()) == []

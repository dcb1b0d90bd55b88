"""Microsoft.MachineLearningServices through the real azure-ai-ml MLClient: models, jobs, endpoints, events.

Everything runs for real: local files are uploaded through azure-ai-ml's own blob client, jobs run
as local processes, deployments load the pickled scikit-learn model and score over HTTP.
"""

from __future__ import annotations

import json
import os
import pickle
import textwrap
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from amlevents_kit import connect, events
from amlevents_kit.providers import ensure_providers

pytest.importorskip("azure.ai.ml")
from azure.ai.ml import Output, command  # noqa: E402
from azure.ai.ml.constants import AssetTypes  # noqa: E402
from azure.ai.ml.entities import (  # noqa: E402
    CodeConfiguration,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
)

ENV = "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"


@pytest.fixture
def ml(target):
    ensure_providers(target, quiet=True)
    return target.ml_client()


@pytest.fixture
def backend(target):
    return target.sandbox.backends["machinelearningservices"]


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y, LogisticRegression(max_iter=300).fit(X, y)


def mlflow_folder(path: Path, model) -> Path:
    """An MLflow-format scikit-learn model folder (MLmodel + model.pkl), as mlflow.sklearn.save_model writes."""
    path.mkdir(parents=True)
    with (path / "model.pkl").open("wb") as fh:
        pickle.dump(model, fh)
    (path / "MLmodel").write_text(textwrap.dedent("""\
        flavors:
          python_function:
            loader_module: mlflow.sklearn
            model_path: model.pkl
            predict_fn: predict
          sklearn:
            pickled_model: model.pkl
            serialization_format: pickle
        """))
    return path


def test_register_local_folder_uploads_and_emits_model_registered(ml, backend, iris, tmp_path):
    folder = mlflow_folder(tmp_path / "iris-model", iris[2])
    model = ml.models.create_or_update(Model(path=str(folder), name="iris", type=AssetTypes.MLFLOW_MODEL,
                                             tags={"ncd": "true", "stage": "production"}, properties={"owner": "me"}))
    assert model.version == "1"
    assert model.path.startswith("azureml://") and "/datastores/workspaceblobstore/paths/LocalUpload/" in model.path
    assert set(model.flavors) == {"python_function", "sklearn"}
    # the files really are in the sandbox's blob store, byte for byte
    stored = backend.assets.resolve(model.path)
    assert (stored / "model.pkl").read_bytes() == (folder / "model.pkl").read_bytes()
    ml.models.download("iris", "1", download_path=str(tmp_path / "dl"))  # and they come back down
    assert (tmp_path / "dl" / "iris" / "iris-model" / "model.pkl").read_bytes() == (folder / "model.pkl").read_bytes()
    [event] = backend.events(events.MODEL_REGISTERED)
    assert event["subject"] == "models/iris:1"
    assert event["topic"] == backend.assets.ws
    assert event["data"] == {"modelName": "iris", "modelVersion": "1",
                             "modelTags": {"ncd": "true", "stage": "production"}, "modelProperties": {"owner": "me"}}
    events.validate_event(event)


def test_versions_latest_list_archive(ml, backend, tmp_path):
    file = tmp_path / "weights.bin"
    file.write_bytes(b"\x00\x01")
    for i in range(3):
        ml.models.create_or_update(Model(path=str(file), name="churn", tags={"run": str(i)}))
    assert ml.models.get("churn", label="latest").version == "3"
    assert ml.models.get("churn", version="2").tags == {"run": "1"}
    assert sorted(m.version for m in ml.models.list("churn")) == ["1", "2", "3"]
    ml.models.archive("churn", version="2")
    assert sorted(m.version for m in ml.models.list("churn")) == ["1", "3"]
    assert [m.name for m in ml.models.list()] == ["churn"]
    # the same file twice is uploaded once (azure-ai-ml's confirmation metadata is honoured)
    assert len({m.path for m in ml.models.list("churn")}) == 1
    assert len(backend.events(events.MODEL_REGISTERED)) == 3


def test_register_from_datastore_uri_does_no_upload(ml, backend, tmp_path):
    backend.blobs.put(backend.container, "shared/model.onnx", b"onnx")
    model = ml.models.create_or_update(Model(path="azureml://datastores/workspaceblobstore/paths/shared/model.onnx",
                                             name="onnx-model", version="7"))
    assert model.version == "7"
    with pytest.raises(HttpResponseError) as err:
        ml.models.create_or_update(Model(path="azureml://datastores/workspaceblobstore/paths/missing.bin",
                                         name="ghost"))
    assert "No file exists at 'missing.bin'" in str(err.value)
    assert [e["subject"] for e in backend.events(events.MODEL_REGISTERED)] == ["models/onnx-model:7"]


def _train_script(folder: Path) -> Path:
    folder.mkdir()
    (folder / "train.py").write_text(textwrap.dedent("""\
        import argparse, os, sys
        p = argparse.ArgumentParser()
        p.add_argument("--rate"); p.add_argument("--out"); p.add_argument("--fail")
        a = p.parse_args()
        print("training with rate", a.rate)
        if a.fail == "yes":
            sys.exit("boom: asked to fail")
        os.makedirs(a.out, exist_ok=True)
        open(os.path.join(a.out, "weights.txt"), "w").write("rate=" + a.rate)
        """))
    return folder


def _job(code: Path, fail: str):
    return command(code=str(code), command="python train.py --rate ${{inputs.rate}} --out ${{outputs.model}} "
                   "--fail ${{inputs.fail}}", inputs={"rate": 0.5, "fail": fail},
                   outputs={"model": Output(type=AssetTypes.URI_FOLDER)}, environment=ENV,
                   compute="cpu-cluster", experiment_name="ml-tests")


def test_job_runs_for_real_and_its_output_becomes_a_model(ml, backend, tmp_path, capsys):
    job = ml.jobs.create_or_update(_job(_train_script(tmp_path / "src"), "no"))
    assert job.status in ("NotStarted", "Queued", "Preparing", "Running", "Completed")
    backend.jobs.wait(job.name)
    done = ml.jobs.get(job.name)
    assert done.status == "Completed"
    ml.jobs.stream(job.name)  # a finished job: azure-ai-ml prints the summary only
    assert f"RunId: {job.name}" in capsys.readouterr().out
    assert "training with rate 0.5" in backend.jobs.log_path(job.name).read_text()
    assert job.name in [j.name for j in ml.jobs.list()]
    model = ml.models.create_or_update(Model(path=f"azureml://jobs/{job.name}/outputs/model", name="from-job"))
    assert (backend.assets.resolve(model.path) / "weights.txt").read_text() == "rate=0.5"
    types = [e["eventType"] for e in backend.events()]
    assert types == [events.RUN_COMPLETED, events.MODEL_REGISTERED]
    completed = backend.events(events.RUN_COMPLETED)[0]
    assert completed["data"]["runId"] == job.name and completed["data"]["experimentName"] == "ml-tests"


def test_a_jobs_body_and_events_show_no_sandbox_internals(target, ml, backend, tmp_path):
    """Which local folder and process run a job is the sandbox's business: not in ARM, run history or events."""
    job = ml.jobs.create_or_update(command(
        code=str(_train_script(tmp_path / "src")), command="python train.py --rate 1 --out ${{outputs.model}}",
        outputs={"model": Output(type=AssetTypes.URI_FOLDER)}, environment=ENV, compute="cpu-cluster",
        experiment_name="ml-tests", properties={"owner": "me"}))
    backend.jobs.wait(job.name)
    done = ml.jobs.get(job.name)
    assert done.status == "Completed" and done.properties["owner"] == "me"
    assert not [k for k in done.properties if k.startswith("azureml.sandbox")]
    status, _, raw = target.sandbox.handle("GET", f"https://management.azure.com{backend.jobs.job_id(job.name)}"
                                           "?api-version=2024-04-01", {}, b"")
    details = backend.jobs.run_details(job.name)
    [completed] = backend.events(events.RUN_COMPLETED)
    for shown in (raw.decode(), json.dumps(details), json.dumps(completed)):
        assert "azureml.sandbox" not in shown and str(target.sandbox.folder) not in shown
    assert status == 200 and completed["data"]["runProperties"] == done.properties
    assert backend.jobs.runner_pid(job.name) == os.getpid()   # still known to the sandbox, for fail_orphans


def test_failed_job_emits_run_status_changed_and_no_run_completed(ml, backend, tmp_path):
    job = ml.jobs.create_or_update(_job(_train_script(tmp_path / "src"), "yes"))
    backend.jobs.wait(job.name)
    assert ml.jobs.get(job.name).status == "Failed"
    with pytest.raises(Exception, match="exited with status code 1"):
        ml.jobs.stream(job.name)
    assert backend.events(events.RUN_COMPLETED) == []
    [changed] = backend.events(events.RUN_STATUS_CHANGED)
    assert changed["data"]["runStatus"] == "Failed" and changed["data"]["runId"] == job.name
    with pytest.raises(HttpResponseError, match="only a Completed job's outputs"):
        ml.models.create_or_update(Model(path=f"azureml://jobs/{job.name}/outputs/model", name="never"))


def _deploy(ml, endpoint: str, deployment: str, model: str, **kw):
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=endpoint, auth_mode="key")).result()
    return ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name=deployment, endpoint_name=endpoint, model=model, instance_type="Standard_DS3_v2", instance_count=1,
        **kw)).result()


def _payload(X, rows):
    return {"input_data": {"columns": list(X.columns), "index": rows, "data": X.iloc[rows].values.tolist()}}


def test_endpoint_deployment_invoke_keys_traffic_and_model_deployed(ml, backend, iris, tmp_path):
    X, y, clf = iris
    model = ml.models.create_or_update(Model(path=str(mlflow_folder(tmp_path / "m", clf)), name="iris",
                                             type=AssetTypes.MLFLOW_MODEL))
    dep = _deploy(ml, "iris-ep", "blue", f"azureml:iris:{model.version}", tags={"team": "ml"})
    assert dep.provisioning_state == "Succeeded"
    endpoint = ml.online_endpoints.get("iris-ep")
    endpoint.traffic = {"blue": 100}
    endpoint = ml.online_endpoints.begin_create_or_update(endpoint).result()
    assert endpoint.traffic == {"blue": 100}
    assert endpoint.scoring_uri.startswith("http://127.0.0.1:")
    request = tmp_path / "request.json"
    request.write_text(json.dumps(_payload(X, [0, 60, 120])))
    expected = clf.predict(X.iloc[[0, 60, 120]]).tolist()
    answer = ml.online_endpoints.invoke("iris-ep", request_file=str(request), deployment_name="blue")
    assert json.loads(answer) == expected
    # the scoring server is a real HTTP server with key auth
    keys = ml.online_endpoints.get_keys("iris-ep")
    ok = requests.post(endpoint.scoring_uri, json=_payload(X, [0]), headers={"Authorization": f"Bearer {keys.primary_key}"})
    assert ok.status_code == 200 and ok.json() == expected[:1]
    assert requests.post(endpoint.scoring_uri, json=_payload(X, [0])).status_code == 401
    [deployed] = backend.events(events.MODEL_DEPLOYED)
    assert deployed["subject"] == "endpoints/iris-ep"
    assert deployed["data"] == {"serviceName": "iris-ep", "serviceComputeType": "Managed", "modelIds": "iris:1",
                                "serviceTags": {"team": "ml"}, "serviceProperties": {"deploymentName": "blue"}}
    assert "Ready to score" in ml.online_deployments.get_logs("blue", "iris-ep", lines=5)
    ml.online_endpoints.begin_delete("iris-ep").result()
    with pytest.raises(ResourceNotFoundError):
        ml.online_endpoints.get("iris-ep")


def test_scoring_script_deployment_and_a_deployment_that_fails(ml, backend, iris, tmp_path):
    from sklearn.linear_model import LogisticRegression
    X, y, _ = iris
    clf = LogisticRegression(max_iter=300).fit(X.values, y)  # the script scores plain lists
    (tmp_path / "m").mkdir()
    with (tmp_path / "m" / "clf.pkl").open("wb") as fh:
        pickle.dump(clf, fh)
    model = ml.models.create_or_update(Model(path=str(tmp_path / "m" / "clf.pkl"), name="iris-custom"))
    code = tmp_path / "score"
    code.mkdir()
    (code / "score.py").write_text(textwrap.dedent("""\
        import json, os, pickle
        def init():
            global model
            model = pickle.load(open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "clf.pkl"), "rb"))
        def run(raw):
            return {"classes": model.predict(json.loads(raw)["data"]).tolist()}
        """))
    dep = _deploy(ml, "custom-ep", "green", f"azureml:iris-custom:{model.version}", environment=f"azureml:{ENV}",
                  code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"))
    assert dep.provisioning_state == "Succeeded"
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"data": X.iloc[[0, 149]].values.tolist()}))
    out = ml.online_endpoints.invoke("custom-ep", request_file=str(request), deployment_name="green")
    assert json.loads(out) == {"classes": clf.predict(X.iloc[[0, 149]].values).tolist()}
    assert "AZUREML_MODEL_DIR" not in os.environ
    # a custom model without a scoring script cannot load: the LRO fails and nothing is published
    with pytest.raises(HttpResponseError, match="no scoring script"):
        ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="broken", endpoint_name="custom-ep", model=f"azureml:iris-custom:{model.version}",
            instance_type="Standard_DS3_v2", instance_count=1)).result()
    assert ml.online_deployments.get("broken", "custom-ep").provisioning_state == "Failed"
    assert [e["data"]["serviceProperties"]["deploymentName"] for e in backend.events(events.MODEL_DEPLOYED)] == ["green"]


def test_traffic_must_name_existing_deployments(ml, iris, tmp_path):
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="empty-ep")).result()
    endpoint = ml.online_endpoints.get("empty-ep")
    endpoint.traffic = {"nope": 100}
    with pytest.raises(HttpResponseError, match="deployment 'nope'"):
        ml.online_endpoints.begin_create_or_update(endpoint).result()


def test_traffic_cannot_go_to_a_deployment_that_has_not_succeeded(ml, backend, iris, tmp_path):
    """The scoring server only sends requests to deployments that succeeded: a split giving a failed one traffic
    would silently not hold, so the endpoint update is refused, naming the deployment and its state."""
    X, y, clf = iris
    good = ml.models.create_or_update(Model(path=str(mlflow_folder(tmp_path / "m", clf)), name="iris",
                                            type=AssetTypes.MLFLOW_MODEL))
    (tmp_path / "weights.bin").write_bytes(b"not a model")
    opaque = ml.models.create_or_update(Model(path=str(tmp_path / "weights.bin"), name="opaque"))
    _deploy(ml, "split-ep", "blue", f"azureml:iris:{good.version}")
    with pytest.raises(HttpResponseError, match="no scoring script"):
        _deploy(ml, "split-ep", "broken", f"azureml:opaque:{opaque.version}")
    endpoint = ml.online_endpoints.get("split-ep")
    for split in ({"blue": 50, "broken": 50}, {"broken": 100}):
        endpoint.traffic = split
        with pytest.raises(HttpResponseError) as err:
            ml.online_endpoints.begin_create_or_update(endpoint).result()
        assert err.value.status_code == 400
        assert "Deployment 'broken' is in provisioning state Failed" in str(err.value)
    assert ml.online_endpoints.get("split-ep").traffic == {"blue": 0, "broken": 0}
    endpoint.traffic = {"blue": 100, "broken": 0}
    assert ml.online_endpoints.begin_create_or_update(endpoint).result().traffic == {"blue": 100}
    # while blue is being updated (scaled), it keeps the traffic it has, but gets no more than that
    stored = backend.endpoints.get_deployment("split-ep", "blue")
    stored["properties"]["provisioningState"] = "Updating"
    backend.store.put(stored["id"], stored["type"], stored, parent=backend.endpoints.endpoint_id("split-ep"))
    endpoint = ml.online_endpoints.get("split-ep")
    endpoint.tags = {"note": "an update while blue scales"}
    assert ml.online_endpoints.begin_create_or_update(endpoint).result().traffic == {"blue": 100}


def test_model_deployed_on_create_and_model_change_not_on_a_scale_only_update(ml, backend, iris, tmp_path):
    X, y, clf = iris
    folder = mlflow_folder(tmp_path / "m", clf)
    for _ in range(2):
        ml.models.create_or_update(Model(path=str(folder), name="iris", type=AssetTypes.MLFLOW_MODEL))

    def announced():
        return [(e["data"]["serviceProperties"]["deploymentName"], e["data"]["modelIds"])
                for e in backend.events(events.MODEL_DEPLOYED)]

    _deploy(ml, "scale-ep", "blue", "azureml:iris:1")
    assert announced() == [("blue", "iris:1")]
    blue = ml.online_deployments.get("blue", "scale-ep")
    blue.instance_count = 2
    assert ml.online_deployments.begin_create_or_update(blue).result().instance_count == 2
    assert announced() == [("blue", "iris:1")]                # scaled: the same model, nothing newly deployed
    blue = ml.online_deployments.get("blue", "scale-ep")
    blue.model = "azureml:iris:2"
    ml.online_deployments.begin_create_or_update(blue).result()
    assert announced() == [("blue", "iris:1"), ("blue", "iris:2")]   # another model deployed
    ml.online_deployments.begin_delete("blue", "scale-ep").result()
    _deploy(ml, "scale-ep", "blue", "azureml:iris:2")
    assert announced() == [("blue", "iris:1"), ("blue", "iris:2"), ("blue", "iris:2")]   # created again


def test_same_calls_over_the_https_server(target, backend, iris, tmp_path):
    """A second client reaching the sandbox over HTTPS: uploads, deployment and scoring still work."""
    ensure_providers(target, quiet=True)
    served = target.serve()
    remote = connect(url=served["base_url"], ca_path=served["ca_path"])
    ml = remote.ml_client()
    X, y, clf = iris
    model = ml.models.create_or_update(Model(path=str(mlflow_folder(tmp_path / "m", clf)), name="iris-remote",
                                             type=AssetTypes.MLFLOW_MODEL, tags={"ncd": "true"}))
    _deploy(ml, "remote-ep", "blue", f"azureml:iris-remote:{model.version}")
    request = tmp_path / "request.json"
    request.write_text(json.dumps(_payload(X, [5])))
    out = ml.online_endpoints.invoke("remote-ep", request_file=str(request), deployment_name="blue")
    assert json.loads(out) == clf.predict(X.iloc[[5]]).tolist()
    job = ml.jobs.create_or_update(_job(_train_script(tmp_path / "src"), "no"))  # code upload over HTTPS too
    assert backend.jobs.wait(job.name)["properties"]["status"] == "Completed"
    assert [e["eventType"] for e in backend.events()] == [events.MODEL_REGISTERED, events.MODEL_DEPLOYED,
                                                          events.RUN_COMPLETED]


def test_nothing_in_the_environment_steers_a_later_real_azure_client(target):
    before = dict(os.environ)
    target.ml_client()
    assert {k: v for k, v in os.environ.items() if before.get(k) != v} == {}
    from azure.ai.ml._azure_environments import _get_default_cloud_name
    assert _get_default_cloud_name() == "AzureCloud"


def test_cancel_a_running_job_and_reuse_outputs_by_datastore_uri(ml, backend, tmp_path):
    code = tmp_path / "slow"
    code.mkdir()
    (code / "wait.py").write_text("import time\nprint('waiting', flush=True)\ntime.sleep(60)\n")
    job = ml.jobs.create_or_update(command(code=str(code), command="python wait.py", environment=ENV,
                                           compute="cpu-cluster", experiment_name="ml-tests"))
    ml.jobs.begin_cancel(job.name).result()
    assert backend.jobs.wait(job.name)["properties"]["status"] == "Canceled"
    assert backend.events() == []  # neither RunCompleted nor RunStatusChanged (Azure sends it for failures)
    # a completed job's named outputs are also on the datastore path its output URI names
    done = ml.jobs.create_or_update(_job(_train_script(tmp_path / "src"), "no"))
    backend.jobs.wait(done.name)
    uri = ml.jobs.get(done.name).outputs["model"].path
    assert uri.startswith("azureml://datastores/workspaceblobstore/paths/")
    model = ml.models.create_or_update(Model(path=uri, name="by-datastore-uri"))
    assert (backend.assets.resolve(model.path) / "weights.txt").read_text() == "rate=0.5"


def test_stream_shows_a_running_jobs_log_until_it_ends(ml, backend, tmp_path, capsys):
    """jobs.stream polls the run history (azure-ai-ml waits 2 s between polls: the one slow test here)."""
    code = tmp_path / "gate"
    code.mkdir()
    flag = tmp_path / "go"
    (code / "gate.py").write_text(textwrap.dedent(f"""\
        import os, time
        print("waiting for the gate", flush=True)
        while not os.path.exists({str(flag)!r}):
            time.sleep(0.05)
        print("gate open, done", flush=True)
        """))
    job = ml.jobs.create_or_update(command(code=str(code), command="python gate.py", environment=ENV,
                                           compute="cpu-cluster", experiment_name="ml-tests"))
    import threading
    threading.Timer(1.0, flag.touch).start()  # opens while stream is already polling the running job
    ml.jobs.stream(job.name)
    out = capsys.readouterr().out
    assert "Streaming user_logs/std_log.txt" in out
    assert "waiting for the gate" in out and "gate open, done" in out
    assert out.index("gate open, done") < out.index("Execution Summary")
    assert ml.jobs.get(job.name).status == "Completed"


def test_traffic_decides_which_deployment_answers(ml, tmp_path):
    from sklearn.dummy import DummyClassifier
    for colour, constant in (("blue", 0), ("green", 1)):
        clf = DummyClassifier(strategy="constant", constant=constant).fit([[0.0], [1.0]], [constant, constant])
        model = ml.models.create_or_update(Model(path=str(mlflow_folder(tmp_path / colour, clf)), name=f"const-{colour}",
                                                 type=AssetTypes.MLFLOW_MODEL))
        _deploy(ml, "ab-ep", colour, f"azureml:const-{colour}:{model.version}")
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"input_data": [[0.5], [0.7]]}))
    endpoint = ml.online_endpoints.get("ab-ep")
    auth = {"Authorization": f"Bearer {ml.online_endpoints.get_keys('ab-ep').primary_key}"}
    # plain HTTP here: azure-ai-ml 1.35's invoke(deployment_name=...) writes the deployment header into a
    # module-level dict, so every later invoke in the process (any test before this one) keeps it
    for split, expected in (({"blue": 100, "green": 0}, [0, 0]), ({"blue": 0, "green": 100}, [1, 1])):
        endpoint.traffic = split
        endpoint = ml.online_endpoints.begin_create_or_update(endpoint).result()
        answers = [requests.post(endpoint.scoring_uri, json={"input_data": [[0.5], [0.7]]}, headers=auth).json()
                   for _ in range(3)]
        assert answers == [expected] * 3
    # a header names a deployment whatever the traffic says (invoke's deployment_name)
    assert json.loads(ml.online_endpoints.invoke("ab-ep", request_file=str(request), deployment_name="blue")) == [0, 0]
    endpoint.traffic = {"blue": 60, "green": 60}
    with pytest.raises(HttpResponseError, match="add up to 100"):
        ml.online_endpoints.begin_create_or_update(endpoint).result()

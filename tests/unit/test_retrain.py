"""The retraining job's pieces: teaching data, job bodies, names, the job script's model folder."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from amlevents_kit import retrain
from amlevents_kit.drift import detect
from amlevents_kit.sandbox.providers.datafactory.runner import check_pipeline
from amlevents_kit.sandbox.providers.machinelearningservices.scoring import load_predictor

CODE = Path(__file__).resolve().parents[2] / "notebooks" / "jobs" / "retrain"


def _train_module():
    spec = importlib.util.spec_from_file_location("retrain_train", CODE / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sample_batch_is_deterministic_and_drifts_where_planted():
    a, b = retrain.sample_batch(2000), retrain.sample_batch(2000)
    assert a.equals(b) and list(a.columns)[-1] == "label" and set(a["label"]) == {0, 1}
    result = detect(a.drop(columns=["label"]), retrain.sample_batch(2000, shifted=True).drop(columns=["label"]))
    assert sorted(result.drifted_features) == ["monthly_charges", "plan", "support_calls"]


def test_job_body_for_data_factory(target):
    body = retrain.retraining_job_body(target, code_id="/x/codes/c/versions/1", data_uri="azureml://d",
                                       model_name="churn", tags={"stage": "production", "ncd": "true"})
    props = body["properties"]
    assert props["jobType"] == "Command" and props["codeId"] == "/x/codes/c/versions/1"
    assert props["command"] == ("python train.py --data ${{inputs.data}} --model-name churn "
                                "--tags stage=production,ncd=true --output ${{outputs.model}}")
    assert props["inputs"]["data"] == {"jobInputType": "uri_file", "mode": "ReadOnlyMount", "uri": "azureml://d"}
    env = props["environmentVariables"]   # a sandbox job registers over the sandbox's HTTPS server
    assert env["AMLEVENTS_SANDBOX_URL"].startswith("https://127.0.0.1:") and Path(env["AMLEVENTS_SANDBOX_CA"]).is_file()


def test_pipeline_passes_the_create_time_checks_and_names_the_job_after_the_drift_run(target):
    pipeline = retrain.retraining_pipeline(target, code_id="/c", model_name="churn")
    check_pipeline(pipeline["properties"])       # what the sandbox's Data Factory checks at create time
    (act,) = pipeline["properties"]["activities"]
    assert act["type"] == "WebActivity" and act["typeProperties"]["method"] == "PUT"
    assert "pipeline().parameters.driftRunId" in act["typeProperties"]["url"]["value"]
    assert act["typeProperties"]["body"]["properties"]["inputs"]["data"]["uri"] == \
        "@pipeline().parameters.targetDatasetId"


def test_the_azure_environment_built_from_conda_yaml_can_be_named(target):
    """On Azure the curated sklearn image lacks azure-ai-ml, which train.py needs to register the model."""
    assert retrain.retraining_job_body(target, code_id="c", data_uri="d", model_name="m")["properties"][
        "environmentId"] == retrain.ENVIRONMENT_ID
    ours = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/environments/retrain-sklearn/versions/1"
    pipeline = retrain.retraining_pipeline(target, code_id="c", model_name="m", environment_id=ours)
    assert pipeline["properties"]["activities"][0]["typeProperties"]["body"]["properties"]["environmentId"] == ours
    job = retrain.retraining_command(target, code=CODE, data_uri="azureml://d", model_name="m",
                                     environment="azureml:retrain-sklearn@latest")
    assert job.environment == "azureml:retrain-sklearn@latest"
    handler = retrain.RetrainOnDrift(target, code=CODE, model_name="m", environment="azureml:retrain-sklearn:2")
    assert handler.environment == "azureml:retrain-sklearn:2"


def test_tags_and_names_are_checked():
    with pytest.raises(ValueError, match="tags: the value 'a b' must be"):
        retrain.retraining_job_body(None, code_id="c", data_uri="d", model_name="m", tags={"k": "a b"})
    assert retrain.job_name_for("churn-drift_0a1b") == "retrain-churn-drift_0a1b"
    assert retrain.job_name_for("run/7 x") == "retrain-run-7-x"
    assert retrain.datastore_uri("/a/b.csv") == "azureml://datastores/workspaceblobstore/paths/a/b.csv"


def test_handler_needs_a_code_folder_with_train_py(target, tmp_path):
    with pytest.raises(ValueError, match="has no train.py"):
        retrain.RetrainOnDrift(target, code=tmp_path, model_name="m")


def test_train_script_saves_an_mlflow_model_the_sandbox_can_serve(tmp_path):
    train = _train_module()
    frame = retrain.sample_batch(500, shifted=True)
    model, accuracy = train.train(frame)
    assert 0.6 < accuracy <= 1.0
    folder = train.save_mlflow_model(model, tmp_path / "model", frame.drop(columns=["label"]))
    predictor = load_predictor(folder)
    rows = frame.drop(columns=["label"]).head(3)
    body = {"input_data": {"columns": list(rows.columns), "index": [0, 1, 2], "data": rows.values.tolist()}}
    answer = predictor.score(json.dumps(body).encode())
    assert list(answer) == [int(v) for v in model.predict(rows)]
    assert train.parse_tags("a=1, b=two") == {"a": "1", "b": "two"}


def test_train_script_refuses_data_without_a_label(tmp_path):
    csv = tmp_path / "x.csv"
    retrain.sample_batch(50).drop(columns=["label"]).to_csv(csv, index=False)
    done = subprocess.run([sys.executable, str(CODE / "train.py"), "--data", str(csv), "--model-name", "m",
                           "--no-register", "--output", str(tmp_path / "m")], capture_output=True, text=True)
    assert done.returncode != 0 and "the data has no 'label' column" in done.stderr

"""What a deployed model's scoring URI answers when the call is wrong: the status and error code Azure ML documents.

One endpoint with an MLflow model (blue) and a scoring script that fails on some input (green), deployed
through the real azure-ai-ml MLClient and called over real HTTP; every error is ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
import pickle
import textwrap

import pytest
import requests

from amlevents_kit.providers import ensure_providers

pytest.importorskip("azure.ai.ml")
from azure.ai.ml.constants import AssetTypes  # noqa: E402
from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment, ManagedOnlineEndpoint, Model  # noqa: E402

ENV = "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"


@pytest.fixture
def deployed(target, tmp_path):
    """(scoring URI, primary key, feature columns) of endpoint 'err-ep' with deployments blue and green, no traffic."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    X, y = load_iris(return_X_y=True, as_frame=True)
    folder = tmp_path / "mlflow"
    folder.mkdir()
    with (folder / "model.pkl").open("wb") as fh:
        pickle.dump(LogisticRegression(max_iter=300).fit(X, y), fh)
    (folder / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n"
                                    "    serialization_format: pickle\n")
    mlflow_model = ml.models.create_or_update(Model(path=str(folder), name="err-iris", type=AssetTypes.MLFLOW_MODEL))
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "weights.txt").write_text("1")
    custom = ml.models.create_or_update(Model(path=str(tmp_path / "custom" / "weights.txt"), name="err-custom"))
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(textwrap.dedent("""\
        import json
        def init():
            pass
        def run(raw):
            data = json.loads(raw)["data"]
            if not data:
                raise ValueError("run() needs at least one row")
            return {"rows": len(data)}
        """))
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="err-ep", auth_mode="key")).result()
    common = dict(endpoint_name="err-ep", instance_type="Standard_DS3_v2", instance_count=1)
    ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="blue", model=f"azureml:err-iris:{mlflow_model.version}", **common)).result()
    ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="green", model=f"azureml:err-custom:{custom.version}", environment=f"azureml:{ENV}",
        code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"), **common)).result()
    endpoint = ml.online_endpoints.get("err-ep")
    return endpoint.scoring_uri, ml.online_endpoints.get_keys("err-ep").primary_key, list(X.columns)


def _error(answer: requests.Response) -> tuple[int, str, str]:
    assert answer.headers["Content-Type"].startswith("application/json")
    error = answer.json()["error"]
    return answer.status_code, error["code"], error["message"]


def test_each_kind_of_bad_scoring_call_gets_its_status_and_code(target, deployed) -> None:
    uri, key, columns = deployed
    auth = {"Authorization": f"Bearer {key}"}
    good = {"input_data": {"columns": columns, "index": [0], "data": [[5.1, 3.5, 1.4, 0.2]]}}

    status, code, message = _error(requests.post(uri, json=good))
    assert (status, code) == (401, "Unauthorized") and "Bearer" in message
    assert _error(requests.post(uri, json=good, headers={"Authorization": "Bearer wrong-ü".encode()}))[:2] == \
        (401, "Unauthorized")

    status, code, message = _error(requests.post(uri, json=good, headers=auth))
    assert (status, code) == (404, "DeploymentNotFound") and "traffic" in message  # no traffic set yet
    status, code, message = _error(requests.post(uri, json=good, headers={**auth, "azureml-model-deployment": "red"}))
    assert (status, code) == (404, "DeploymentNotFound") and "'red'" in message
    missing = uri.replace("/err-ep/", "/no-such-ep/")
    assert _error(requests.post(missing, json=good, headers=auth))[:2] == (404, "EndpointNotFound")

    blue = {**auth, "azureml-model-deployment": "blue"}
    assert requests.post(uri, json=good, headers=blue).json() == [0]
    strings = {"input_data": {**good["input_data"], "data": [["a", "b", "c", "d"]]}}
    status, code, message = _error(requests.post(uri, json=strings, headers=blue))
    assert (status, code) == (400, "BadRequest") and "could not convert string to float: 'a'" in message
    status, code, message = _error(requests.post(uri, data=b"[" * 10_000 + b"]" * 10_000, headers=blue))
    assert (status, code) == (400, "BadRequest") and "RecursionError" in message
    status, code, message = _error(requests.post(uri, json={"rows": [1]}, headers=blue))
    assert (status, code) == (400, "BadRequest") and "input_data" in message

    green = {**auth, "azureml-model-deployment": "green"}
    assert requests.post(uri, json={"data": [[1]]}, headers=green).json() == {"rows": 1}
    status, code, message = _error(requests.post(uri, json={"data": []}, headers=green))
    assert (status, code) == (424, "ModelError") and "ValueError: run() needs at least one row" in message


def test_the_sandbox_route_forwards_any_endpoint_name(target, deployed) -> None:
    """In-process clients reach the scoring server through the sandbox: odd names are a 404, not a 500."""
    _, key, _ = deployed
    for name in ("err-ep", "%20", "%C3%BC", "a%00b", "x" * 3000):
        status, headers, data = target.sandbox.handle(
            "POST", f"https://management.azure.com/online-endpoints/{name}/score",
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, b'{"data": [[1]]}')
        error = json.loads(data)["error"]
        expected = ("DeploymentNotFound" if name == "err-ep" else "EndpointNotFound")
        assert (status, error["code"]) == (404, expected), (name, data[:200])

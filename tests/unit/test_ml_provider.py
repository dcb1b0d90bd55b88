"""The ML provider's pieces on their own: blob wire format, ARM errors, fixture shapes, scoring payloads."""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
from pathlib import Path

import pytest

from amlevents_kit.sandbox import defaults
from amlevents_kit.sandbox.providers.machinelearningservices.assets import read_flavors
from amlevents_kit.sandbox.providers.machinelearningservices.client import register_account, transport_for
from amlevents_kit.sandbox.providers.machinelearningservices.scoring import ScoringError, _frame, load_predictor

WS = defaults.WORKSPACE_ID
API = "?api-version=2024-04-01"


def call(sandbox, method: str, path: str, body=None, headers=None):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    status, hdrs, out = sandbox.handle(method, "https://management.azure.com" + path, headers or {}, data)
    try:
        return status, hdrs, json.loads(out) if out else None
    except ValueError:
        return status, hdrs, out


@pytest.fixture
def registered(sandbox):
    sandbox.backends["resources"].register(defaults.SUBSCRIPTION_ID, "Microsoft.MachineLearningServices")
    sandbox.clock.advance(seconds=5)
    return sandbox


def test_blob_put_checks_md5_and_keeps_metadata(sandbox):
    ml = sandbox.backends["machinelearningservices"]
    path = f"/{ml.container}/LocalUpload/abc/model.pkl"
    good = base64.b64encode(hashlib.md5(b"weights").digest()).decode()
    status, _, body = call(sandbox, "PUT", path, b"weights", {"Content-MD5": base64.b64encode(b"x" * 16).decode()})
    assert status == 400 and b"Md5Mismatch" in body
    status, headers, _ = call(sandbox, "PUT", path, b"weights", {"Content-MD5": good, "x-ms-blob-type": "BlockBlob"})
    assert status == 201 and headers["Content-MD5"] == good
    assert call(sandbox, "PUT", path + "?comp=metadata", b"", {"x-ms-meta-upload_status": "completed"})[0] == 200
    status, headers, _ = call(sandbox, "HEAD", path)
    assert status == 200 and headers["x-ms-meta-upload_status"] == "completed"
    status, headers, body = call(sandbox, "GET", path, headers={"x-ms-range": "bytes=2-4"})
    assert status == 206 and body == b"igh" and headers["Content-Range"] == "bytes 2-4/7"
    status, _, listing = call(sandbox, "GET", f"/{ml.container}?restype=container&comp=list&prefix=LocalUpload/")
    assert status == 200 and b"<Name>LocalUpload/abc/model.pkl</Name>" in listing
    assert call(sandbox, "HEAD", f"/{ml.container}/nothing")[0] == 404


def test_blob_names_cannot_leave_their_container(sandbox):
    blobs = sandbox.backends["machinelearningservices"].blobs
    with pytest.raises(ValueError, match="'..' part"):
        blobs.path("azureml-blobstore-1", "../../sandbox.db")


@pytest.mark.parametrize("name, code", [("..", "InvalidUri"), ("a/./b", "InvalidUri"), ("a%00b", "InvalidResourceName"),
                                        ("n" * 300, "InvalidResourceName"), ("a/" * 600, "InvalidResourceName")])
def test_bad_blob_names_get_storage_errors(sandbox, name, code):
    """Azure Storage's own answer (400, x-ms-error-code, XML <Error>) on every blob route, HEAD without a body."""
    ml = sandbox.backends["machinelearningservices"]
    path = f"/{ml.container}/{name}"
    status, headers, body = call(sandbox, "PUT", path, b"data", {"x-ms-blob-type": "BlockBlob"})
    assert status == 400 and headers["x-ms-error-code"] == code
    assert body.startswith(b"<?xml") and f"<Code>{code}</Code>".encode() in body
    assert call(sandbox, "GET", path)[:2][0] == 400
    status, headers, body = call(sandbox, "HEAD", path)
    assert (status, headers["x-ms-error-code"], body) == (400, code, None)
    assert not (sandbox.folder / "blobs").exists() or not any(p.is_file() for p in (sandbox.folder / "blobs").rglob("*"))


def test_blob_ranges_that_cannot_be_satisfied_are_a_416(sandbox):
    ml = sandbox.backends["machinelearningservices"]
    path = f"/{ml.container}/r.txt"
    assert call(sandbox, "PUT", path, b"0123")[0] == 201
    for rng in ("bytes=9-", "bytes=abc-2"):
        status, headers, body = call(sandbox, "GET", path, headers={"x-ms-range": rng})
        assert status == 416 and headers["x-ms-error-code"] == "InvalidRange", rng


def test_model_version_errors_name_the_field(registered):
    base = f"{WS}/models/m/versions/1{API}"
    status, _, body = call(registered, "PUT", base, {"properties": {}})
    assert status == 400 and "properties.modelUri" in body["error"]["message"]
    status, _, body = call(registered, "PUT", base, {"properties": {"modelUri": "azureml://datastores/x/paths/y",
                                                                    "modelType": "onnx"}})
    assert status == 400 and "properties.modelType" in body["error"]["message"]
    status, _, body = call(registered, "PUT", base, {"properties": {"modelUri": "https://example.com/m.pkl"}})
    assert status == 400 and "azureml://" in body["error"]["message"]
    status, _, body = call(registered, "GET", f"{WS}/models/m/versions?listViewType=Everything&api-version=1")
    assert status == 400 and "listViewType" in body["error"]["message"]
    assert call(registered, "GET", f"{WS}/models/nope/versions/1{API}")[0] == 404


def test_model_version_body_has_the_fixture_shape_and_flavors(registered, fixtures_dir, tmp_path):
    ml = registered.backends["machinelearningservices"]
    ml.blobs.put(ml.container, "m/MLmodel", b"flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
    ml.blobs.put(ml.container, "m/model.pkl", b"x")
    status, _, body = call(registered, "PUT", f"{WS}/models/shape/versions/3{API}", {"properties": {
        "modelUri": "azureml://datastores/workspaceblobstore/paths/m", "modelType": "mlflow_model",
        "tags": {"a": "b"}}})
    assert status == 201
    fixture = json.loads((fixtures_dir / "arm/machinelearningservices/2025-12-01/Workspace/ModelVersion/get.json")
                         .read_text())["responses"]["200"]["body"]
    assert set(fixture) <= set(body)
    assert set(fixture["properties"]) <= set(body["properties"])
    assert body["properties"]["flavors"] == {"sklearn": {"data": {"pickled_model": "model.pkl"}}}
    # a second PUT with another path is refused: a version's files never change
    status, _, err = call(registered, "PUT", f"{WS}/models/shape/versions/3{API}",
                          {"properties": {"modelUri": "azureml://datastores/workspaceblobstore/paths/m/model.pkl"}})
    assert status == 409 and "cannot change" in err["error"]["message"]
    # the container is implicit and tracks the latest version
    assert call(registered, "GET", f"{WS}/models/shape{API}")[2]["properties"]["latestVersion"] == "3"


def test_endpoint_and_deployment_bodies_have_the_fixture_shapes(registered, fixtures_dir):
    ml = registered.backends["machinelearningservices"]
    ml.blobs.put(ml.container, "f/model.pkl", b"x")
    call(registered, "PUT", f"{WS}/models/f/versions/1{API}",
         {"properties": {"modelUri": "azureml://datastores/workspaceblobstore/paths/f/model.pkl"}})
    status, headers, ep = call(registered, "PUT", f"{WS}/onlineEndpoints/shape-ep{API}",
                               {"location": "eastus", "properties": {"authMode": "Key"}})
    assert status == 201 and headers["retry-after-ms"] == "10" and "Azure-AsyncOperation" in headers
    root = fixtures_dir / "arm/machinelearningservices/2025-12-01"
    fixture = json.loads((root / "Workspace/OnlineEndpoint/get.json").read_text())["responses"]["200"]["body"]
    assert set(fixture["properties"]) - set(ep["properties"]) <= {"compute"}
    assert "keys" not in ep["properties"]
    status, _, dep = call(registered, "PUT", f"{WS}/onlineEndpoints/shape-ep/deployments/d1{API}",
                          {"properties": {"model": f"{WS}/models/f/versions/1", "endpointComputeType": "Managed"},
                           "sku": {"name": "Default", "capacity": 1}})
    assert status == 201
    fixture = json.loads((root / "OnlineDeployment/ManagedOnlineDeployment/get.json").read_text())
    wanted = set(fixture["responses"]["200"]["body"]["properties"]) - {"modelMountPath"}
    assert wanted <= set(dep["properties"])
    status, _, err = call(registered, "PUT", f"{WS}/onlineEndpoints/Bad_Name{API}", {"properties": {}})
    assert status == 400 and "'name'" in err["error"]["message"]


def test_job_body_has_the_fixture_shape_and_refuses_other_job_types(registered, fixtures_dir):
    status, _, err = call(registered, "PUT", f"{WS}/jobs/sweep1{API}", {"properties": {"jobType": "Sweep"}})
    assert status == 400 and "properties.jobType" in err["error"]["message"]
    status, _, job = call(registered, "PUT", f"{WS}/jobs/echo1{API}", {"properties": {
        "jobType": "Command", "command": "echo hi", "environmentId": "azureml:AzureML-sklearn:1"}})
    assert status == 201
    fixture = json.loads((fixtures_dir / "arm/machinelearningservices/2025-12-01/Job/CommandJob/get.json")
                         .read_text())["responses"]["200"]["body"]["properties"]
    optional = {"description", "codeId", "resources", "distribution", "limits", "environmentVariables", "identity",
                "parameters", "inputs"}
    assert set(fixture) - optional <= set(job["properties"])
    done = registered.backends["machinelearningservices"].jobs.wait("echo1")
    assert done["properties"]["status"] == "Completed"


def test_sandbox_storage_accounts_cannot_be_real_ones(sandbox):
    account = sandbox.backends["machinelearningservices"].account_name
    assert "-" in account  # real storage account names are 3-24 lower-case letters and digits only
    assert transport_for("https://realaccount123.blob.core.windows.net") is None
    register_account(account, sandbox.transport)
    assert transport_for(f"https://{account}.blob.core.windows.net/c?sv=1") is sandbox.transport


def test_mlflow_payload_shapes():
    cols = ["a", "b"]
    split = _frame(json.dumps({"input_data": {"columns": cols, "index": [0], "data": [[1, 2]]}}).encode(), None)
    assert list(split.columns) == cols and split.values.tolist() == [[1, 2]]
    records = _frame(json.dumps({"dataframe_records": [{"a": 1, "b": 2}]}).encode(), None)
    assert records.values.tolist() == [[1, 2]]
    assert _frame(json.dumps({"input_data": [[1, 2]]}).encode(), cols).columns.tolist() == cols
    with pytest.raises(ScoringError, match="input_data"):
        _frame(b'{"rows": []}', None)
    with pytest.raises(ScoringError, match="not JSON"):
        _frame(b"{", None)


def test_load_predictor_reads_mlmodel_without_mlflow(tmp_path: Path):
    from sklearn.dummy import DummyClassifier
    clf = DummyClassifier(strategy="constant", constant=7).fit([[0], [1]], [7, 7])
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: clf.pkl\n    serialization_format: pickle\n")
    (folder / "clf.pkl").write_bytes(pickle.dumps(clf))
    assert read_flavors(folder) == {"sklearn": {"data": {"pickled_model": "clf.pkl", "serialization_format": "pickle"}}}
    predictor = load_predictor(tmp_path)
    assert predictor.score(json.dumps({"input_data": [[0], [1]]}).encode()) == [7, 7]
    (folder / "clf.pkl").unlink()
    with pytest.raises(ScoringError, match="not in the model folder"):
        load_predictor(tmp_path)
    (folder / "MLmodel").unlink()
    with pytest.raises(ScoringError, match="no scoring script"):
        load_predictor(tmp_path)


def test_a_job_left_running_by_an_ended_process_fails_when_the_sandbox_opens(sandbox_folder):
    from amlevents_kit.sandbox import Sandbox
    first = Sandbox.open(sandbox_folder)
    ml = first.backends["machinelearningservices"]
    job = {"id": f"{WS}/jobs/orphan1", "name": "orphan1", "type": "Microsoft.MachineLearningServices/workspaces/jobs",
           "properties": {"jobType": "Command", "status": "Running", "experimentName": "x", "tags": {},
                          "properties": {"azureml.sandbox.pid": "999999999"}, "outputs": {}},
           "systemData": ml.system_data()}
    first.store.put(job["id"], "Microsoft.MachineLearningServices/workspaces/jobs", job)
    first.close()
    second = Sandbox.open(sandbox_folder)
    try:
        second.ensure_services()
        ml = second.backends["machinelearningservices"]
        assert ml.jobs.get("orphan1")["properties"]["status"] == "Failed"
        assert [e["data"]["runStatus"] for e in ml.events()] == ["Failed"]
        # an older sandbox kept its runner in the job's properties: moved out of what Azure would show
        assert ml.jobs.get("orphan1")["properties"]["properties"] == {}
        assert ml.events()[0]["data"]["runProperties"] == {}
        assert ml.jobs.runner_pid("orphan1") == 999999999
    finally:
        second.close()


def test_real_storage_accounts_keep_azure_storage_blobs_own_transport(target):
    from azure.ai.ml._artifacts import _blob_storage_helper as helper
    from azure.core.pipeline.transport import RequestsTransport

    from amlevents_kit.sandbox.arm.transport import InProcessTransport
    target.ml_client()
    real = helper.BlobServiceClient("https://realaccount123.blob.core.windows.net", credential="sv=1&sig=x")
    assert type(real._pipeline._transport) is RequestsTransport
    ours = target.sandbox.backends["machinelearningservices"].account_url
    assert isinstance(helper.BlobServiceClient(ours, credential="sv=1&sig=x")._pipeline._transport, InProcessTransport)


def test_an_mlmodel_that_is_not_yaml_is_a_400(tmp_path):
    from amlevents_kit.sandbox.arm.errors import ArmError
    (tmp_path / "MLmodel").write_text("flavors: [unclosed")
    with pytest.raises(ArmError, match="not valid YAML") as err:
        read_flavors(tmp_path)
    assert err.value.status == 400
    (tmp_path / "MLmodel").write_text("- a list\n- not a mapping\n")
    assert read_flavors(tmp_path) == {}
    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn: just a string\n  python_function:\n    model_path: m.pkl\n")
    assert read_flavors(tmp_path) == {"sklearn": {"data": {}}, "python_function": {"data": {"model_path": "m.pkl"}}}

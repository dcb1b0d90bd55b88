"""Scoring: load a deployed model and answer ``POST /score`` on a real HTTP server on 127.0.0.1.

Two kinds of deployment, as on Azure:

* an MLflow model (a folder with ``MLmodel`` and the pickled model) needs no code: the sandbox reads
  ``MLmodel`` itself (mlflow is not required) and accepts the payloads Azure's MLflow server
  accepts (``input_data`` / ``dataframe_split`` / ``dataframe_records`` / ``inputs`` / ``instances``);
* any model with a scoring script: the script's ``init()`` runs once with ``AZUREML_MODEL_DIR``
  set, and ``run(raw_json)`` answers each request.

A failed scoring call answers an HTTP status and ``{"error": {"code", "message"}}`` (the ARM shape the
rest of the sandbox uses), with the status codes Azure ML documents for online endpoints:

* 400 ``BadRequest``: the body is not what the model takes (not JSON, no ``input_data``, data or columns
  the model refuses); the message is the model's own error text, as MLflow's scoring server answers;
* 401 ``Unauthorized``: no ``Authorization: Bearer <key>`` header, or not one of the endpoint's keys;
* 404 ``EndpointNotFound`` / ``DeploymentNotFound``: no such endpoint, no such deployment (the
  ``azureml-model-deployment`` header), or no deployment with traffic (Azure answers 404 too);
* 424 ``ModelError``: a scoring script's ``run()`` failed, or the model could not be loaded (Azure answers
  424 when the model's container does not answer 200).
"""

from __future__ import annotations

import hmac
import importlib.util
import json
import os
import pickle
import random
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

import yaml

HOST = "127.0.0.1"
_env_lock = threading.Lock()


class ScoringError(Exception):
    """The model could not be loaded or could not score: the message says why."""


class InputError(ScoringError):
    """The request is not something the model can take (an HTTP 400): the message says why."""


def error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    """A scoring failure: the status and the ARM-shaped body ``{"error": {"code", "message"}}``."""
    return status, {"error": {"code": code, "message": message}}


class Predictor:
    """A loaded deployment: ``predict(raw_body) -> JSON-able``."""

    def __init__(self, score: Callable[[bytes], Any], description: str) -> None:
        self.score = score
        self.description = description


def load_predictor(model_dir: Path, code_dir: Path | None = None, scoring_script: str | None = None) -> Predictor:
    """Load a deployment's model: with its scoring script if it has one, else as an MLflow model."""
    if scoring_script:
        return _load_script(model_dir, code_dir, scoring_script)
    mlmodel = _find_mlmodel(model_dir)
    if mlmodel is None:
        raise ScoringError("The model is not an MLflow model (no MLmodel file) and the deployment has no scoring "
                           "script: give code_configuration=CodeConfiguration(code=..., scoring_script=...).")
    return _load_mlflow(mlmodel.parent)


def _find_mlmodel(model_dir: Path) -> Path | None:
    if (model_dir / "MLmodel").is_file():
        return model_dir / "MLmodel"
    found = sorted(model_dir.rglob("MLmodel"))
    return found[0] if found else None


def _load_mlflow(folder: Path) -> Predictor:
    try:
        spec = yaml.safe_load((folder / "MLmodel").read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ScoringError(f"The MLmodel file in {folder.name} is not valid YAML: {exc}") from None
    flavors = spec.get("flavors") if isinstance(spec, dict) else None
    flavors = flavors if isinstance(flavors, dict) else {}
    sk = flavors.get("sklearn") if isinstance(flavors.get("sklearn"), dict) else {}
    pyfunc = flavors.get("python_function") if isinstance(flavors.get("python_function"), dict) else {}
    rel = sk.get("pickled_model") or pyfunc.get("model_path")
    if not rel:
        raise ScoringError(f"MLmodel in {folder.name} has no sklearn or python_function flavor with a model file; "
                           "the sandbox serves scikit-learn MLflow models.")
    path = folder / rel
    if not path.is_file():
        raise ScoringError(f"MLmodel names {rel!r}, which is not in the model folder.")
    try:
        if sk.get("serialization_format") == "cloudpickle":
            import cloudpickle
            with path.open("rb") as fh:
                model = cloudpickle.load(fh)
        else:
            with path.open("rb") as fh:
                model = pickle.load(fh)  # noqa: S301 (the learner's own model)
    except Exception as exc:
        raise ScoringError(f"Could not unpickle {rel}: {type(exc).__name__}: {exc}") from exc
    if not hasattr(model, "predict"):
        raise ScoringError(f"{rel} holds a {type(model).__name__}, which has no predict().")
    columns = _signature_columns(spec)

    def score(raw: bytes) -> Any:
        try:
            frame = _frame(raw, columns)
            result = model.predict(frame)
            return result.tolist() if hasattr(result, "tolist") else list(result)
        except ScoringError:
            raise
        except Exception as exc:  # pandas or the model refused this input: its own words, as MLflow answers
            raise InputError(f"The model cannot take this input: {type(exc).__name__}: {exc}") from None

    return Predictor(score, f"MLflow {type(model).__name__}")


def _signature_columns(spec: dict[str, Any]) -> list[str] | None:
    inputs = (spec.get("signature") or {}).get("inputs")
    if not inputs:
        return None
    try:
        cols = json.loads(inputs) if isinstance(inputs, str) else inputs
        names = [c.get("name") for c in cols if isinstance(c, dict)]
        return names if names and all(names) else None
    except ValueError:
        return None


def _frame(raw: bytes, columns: list[str] | None) -> Any:
    """Turn an MLflow-server payload into a DataFrame (or array), as Azure's MLflow scoring does."""
    import pandas as pd
    try:
        payload = json.loads(raw or b"null")
    except (ValueError, RecursionError) as exc:
        raise InputError(f"The request body is not JSON the model can take: {type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict):
        raise InputError("The request body must be a JSON object with 'input_data' (or 'dataframe_split', "
                           "'dataframe_records', 'inputs', 'instances').")
    for key in ("input_data", "dataframe_split", "dataframe_records", "inputs", "instances", "data"):
        if key in payload:
            data = payload[key]
            break
    else:
        raise InputError(f"The request has {sorted(payload)}; expected 'input_data' (or 'dataframe_split', "
                           "'dataframe_records', 'inputs', 'instances').")
    if isinstance(data, dict) and "data" in data:
        return pd.DataFrame(data["data"], columns=data.get("columns") or columns, index=data.get("index"))
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return pd.DataFrame(data)
    if isinstance(data, list):
        rows = data if data and isinstance(data[0], list) else [data]
        return pd.DataFrame(rows, columns=columns) if columns and len(columns) == len(rows[0]) else rows
    raise InputError(f"Unsupported input: {type(data).__name__}.")


def _load_script(model_dir: Path, code_dir: Path | None, scoring_script: str) -> Predictor:
    if code_dir is None or not (code_dir / scoring_script).is_file():
        raise ScoringError(f"The scoring script {scoring_script!r} is not in the deployment's code.")
    module_name = f"amlevents_score_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, code_dir / scoring_script)
    module = importlib.util.module_from_spec(spec)
    with _env_lock:  # init() reads AZUREML_MODEL_DIR, as in Azure's container; set only while it runs
        saved_env = os.environ.get("AZUREML_MODEL_DIR")
        sys.path.insert(0, str(code_dir))
        os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
        try:
            spec.loader.exec_module(module)
            for fn in ("init", "run"):
                if not callable(getattr(module, fn, None)):
                    raise ScoringError(f"{scoring_script} must define {fn}().")
            module.init()
        except ScoringError:
            raise
        except Exception as exc:
            raise ScoringError(f"{scoring_script} init() failed: {type(exc).__name__}: {exc}") from exc
        finally:
            if saved_env is None:
                os.environ.pop("AZUREML_MODEL_DIR", None)
            else:
                os.environ["AZUREML_MODEL_DIR"] = saved_env
            if str(code_dir) in sys.path:
                sys.path.remove(str(code_dir))

    def score(raw: bytes) -> Any:
        return module.run(raw.decode() if isinstance(raw, bytes) else raw)

    return Predictor(score, f"scoring script {scoring_script}")


class ScoringServer:
    """One HTTP server on 127.0.0.1 for every online endpoint of the sandbox (a sandbox service).

    ``resolve(endpoint) -> (keys, {deployment: weight})`` and ``predictor(endpoint, deployment)`` are
    given by the endpoints backend, so the server always answers from the stored state.
    """

    def __init__(self, resolve: Callable[[str], tuple[list[str], dict[str, int]]],
                 predictor: Callable[[str, str], Predictor]) -> None:
        self.resolve = resolve
        self.predictor = predictor
        self._httpd: ThreadingHTTPServer | None = None
        self.base_url = ""

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = self.headers.get("Content-Length") or "0"
                if not length.strip().isdigit():
                    self._send(*error(400, "BadRequest", f"Content-Length {length[:40]!r} is not a byte count."))
                    return
                body = self.rfile.read(int(length)) if int(length) else b""
                self._send(*server.answer(self.path, dict(self.headers.items()), body))

            def do_GET(self) -> None:  # noqa: N802
                self._send(*server.health(self.path))

            def _send(self, status: int, data: Any) -> None:
                try:
                    payload = json.dumps(data).encode()
                except (TypeError, ValueError) as exc:  # run() answered something JSON cannot hold
                    status, data = error(424, "ModelError", f"The scoring script's run() returned a value that is "
                                         f"not JSON-serializable: {exc}")
                    payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://{HOST}:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="ml-scoring",
                         daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def health(self, path: str) -> tuple[int, Any]:
        """``GET /online-endpoints/{e}/deployments/{d}/ready``: loads the deployment, 200 once it can score."""
        parts = _parts(path)
        if len(parts) != 5 or parts[0] != "online-endpoints" or parts[2] != "deployments" or parts[4] != "ready":
            return error(404, "NotFound", "Not found: GET /online-endpoints/{endpoint}/deployments/{deployment}/ready")
        try:
            self.predictor(parts[1], parts[3])
        except ScoringError as exc:
            return error(503, "ModelNotReady", str(exc))
        return 200, {"status": "Healthy"}

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """One scoring call: the status and the JSON body (module docstring: which status means what)."""
        parts = _parts(path)
        if len(parts) != 3 or parts[0] != "online-endpoints" or parts[2] != "score":
            return error(404, "NotFound", "Not found: the scoring URI is POST /online-endpoints/{endpoint}/score")
        endpoint = parts[1]
        try:
            keys, traffic = self.resolve(endpoint)
        except LookupError:
            return error(404, "EndpointNotFound", f"No online endpoint named {endpoint[:100]!r}.")
        headers = {k.lower(): v for k, v in headers.items()}
        auth = headers.get("authorization", "")
        token = (auth[7:] if auth.lower().startswith("bearer ") else "").encode("utf-8", "surrogateescape")
        if not token or not any(hmac.compare_digest(token, k.encode()) for k in keys):
            return error(401, "Unauthorized", "Send 'Authorization: Bearer <endpoint key>' with one of the "
                         "endpoint's keys (ml_client.online_endpoints.get_keys(name).primary_key).")
        deployment = headers.get("azureml-model-deployment")
        if deployment:
            if deployment not in traffic:
                return error(404, "DeploymentNotFound",
                             f"The endpoint '{endpoint}' has no deployment {deployment[:100]!r} that is ready.")
        else:
            live = {d: w for d, w in traffic.items() if w > 0}
            if not live:
                return error(404, "DeploymentNotFound", f"The endpoint '{endpoint}' sends no traffic to any "
                             "deployment yet: set endpoint.traffic = {'<deployment>': 100} and update the endpoint, "
                             "or name a deployment in the 'azureml-model-deployment' header.")
            deployment = random.choices(list(live), weights=list(live.values()))[0]
        try:
            predictor = self.predictor(endpoint, deployment)
        except ScoringError as exc:
            return error(424, "ModelError", f"The deployment '{deployment}' could not load its model: {exc}")
        try:
            result = predictor.score(body)
        except InputError as exc:
            return error(400, "BadRequest", str(exc))
        except Exception as exc:  # the scoring script's run() failed on this input
            return error(424, "ModelError", f"The scoring script's run() failed: {type(exc).__name__}: {exc}")
        return 200, result


def _parts(path: str) -> list[str]:
    """The unquoted segments of a request path (names arrive percent-encoded)."""
    return [unquote(p) for p in path.split("?")[0].strip("/").split("/")]

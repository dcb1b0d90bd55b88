"""Scoring: load a deployed model and answer ``POST /score`` on a real HTTP server on 127.0.0.1.

Two kinds of deployment, as on Azure:

* an MLflow model (a folder with ``MLmodel`` and the pickled model) needs no code: the sandbox reads
  ``MLmodel`` itself (mlflow is not required) and accepts the payloads Azure's MLflow server
  accepts (``input_data`` / ``dataframe_split`` / ``dataframe_records`` / ``inputs`` / ``instances``);
* any model with a scoring script: the script's ``init()`` runs once with ``AZUREML_MODEL_DIR``
  set, and ``run(raw_json)`` answers each request.
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

import yaml

HOST = "127.0.0.1"
_env_lock = threading.Lock()


class ScoringError(Exception):
    """The model could not be loaded or could not score: the message says why."""


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
    spec = yaml.safe_load((folder / "MLmodel").read_text()) or {}
    flavors = spec.get("flavors") or {}
    sk = flavors.get("sklearn") or {}
    pyfunc = flavors.get("python_function") or {}
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
        frame = _frame(raw, columns)
        result = model.predict(frame)
        return result.tolist() if hasattr(result, "tolist") else list(result)

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
    except ValueError as exc:
        raise ScoringError(f"The request body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ScoringError("The request body must be a JSON object with 'input_data' (or 'dataframe_split', "
                           "'dataframe_records', 'inputs', 'instances').")
    for key in ("input_data", "dataframe_split", "dataframe_records", "inputs", "instances", "data"):
        if key in payload:
            data = payload[key]
            break
    else:
        raise ScoringError(f"The request has {sorted(payload)}; expected 'input_data' (or 'dataframe_split', "
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
    raise ScoringError(f"Unsupported input: {type(data).__name__}.")


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
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, data = server.answer(self.path, dict(self.headers.items()), body)
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802
                status, data = server.health(self.path)
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
        parts = path.split("?")[0].strip("/").split("/")
        if len(parts) != 5 or parts[0] != "online-endpoints" or parts[2] != "deployments" or parts[4] != "ready":
            return 404, {"error": "Not found"}
        try:
            self.predictor(parts[1], parts[3])
        except ScoringError as exc:
            return 503, {"error": str(exc)}
        return 200, {"status": "Healthy"}

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parts = path.split("?")[0].strip("/").split("/")
        if len(parts) != 3 or parts[0] != "online-endpoints" or parts[2] != "score":
            return 404, {"error": "Not found: POST /online-endpoints/{endpoint}/score"}
        endpoint = parts[1]
        try:
            keys, traffic = self.resolve(endpoint)
        except LookupError:
            return 404, {"error": f"No online endpoint named '{endpoint}'."}
        headers = {k.lower(): v for k, v in headers.items()}
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if not token or not any(hmac.compare_digest(token, k) for k in keys):
            return 401, {"error": "Unauthorized: send 'Authorization: Bearer <endpoint key>' "
                         "(ml_client.online_endpoints.get_keys(name).primary_key)."}
        deployment = headers.get("azureml-model-deployment")
        if deployment:
            if deployment not in traffic:
                return 404, {"error": f"The endpoint '{endpoint}' has no deployment '{deployment}'."}
        else:
            live = {d: w for d, w in traffic.items() if w > 0}
            if not live:
                return 424, {"error": f"The endpoint '{endpoint}' sends no traffic to any deployment yet: set "
                             "endpoint.traffic = {'<deployment>': 100} and update the endpoint."}
            deployment = random.choices(list(live), weights=list(live.values()))[0]
        try:
            result = self.predictor(endpoint, deployment).score(body)
        except ScoringError as exc:
            return 400, {"error": str(exc)}
        except Exception as exc:  # the model or the script failed on this input
            return 500, {"error": f"{type(exc).__name__}: {exc}"}
        return 200, result

"""Retrain the lessons' model on a new batch and register it as a new model version, with tags.

Run as an Azure ML command job (lesson 04's Data Factory pipeline and its direct v2 handler submit it)::

    python train.py --data ${{inputs.data}} --model-name lesson04-churn --tags stage=production,ncd=true \
        --output ${{outputs.model}}

It reads a CSV whose ``label`` column is the target, fits a small scikit-learn pipeline (one-hot for text
columns, logistic regression), saves it in the MLflow format (a folder with ``MLmodel``, so a managed online
endpoint can serve it without a scoring script) and registers that folder with azure-ai-ml.

Where it registers: inside an Azure ML job the workspace comes from ``AZUREML_ARM_SUBSCRIPTION``,
``AZUREML_ARM_RESOURCEGROUP`` and ``AZUREML_ARM_WORKSPACE_NAME`` and the job's identity
(``AzureMLOnBehalfOfCredential``); in the amlevents-kit sandbox the job is given ``AMLEVENTS_SANDBOX_URL``
and ``AMLEVENTS_SANDBOX_CA`` and registers over the sandbox's loopback HTTPS server.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path

import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LABEL = "label"


def train(frame: pd.DataFrame):
    """Fit the pipeline on every column but ``label``; returns (model, training accuracy)."""
    if LABEL not in frame.columns:
        raise SystemExit(f"the data has no '{LABEL}' column; columns: {list(frame.columns)}")
    x, y = frame.drop(columns=[LABEL]), frame[LABEL]
    text = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    numbers = [c for c in x.columns if c not in text]
    prep = ColumnTransformer([("numbers", StandardScaler(), numbers),
                              ("text", OneHotEncoder(handle_unknown="ignore"), text)])
    model = make_pipeline(prep, LogisticRegression(max_iter=500)).fit(x, y)
    return model, float(model.score(x, y))


def save_mlflow_model(model, path: Path, x: pd.DataFrame) -> Path:
    """Write the MLflow sklearn format by hand (mlflow itself is not needed to read it)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.pkl").write_bytes(pickle.dumps(model))
    signature = json.dumps([{"name": c, "type": "double" if pd.api.types.is_numeric_dtype(x[c]) else "string"} for c in x.columns])
    (path / "MLmodel").write_text(
        "flavors:\n"
        "  python_function:\n    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n"
        "    loader_module: mlflow.sklearn\n    model_path: model.pkl\n    predict_fn: predict\n"
        f"  sklearn:\n    pickled_model: model.pkl\n    serialization_format: pickle\n"
        f"    sklearn_version: {sklearn.__version__}\n"
        f"signature:\n  inputs: '{signature}'\n  outputs: '[{{\"type\": \"tensor\", \"tensor-spec\": "
        "{\"dtype\": \"int64\", \"shape\": [-1]}}]'\n")
    (path / "requirements.txt").write_text(f"mlflow\nscikit-learn=={sklearn.__version__}\n")
    (path / "conda.yaml").write_text("dependencies:\n- python=3.11\n- pip:\n  - mlflow\n"
                                     f"  - scikit-learn=={sklearn.__version__}\nname: mlflow-env\n")
    (path / "python_env.yaml").write_text("python: 3.11\nbuild_dependencies:\n- pip\ndependencies:\n"
                                          "- -r requirements.txt\n")
    return path


def ml_client():
    """An MLClient on the job's workspace (see the module docstring)."""
    if os.environ.get("AMLEVENTS_SANDBOX_URL"):
        from amlevents_kit import connect
        return connect().ml_client()
    from azure.ai.ml import MLClient
    from azure.ai.ml.identity import AzureMLOnBehalfOfCredential
    return MLClient(AzureMLOnBehalfOfCredential(), os.environ["AZUREML_ARM_SUBSCRIPTION"],
                    os.environ["AZUREML_ARM_RESOURCEGROUP"], os.environ["AZUREML_ARM_WORKSPACE_NAME"])


def parse_tags(text: str) -> dict[str, str]:
    """``"a=1,b=2"`` -> ``{"a": "1", "b": "2"}``."""
    tags = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--tags: {item!r} is not key=value")
        tags[key.strip()] = value.strip()
    return tags


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CSV file (or a folder holding one) with a 'label' column")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--tags", default="", help="model tags, key=value,key=value")
    parser.add_argument("--output", default="outputs/model", help="where to write the MLflow model folder")
    parser.add_argument("--no-register", action="store_true", help="train and save only")
    args = parser.parse_args(argv)

    data = Path(args.data)
    if data.is_dir():
        data = sorted(data.glob("*.csv"))[0]
    frame = pd.read_csv(data)
    model, accuracy = train(frame)
    print(f"trained on {len(frame)} rows from {data.name}: training accuracy {accuracy:.3f}")
    folder = save_mlflow_model(model, Path(args.output), frame.drop(columns=[LABEL]))
    if args.no_register:
        return
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    run_id = os.environ.get("AZUREML_RUN_ID", "")
    tags = {**parse_tags(args.tags), "trained-by": run_id or "local", "training-rows": str(len(frame))}
    registered = ml_client().models.create_or_update(Model(
        path=str(folder), name=args.model_name, type=AssetTypes.MLFLOW_MODEL, tags=tags,
        properties={"accuracy": f"{accuracy:.4f}", "data": str(args.data)},
        description=f"retrained on {data.name}"))
    print(f"registered {registered.name}:{registered.version} tags={json.dumps(registered.tags, sort_keys=True)}")


if __name__ == "__main__":
    main()

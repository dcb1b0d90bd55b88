"""Benchmark: register a model -> ModelDeployed -> first successful score, in the sandbox, beside the same flow
with the deployment step skipped.

    .venv/bin/python benchmarks/bench_deploy.py               # 5 rounds of each
    .venv/bin/python benchmarks/bench_deploy.py --rounds 10

Setup: a sandbox on a temporary folder, both providers registered, a Receiver (webhook on loopback)
subscribed to the workspace twice through the real EventGridManagementClient: ModelRegistered with the
deploy-by-tags filter (data.modelTags.ncd StringIn true), and ModelDeployed. A small scikit-learn MLflow
model folder, uploaded by MLClient on every registration (a new version each round).

Deploy flow (measured): ``ml.models.create_or_update`` (local upload) -> Event Grid delivers
ModelRegistered -> the handler (``TagDeployer``) creates the deployment (LRO; the scoring server loads
the model) and moves traffic -> ModelDeployed is delivered -> the first HTTP POST to the scoring URI
answers 200. Wall time from the register call to that 200.

Baseline (same run, same receiver and subscriptions): the same registration and delivery, but the
handler skips the deployment; the score goes to a deployment made before timing started. Both flows
drive delivery the same way (``engine.pump()`` in this thread until the step is done).
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from pathlib import Path

import requests

from amlevents_kit import connect, events
from amlevents_kit.deploy import DeploymentRule, TagDeployer
from amlevents_kit.providers import ensure_providers
from amlevents_kit.receiver import Receiver


def model_folder(root: Path) -> tuple[Path, dict]:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    folder = root / "iris-tree"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(clf))
    (folder / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n"
                                    "    serialization_format: pickle\n")
    payload = {"input_data": {"columns": list(X.columns), "index": [0], "data": X.iloc[[0]].values.tolist()}}
    return folder, payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model
    from azure.mgmt.eventgrid import EventGridManagementClient
    from azure.mgmt.eventgrid.models import (EventSubscription, EventSubscriptionFilter,
                                             WebHookEventSubscriptionDestination)

    root = Path(tempfile.mkdtemp())
    target = connect(folder=root / "sandbox")
    ensure_providers(target, quiet=True)
    ml = target.ml_client()
    engine = target.sandbox.service("delivery")
    folder, payload = model_folder(root)

    rule = DeploymentRule(workspace_id=target.workspace_id, tags={"ncd": "true"}, endpoint="bench-ep")
    deployer = TagDeployer(rule, ml)
    skip = {"on": False}
    seen_registered: list[str] = []
    deployed: list[str] = []

    def on_registered(event):
        seen_registered.append(event.data.model_version)
        if not skip["on"]:
            deployer(event)

    rx = Receiver().start()
    rx.on(events.MODEL_REGISTERED)(on_registered)
    rx.on(events.MODEL_DEPLOYED)(lambda e: deployed.append(e.data.model_ids))
    eg = target.client(EventGridManagementClient)
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "bench-deploy",
                                                  rule.to_event_subscription(rx.url)).result()
    eg.event_subscriptions.begin_create_or_update(target.workspace_id, "bench-deployed", EventSubscription(
        destination=WebHookEventSubscriptionDestination(endpoint_url=rx.url),
        filter=EventSubscriptionFilter(included_event_types=[events.MODEL_DEPLOYED]))).result()

    def register():
        return ml.models.create_or_update(Model(path=str(folder), name="bench-iris", type=AssetTypes.MLFLOW_MODEL,
                                                tags={"ncd": "true"}))

    def pump_until(done, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("the flow did not finish in time")
            engine.pump()
            time.sleep(0.001)

    def score() -> None:
        endpoint = ml.online_endpoints.get("bench-ep")
        key = ml.online_endpoints.get_keys("bench-ep").primary_key
        answer = requests.post(endpoint.scoring_uri, json=payload, headers={"Authorization": f"Bearer {key}"},
                               timeout=60)
        if answer.status_code != 200:
            raise RuntimeError(f"scoring answered {answer.status_code}: {answer.text}")

    # warm-up (imports, first endpoint creation, scoring server start): not timed
    register()
    pump_until(lambda: len(deployed) == 1)
    score()

    with_deploy, without = [], []
    for _ in range(args.rounds):
        skip["on"] = False
        start = time.perf_counter()
        version = register().version
        pump_until(lambda: any(ids.endswith(f":{version}") for ids in deployed))
        score()
        with_deploy.append(time.perf_counter() - start)

        skip["on"] = True
        start = time.perf_counter()
        version = register().version
        pump_until(lambda: version in seen_registered)
        score()
        without.append(time.perf_counter() - start)

    rx.stop()
    target.sandbox.close()
    a, b = statistics.median(with_deploy), statistics.median(without)
    print(f"\nregister -> ModelDeployed -> first score: median {a * 1000:.0f} ms over {args.rounds} rounds "
          f"(min {min(with_deploy) * 1000:.0f}, max {max(with_deploy) * 1000:.0f})")
    print(f"baseline, deployment skipped (register -> delivered -> score): median {b * 1000:.0f} ms "
          f"(min {min(without) * 1000:.0f}, max {max(without) * 1000:.0f})")
    print(f"ratio: the deployment step makes the flow {a / b:.2f}x the baseline")


if __name__ == "__main__":
    main()

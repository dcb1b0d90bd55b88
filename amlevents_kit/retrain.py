"""Retrain when drift is detected: the job, its inputs, and the direct Azure ML v2 handler.

Two ways from a ``DatasetDriftDetected`` event to a retraining job (lesson 04):

- **the guide's way**: a Logic App starts a Data Factory pipeline whose Web activity submits the job
  (``retraining_job_body`` is the job's ARM body for ``workflows.ml_job_activity``);
- **the short v2 way**: a webhook handler submits the job itself with azure-ai-ml::

      handler = RetrainOnDrift(target, code="jobs/retrain", model_name="churn", tags={"stage": "production"})
      receiver.on(events.DATASET_DRIFT_DETECTED)(handler)

The job (``notebooks/jobs/retrain/train.py``) trains on the drifted batch named by the event's
``targetDatasetId`` (a datastore URI: ``upload_data`` puts a batch there) and registers a new model
version with the given tags, so lesson 05's deploy-by-tags flow can deploy it.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import events as _events

# A curated environment (the sandbox runs its own Python). On Azure, train.py also needs azure-ai-ml and
# azure-identity to register the model: build an environment from notebooks/jobs/retrain/conda.yaml (its header
# has the `az ml environment create` line) and pass it as ``environment=`` / ``environment_id=`` below.
ENVIRONMENT = "azureml:AzureML-sklearn-1.5@latest"
ENVIRONMENT_ID = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"
DATASTORE = "workspaceblobstore"
EXPERIMENT = "drift-retraining"


_NOISE = ("Proceeding with no tenant id appended to studio URL", "This is an experimental class", "Check: endpoint ")


class _QuietFilter(logging.Filter):
    """Drops two azure-ai-ml INFO/WARNING lines that say nothing to a learner (one per job poll)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(n in message for n in _NOISE)


def quiet_azure_ai_ml() -> None:
    """Keep azure-ai-ml from printing what says nothing to a learner (idempotent).

    Its stderr handler loses the lines in ``_NOISE``; its endpoint pollers stop printing a '.' per poll
    (``AzureMLPolling.update_status`` prints unconditionally: from a webhook handler's thread the dots
    land in whichever notebook cell happens to run, so stored outputs would differ run to run).
    """
    import azure.ai.ml  # noqa: F401  (installs its handler on the 'azure.ai.ml' logger)
    from azure.ai.ml._artifacts import _blob_storage_helper as blob_helper
    from azure.ai.ml._utils import _azureml_polling as polling
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    for handler in logging.getLogger("azure.ai.ml").handlers:
        if not any(isinstance(f, _QuietFilter) for f in handler.filters):
            handler.addFilter(_QuietFilter())
    if not getattr(polling.AzureMLPolling.update_status, "_quiet", False):
        def update_status(self) -> None:
            ARMPolling.update_status(self)
        update_status._quiet = True  # type: ignore[attr-defined]
        polling.AzureMLPolling.update_status = update_status
    if not getattr(blob_helper, "_amlevents_quiet", False):
        # After every upload it prints a bare colour reset to stderr, even with show_progress=False:
        # in a notebook that is an empty red box under the cell, which learners read as an error.
        blob_helper.print = _print_unless_colour_reset  # shadows the builtin in that module only
        blob_helper._amlevents_quiet = True


def _print_unless_colour_reset(*args, **kwargs) -> None:
    if len(args) == 1 and isinstance(args[0], str) and not args[0].replace("\x1b[39m", "").strip():
        return
    print(*args, **kwargs)


# -- teaching data ------------------------------------------------------------------------------------
def sample_batch(n_rows: int = 2000, *, shifted: bool = False, random_state: int = 0) -> pd.DataFrame:
    """A month of customers with a ``label`` (churned or not); ``shifted=True`` is a later, drifted month.

    Drifted: ``monthly_charges`` (+15 after a price rise), ``support_calls`` (doubled) and ``plan`` (more
    premium). Stable: ``age``, ``tenure_months`` and ``region``. Churn depends on charges, calls, tenure and plan.
    """
    rng = np.random.default_rng([random_state, int(shifted)])
    plans = np.array(["basic", "standard", "premium"], dtype=object)
    frame = pd.DataFrame({
        "age": rng.normal(40, 12, n_rows).round(1),
        "tenure_months": rng.gamma(2.0, 12.0, n_rows).round(1),
        "monthly_charges": rng.normal(75 if shifted else 60, 15, n_rows).round(2),
        "support_calls": rng.poisson(2.0 if shifted else 1.0, n_rows),
        "plan": rng.choice(plans, n_rows, p=[0.25, 0.3, 0.45] if shifted else [0.5, 0.3, 0.2]),
        "region": rng.choice(np.array(["north", "south", "east", "west"], dtype=object), n_rows),
    })
    effect = frame["plan"].map({"basic": 0.4, "standard": 0.0, "premium": -0.6})
    logit = (-1.0 + 0.04 * (frame["monthly_charges"] - 60) + 0.6 * frame["support_calls"]
             - 0.04 * frame["tenure_months"] + effect)
    frame["label"] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


# -- putting things where a job can read them -----------------------------------------------------
def datastore_uri(path: str, datastore: str = DATASTORE) -> str:
    """``azureml://datastores/<datastore>/paths/<path>``: how a job input names a file on a datastore."""
    return f"azureml://datastores/{datastore}/paths/{path.strip('/')}"


def upload_data(target: Any, data: pd.DataFrame | str | Path, path: str) -> str:
    """Write a batch (a DataFrame as CSV, or a local file) to the workspace's default datastore.

    Returns its ``azureml://datastores/...`` URI, which job inputs (and drift events'
    ``targetDatasetId``) use. *Azure CLI*: ``az storage blob upload`` to the datastore's container.
    On Azure your identity needs *Storage Blob Data Contributor* on the workspace's storage account.
    """
    from azure.storage.blob import BlobClient

    if isinstance(data, pd.DataFrame):
        buffer = io.StringIO()
        data.to_csv(buffer, index=False)
        payload = buffer.getvalue().encode()
    else:
        payload = Path(data).read_bytes()
    quiet_azure_ai_ml()
    ml = target.ml_client()
    store = ml.datastores.get_default()
    account_url = f"https://{store.account_name}.blob.{store.endpoint}"
    if target.is_sandbox:
        from .sandbox.providers.machinelearningservices.client import transport_for
        credential: Any = None  # the sandbox's blob store checks no key
        kwargs = {"transport": transport_for(account_url)}  # routed by target.ml_client() above
    else:
        credential, kwargs = target.credential, {}  # Entra ID (DefaultAzureCredential by default)
    blob = BlobClient(account_url, store.container_name, path.strip("/"), credential=credential, **kwargs)
    blob.upload_blob(payload, overwrite=True)
    return datastore_uri(path, store.name)


def upload_code(target: Any, folder: str | Path, *, name: str, version: str = "1") -> str:
    """Upload a job's code folder once as a named code asset; returns its ARM id (a job's ``codeId``).

    azure-ai-ml uploads code by itself when you submit a job from a local folder; a job body written
    by hand (the Data Factory Web activity's) needs the asset's id, and azure-ai-ml has no public
    operation for code assets: this uses its code operations (``MLClient._code``), as ``jobs`` does.
    """
    from azure.ai.ml.entities._assets._artifacts.code import Code

    quiet_azure_ai_ml()
    ml = target.ml_client()
    try:
        return ml._code.get(name, version).id
    except Exception:  # not there yet
        pass
    return ml._code.create_or_update(Code(name=name, version=version, path=str(folder))).id


def job_environment(target: Any) -> dict[str, str]:
    """Environment variables a retraining job needs to register its model (none on Azure).

    On Azure a job reaches its workspace by itself (``AZUREML_ARM_*`` and its identity). A sandbox job is
    a local process: it registers over the sandbox's loopback HTTPS server, started here if needed.
    """
    if not target.is_sandbox:
        return {}
    if getattr(target, "sandbox", None) is not None:
        served = target.serve()
        return {"AMLEVENTS_SANDBOX_URL": served["base_url"], "AMLEVENTS_SANDBOX_CA": served["ca_path"]}
    return {"AMLEVENTS_SANDBOX_URL": target.url, "AMLEVENTS_SANDBOX_CA": target.ca_path}


def _command(model_name: str, tags: dict[str, str]) -> str:
    _check_tags(tags)
    text = ",".join(f"{k}={v}" for k, v in tags.items())
    return ("python train.py --data ${{inputs.data}} --model-name " + model_name
            + (f" --tags {text}" if text else "") + " --output ${{outputs.model}}")


def _check_tags(tags: dict[str, str]) -> None:
    for k, v in tags.items():
        for what, text in (("key", k), ("value", v)):
            if not re.fullmatch(r"[A-Za-z0-9_.:-]+", str(text)):
                raise ValueError(f"tags: the {what} {text!r} must be letters, digits and _ . : - "
                                 "(it travels on the job's command line)")


def retraining_job_body(target: Any, *, code_id: str, data_uri: str, model_name: str,
                        tags: dict[str, str] | None = None, experiment: str = EXPERIMENT,
                        environment_id: str = ENVIRONMENT_ID) -> dict:
    """The retraining command job's ARM body (``PUT .../jobs/{name}``), for a Data Factory Web activity.

    ``data_uri`` may be a Data Factory expression, e.g.
    ``"@pipeline().parameters.targetDatasetId"``, so each run trains on the batch its event named.
    ``environment_id``: on Azure, the ARM id of the environment built from ``conda.yaml``.
    """
    tags = dict(tags or {})
    return {"properties": {
        "jobType": "Command", "experimentName": experiment, "displayName": f"retrain {model_name}",
        "codeId": code_id, "command": _command(model_name, tags), "environmentId": environment_id,
        "environmentVariables": job_environment(target),
        "inputs": {"data": {"jobInputType": "uri_file", "mode": "ReadOnlyMount", "uri": data_uri}},
        "outputs": {"model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}},
        # No computeId: Azure runs the job on serverless compute.
        "tags": {"reason": "DatasetDriftDetected", "model": model_name}}}


def retraining_pipeline(target: Any, *, code_id: str, model_name: str, tags: dict[str, str] | None = None,
                        experiment: str = EXPERIMENT, environment_id: str = ENVIRONMENT_ID) -> dict:
    """A Data Factory pipeline (ARM body) that submits the retraining job for one drift event.

    Parameters ``driftRunId`` and ``targetDatasetId`` (the Logic App passes the event's ``runId`` and
    ``targetDatasetId``); one Web activity ``SubmitRetraining`` PUTs the job ``retrain-<driftRunId>``.
    """
    from .workflows import ml_job_activity

    body = retraining_job_body(target, code_id=code_id, data_uri="@pipeline().parameters.targetDatasetId",
                               model_name=model_name, tags=tags, experiment=experiment,
                               environment_id=environment_id)
    body["properties"]["tags"]["driftRunId"] = "@pipeline().parameters.driftRunId"
    activity = ml_job_activity("SubmitRetraining", workspace_id=target.workspace_id,
                               job_name="@concat('retrain-', pipeline().parameters.driftRunId)", job=body)
    return {"properties": {"description": f"Retrain {model_name} on the batch a drift event names",
                           "parameters": {"driftRunId": {"type": "String"}, "targetDatasetId": {"type": "String"}},
                           "activities": [activity]}}


def retraining_command(target: Any, *, code: str | Path, data_uri: str, model_name: str,
                       tags: dict[str, str] | None = None, name: str | None = None,
                       experiment: str = EXPERIMENT, job_tags: dict[str, str] | None = None,
                       environment: str = ENVIRONMENT):
    """The same job as an azure-ai-ml ``command()`` (code from a local folder, uploaded on submit).

    ``environment``: on Azure, the one built from ``conda.yaml``, e.g. ``"azureml:retrain-sklearn@latest"``.
    """
    from azure.ai.ml import Input, Output, command

    tags = dict(tags or {})
    return command(
        name=name, code=str(code), command=_command(model_name, tags), environment=environment,
        inputs={"data": Input(type="uri_file", path=data_uri)}, outputs={"model": Output(type="uri_folder")},
        environment_variables=job_environment(target), experiment_name=experiment,
        display_name=f"retrain {model_name}", tags={"reason": "DatasetDriftDetected", "model": model_name,
                                                    **(job_tags or {})})


# -- the direct v2 handler ----------------------------------------------------------------------------
@dataclass
class RetrainOutcome:
    """What the handler did with one event: ``submitted``, ``already submitted`` or ``skipped``."""

    action: str
    reason: str
    event_id: str = ""
    job: str | None = None

    def __str__(self) -> str:
        return f"{self.action}: {self.job or '-'} ({self.reason})"


def job_name_for(drift_run_id: str) -> str:
    """The retraining job's name for a drift run: stable, so a redelivered event finds its job."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", f"retrain-{drift_run_id}").strip("-")
    return base[:255]


@dataclass
class RetrainOnDrift:
    """Webhook handler: on DatasetDriftDetected from the expected topic, submit the retraining job once.

    ``topics``: the topics to trust (default: the workspace; add a custom drift topic's id on Azure).
    ``min_coefficient``: retrain only when the event's driftCoefficient is at least this.
    ``environment``: the job's environment (on Azure, the one built from ``conda.yaml``).
    """

    target: Any
    code: str | Path
    model_name: str
    tags: dict[str, str] = field(default_factory=dict)
    topics: list[str] | None = None
    min_coefficient: float = 0.0
    ml_client: Any = None
    environment: str = ENVIRONMENT
    outcomes: list[RetrainOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_tags(self.tags)
        if not Path(self.code, "train.py").is_file():
            raise ValueError(f"RetrainOnDrift.code: {str(self.code)!r} has no train.py")
        self.topics = [t.lower() for t in (self.topics or [self.target.workspace_id])]
        quiet_azure_ai_ml()
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> RetrainOutcome:
        outcome = self.handle(event)
        self.outcomes.append(outcome)
        return outcome

    def handle(self, event: Any) -> RetrainOutcome:
        if isinstance(event, dict):
            event = _events.parse_event(event)
        event_id = getattr(event, "id", "")
        if (event.topic or "").lower() not in self.topics:
            return RetrainOutcome("skipped", f"the event comes from {event.topic!r}, not a trusted topic", event_id)
        if event.type != _events.DATASET_DRIFT_DETECTED:
            return RetrainOutcome("skipped", f"{event.type} is not DatasetDriftDetected", event_id)
        data = event.data
        coefficient = float(data.drift_coefficient or 0.0)
        if coefficient < self.min_coefficient:
            return RetrainOutcome("skipped", f"driftCoefficient {coefficient:.3f} < {self.min_coefficient}", event_id)
        name = job_name_for(data.run_id)
        ml = self.ml_client or self.target.ml_client()
        with self._lock:
            existing = _get_job(ml, name)
            if existing is not None:
                return RetrainOutcome("already submitted", f"a redelivered event: job is {existing.status}",
                                      event_id, name)
            job = retraining_command(self.target, code=self.code, data_uri=data.target_dataset_id,
                                     model_name=self.model_name, tags=self.tags, name=name,
                                     job_tags={"driftRunId": data.run_id}, environment=self.environment)
            ml.jobs.create_or_update(job)
        return RetrainOutcome("submitted", f"drift coefficient {coefficient:.3f}", event_id, name)


def _get_job(ml: Any, name: str) -> Any:
    from azure.core.exceptions import ResourceNotFoundError
    try:
        return ml.jobs.get(name)
    except ResourceNotFoundError:
        return None


def status(job: Any) -> str:
    """A job's status as Azure spells it (``Completed``), whether azure-ai-ml gives a string or an enum."""
    return str(getattr(job.status, "value", job.status))


def wait_for_job(target: Any, name: str, *, timeout: float | None = None) -> Any:
    """Wait for a job to end and return it (``ml.jobs.stream`` prints its log as well).

    In the sandbox a job is a local process: this looks often, for up to 5 minutes. On Azure a
    serverless job queues and builds its image first: it looks every 15 s, for up to an hour.
    """
    quiet_azure_ai_ml()
    ml = target.ml_client()
    sandbox = getattr(target, "is_sandbox", True)
    timeout = (300.0 if sandbox else 3600.0) if timeout is None else timeout
    seen = []
    try:
        return target.wait_for(lambda: seen.append(job := ml.jobs.get(name)) or (
            job.status in ("Completed", "Failed", "Canceled") and job), timeout=timeout,
            interval=0.2 if sandbox else 15.0)
    except TimeoutError:
        raise TimeoutError(f"job {name} is still {seen[-1].status if seen else 'unknown'} after "
                           f"{timeout:.0f} s") from None

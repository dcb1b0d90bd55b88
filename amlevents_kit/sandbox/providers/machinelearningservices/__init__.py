"""Microsoft.MachineLearningServices: the workspace, and what happens in it, driven by azure-ai-ml's MLClient.

Emulated (every api-version azure-ai-ml sends is accepted):

* the default datastore ``workspaceblobstore`` (and ``workspaceartifactstore`` for logs), ``listSecrets``,
  and the Azure Blob data plane azure-ai-ml uses (blob.py); local uploads reach it through
  client.py (no environment variables, no proxy);
* models: containers and versions, create from a local file/folder, ``azureml://datastores/...`` or
  ``azureml://jobs/{name}/outputs/{output}``; get, list (``listViewType``, ``$orderBy``, ``$top``,
  ``tags``), latest, archive, download; ``flavors`` read from the MLmodel file; ModelRegistered on create;
* code snapshots (hash lookup, ``startPendingUpload``) and curated environment names (run on the
  sandbox's own Python);
* command jobs run as local processes (jobs.py): statuses, logs, outputs, cancel, ``jobs.stream``
  (discovery + run details + log blobs); RunCompleted on success, RunStatusChanged on failure; the
  process and folder that run a job stay in the sandbox's own table, out of the job and its events;
* managed online endpoints and deployments as long-running operations; MLflow scikit-learn models or
  a scoring script (``init()``/``run()``) served on 127.0.0.1 with key auth (endpoints.py,
  scoring.py); ``invoke``, ``get_keys``, ``regenerate_keys``, traffic (only to deployments that
  succeeded), ``get_logs``; ModelDeployed when a deployment succeeds with a model it did not serve
  before (created, or its model changed; not when it is only scaled). Scoring failures answer 400/401/404/424 with ``{"error": {"code", "message"}}``
  (scoring.py says which means what).

Request bodies are checked against the shape of what the sandbox reads (validation.py): a wrong type is a
400 naming the field; blob names Azure Storage refuses get its own 400 XML errors (blob.py).

Not emulated (answered 501 SandboxNotImplemented): other job types (pipeline, sweep, AutoML),
compute resources, data assets, registries, batch endpoints, ``jobs.download`` of named outputs
(it reads the run-data plane; use ``azureml://jobs/{name}/outputs/{output}`` instead), AML/AAD
token auth on endpoints, and blob block uploads (files over 64 MB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import MLBackend
from .responses import MLResponses
from .urls import routes

if TYPE_CHECKING:
    from ...app import Sandbox


def setup(sandbox: "Sandbox") -> MLBackend:
    backend = MLBackend(sandbox)
    backend.seed()
    sandbox.router.add(routes(MLResponses(backend)))
    sandbox.router.add(backend.blobs.routes())
    sandbox.add_service("ml-jobs", lambda: _JobsService(backend))
    return backend


class _JobsService:
    """Fails the jobs an ended process left behind (on start); ends running jobs' processes (on stop)."""

    def __init__(self, backend: MLBackend) -> None:
        self.backend = backend

    def start(self) -> None:
        self.backend.jobs._closing = False
        self.backend.jobs.fail_orphans()  # jobs whose sandbox process has ended

    def stop(self) -> None:
        self.backend.jobs.stop()

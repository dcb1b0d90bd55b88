"""Command jobs, run for real: a local process in ``<sandbox>/jobs/<name>/`` with Azure's statuses.

A job goes NotStarted → Queued → Preparing (code and inputs copied in) → Running (the command, with
``${{inputs.x}}``/``${{outputs.y}}`` replaced by values and local paths, on the sandbox's own Python:
curated environment names are accepted and mapped to it) → Completed, Failed or Canceled.
Outputs stay in the job folder and are addressable as ``azureml://jobs/{name}/outputs/{output}``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...arm.errors import ArmError, invalid_value, missing_field, not_found

if TYPE_CHECKING:
    from .models import MLBackend

JOB_TYPE = "Microsoft.MachineLearningServices/workspaces/jobs"
TERMINAL = ("Completed", "Failed", "Canceled")
_PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_]+)\s*\}\}")
_EXPERIMENT_NS = uuid.UUID("5b8e1c3e-6d7f-4a8b-9c0d-1e2f3a4b5c6d")
# Which sandbox process runs each job, and where: sandbox internals, kept out of the job's ARM body and its
# events (Azure shows no local paths or process ids there). Sandboxes made before kept them in the job's
# properties as azureml.sandbox.folder / azureml.sandbox.pid; fail_orphans moves them here.
SCHEMA = """
CREATE TABLE IF NOT EXISTS ml_job_runners (
    name TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    pid INTEGER NOT NULL
);
"""
_LEGACY = ("azureml.sandbox.folder", "azureml.sandbox.pid")


class Jobs:
    """Submits, runs and answers command jobs."""

    def __init__(self, backend: "MLBackend") -> None:
        self.backend = backend
        self.store = backend.store
        self._threads: dict[str, threading.Thread] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._closing = False
        self.store.executescript(SCHEMA)

    @property
    def root(self) -> Path:
        return self.backend.sandbox.folder / "jobs"

    def job_id(self, name: str) -> str:
        return f"{self.backend.assets.ws}/jobs/{name}"

    # -- API ----------------------------------------------------------------------------------------
    def submit(self, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        props = body.get("properties")
        if not isinstance(props, dict):
            raise missing_field("properties")
        existing = self.store.get(self.job_id(name))
        if existing is not None:  # Azure lets tags, description and display name change afterwards
            for key in ("tags", "description", "displayName"):
                if key in props:
                    existing["properties"][key] = props[key]
            self.store.put(existing["id"], JOB_TYPE, existing)
            return existing, False
        job_type = props.get("jobType")
        if job_type != "Command":
            raise invalid_value("properties.jobType", job_type, "Command (the sandbox runs command jobs only)")
        if not props.get("command"):
            raise missing_field("properties.command")
        if not props.get("environmentId"):
            raise missing_field("properties.environmentId")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}", name):
            raise invalid_value("name", name, "letters, digits, '-' and '_', starting with a letter or digit")
        experiment = props.get("experimentName") or "Default"
        outputs = {k: dict(v) for k, v in (props.get("outputs") or {}).items()}
        for out_name, out in outputs.items():
            out.setdefault("jobOutputType", "uri_folder")
            out.setdefault("mode", "ReadWriteMount")
            out["uri"] = out.get("uri") or f"azureml://datastores/workspaceblobstore/paths/azureml/{name}/{out_name}/"
        outputs.setdefault("default", {"jobOutputType": "uri_folder", "mode": "ReadWriteMount",
                                       "uri": f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{name}"})
        studio = f"https://ml.azure.com/runs/{name}?wsid={self.backend.assets.ws}"
        job = {
            "id": self.job_id(name), "name": name, "type": JOB_TYPE,
            "properties": {
                **props,
                "experimentName": experiment, "displayName": props.get("displayName") or name,
                "status": "NotStarted", "outputs": outputs, "tags": props.get("tags") or {},
                "properties": dict(props.get("properties") or {}),
                "services": {"Studio": {"jobServiceType": "Studio", "endpoint": studio},
                             "Tracking": {"jobServiceType": "Tracking",
                                          "endpoint": self.backend.get_workspace_mlflow_uri()}},
                "computeId": props.get("computeId"), "isArchived": False,
            },
            "systemData": self.backend.system_data(),
        }
        with self.store.transaction():
            self.store.put(job["id"], JOB_TYPE, job)
            self.store.execute("INSERT INTO ml_job_runners (name, folder, pid) VALUES (?, ?, ?) ON CONFLICT(name) "
                               "DO UPDATE SET folder = excluded.folder, pid = excluded.pid",
                               (name, str(self.folder(name)), os.getpid()))
        self.start(name)
        return job, True

    def runner_pid(self, name: str) -> int:
        """The id of the sandbox process that runs (or ran) a job; 0 if unknown."""
        row = self.store.execute("SELECT pid FROM ml_job_runners WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def get(self, name: str) -> dict[str, Any]:
        body = self.store.get(self.job_id(name))
        if body is None:
            raise not_found(JOB_TYPE, name)
        return body

    def list(self, view: str = "ActiveOnly") -> list[dict[str, Any]]:
        jobs = self.store.list(type=JOB_TYPE, parent=self.backend.assets.ws)
        return [j for j in jobs if view == "All" or bool(j["properties"].get("isArchived")) == (view == "ArchivedOnly")]

    def cancel(self, name: str) -> None:
        job = self.get(name)
        if job["properties"]["status"] in TERMINAL:
            return
        with self._lock:
            proc = self._procs.get(name)
        self._set_status(name, "CancelRequested")
        if proc is not None:
            _terminate(proc)
        elif name not in self._threads:  # not running in this process (e.g. the sandbox restarted)
            self._set_status(name, "Canceled")

    def fail_orphans(self) -> list[str]:
        """Jobs left unfinished by a sandbox process that has ended: they failed (called on open)."""
        orphans = []
        for job in self.store.list(type=JOB_TYPE, parent=self.backend.assets.ws):
            self._move_legacy_runner(job)
            props = job["properties"]
            if props["status"] in TERMINAL or _alive(self.runner_pid(job["name"])):
                continue
            self._finish(job["name"], "Failed", "The sandbox process that ran this job ended before the job did.")
            orphans.append(job["name"])
        return orphans

    def _move_legacy_runner(self, job: dict[str, Any]) -> None:
        """A job stored by an older sandbox carries its runner in its properties: move it to the runners table."""
        inner = job["properties"].get("properties") or {}
        if not any(k in inner for k in _LEGACY) or self.store.execute(
                "SELECT 1 FROM ml_job_runners WHERE name = ?", (job["name"],)).fetchone():
            return
        try:
            pid = int(inner.get("azureml.sandbox.pid") or 0)
        except ValueError:
            pid = 0
        with self.store.transaction():
            self.store.execute("INSERT OR IGNORE INTO ml_job_runners (name, folder, pid) VALUES (?, ?, ?)",
                               (job["name"], str(inner.get("azureml.sandbox.folder") or self.folder(job["name"])), pid))
            job["properties"]["properties"] = {k: v for k, v in inner.items() if k not in _LEGACY}
            self.store.put(job["id"], JOB_TYPE, job)

    def folder(self, name: str) -> Path:
        return self.root / name

    def log_path(self, name: str) -> Path:
        return self.folder(name) / "user_logs" / "std_log.txt"

    def output_path(self, name: str, output: str, sub: str = "") -> Path:
        """The local folder of a completed job's output (what ``azureml://jobs/...`` points at)."""
        job = self.get(name)
        status = job["properties"]["status"]
        if status != "Completed":
            raise ArmError(400, "UserError", f"Job '{name}' is {status}: only a Completed job's outputs can be used.")
        if output not in job["properties"].get("outputs", {}):
            raise invalid_value("output", output, ", ".join(sorted(job["properties"]["outputs"])) or "none")
        path = self.folder(name) / "outputs" / output / sub
        if not path.exists():
            raise ArmError(400, "UserError", f"Job '{name}' wrote nothing at outputs/{output}/{sub}".rstrip("/") + ".")
        return path

    def run_details(self, name: str) -> dict[str, Any]:
        """The run-history view of a job (``RunDetails``), for ``jobs.stream``."""
        job = self.get(name)
        props = job["properties"]
        status = props["status"]
        details: dict[str, Any] = {
            "runId": name, "runUuid": str(uuid.uuid5(_EXPERIMENT_NS, name)), "status": status,
            "target": (props.get("computeId") or "local").rsplit("/", 1)[-1],
            "createdTimeUtc": job["systemData"]["createdAt"], "tags": props.get("tags") or {},
            "properties": {k: str(v) for k, v in (props.get("properties") or {}).items()},
            "warnings": [], "logFiles": {}, "runTypeV2": {"orchestrator": "Command", "traits": []},
        }
        if props.get("error"):
            details["error"] = {"error": props["error"]}
        return details

    def wait(self, name: str, timeout: float = 120.0) -> dict[str, Any]:
        """Block until the job ends in this process (tests and the sandbox's own helpers)."""
        thread = self._threads.get(name)
        if thread is not None:
            thread.join(timeout)
        return self.get(name)

    # -- running --------------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        thread = threading.Thread(target=self._run, args=(name,), name=f"ml-job-{name}", daemon=True)
        self._threads[name] = thread
        thread.start()

    def stop(self) -> None:
        """Terminate running jobs (the sandbox is closing)."""
        self._closing = True
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            _terminate(proc)
        for thread in list(self._threads.values()):
            thread.join(5)

    def _set_status(self, name: str, status: str, **extra: Any) -> dict[str, Any]:
        self._publish_log(name)
        with self.store.transaction():
            job = self.get(name)
            if job["properties"]["status"] == "CancelRequested" and status not in TERMINAL:
                status = "CancelRequested"  # a cancel wins over the runner's progress
            job["properties"]["status"] = status
            job["properties"].update(extra)
            job["systemData"] = self.backend.system_data(job["systemData"])
            self.store.put(job["id"], JOB_TYPE, job)
        return job

    def _publish_log(self, name: str) -> None:
        """Copy the job's log to the artifact store, where ``jobs.stream`` reads it."""
        log = self.log_path(name)
        if log.exists():
            self.backend.blobs.put(self.backend.container, f"ExperimentRun/dcid.{name}/user_logs/std_log.txt",
                                   log.read_bytes())

    def _run(self, name: str) -> None:
        try:
            self._execute(name)
        except Exception as exc:  # a job must end, whatever went wrong preparing it
            if self._closing:
                return
            log = self.log_path(name)
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a") as fh:
                fh.write(f"\n[sandbox] the job could not run: {type(exc).__name__}: {exc}\n")
            self._finish(name, "Failed", str(exc))

    def _execute(self, name: str) -> None:
        folder = self.folder(name)
        self._set_status(name, "Queued")
        job = self._set_status(name, "Preparing")
        props = job["properties"]
        code = folder / "code"
        code.mkdir(parents=True, exist_ok=True)
        if props.get("codeId"):
            self._copy_code(props["codeId"], code)
        values = {"inputs": {}, "outputs": {}}
        for key, spec in (props.get("inputs") or {}).items():
            values["inputs"][key] = self._input_value(key, spec)
        for key in props.get("outputs") or {}:
            path = folder / "outputs" / key
            path.mkdir(parents=True, exist_ok=True)
            values["outputs"][key] = str(path)
        command = _PLACEHOLDER.sub(lambda m: _substitute(values, m), props["command"])
        log = self.log_path(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **{k: str(v) for k, v in (props.get("environmentVariables") or {}).items() if v is not None},
               "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
               "AZUREML_RUN_ID": name, "AZUREML_EXPERIMENT_NAME": props["experimentName"],
               "AZUREML_CR_OUTPUTS_DIR": str(folder / "outputs"), "PYTHONUNBUFFERED": "1"}
        if self._closing:
            return
        if self.get(name)["properties"]["status"] == "CancelRequested":
            self._finish(name, "Canceled", "The job was canceled.")
            return
        with log.open("w") as fh:
            proc = subprocess.Popen(command, shell=True, cwd=code, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            with self._lock:
                self._procs[name] = proc
            if self._set_status(name, "Running")["properties"]["status"] == "CancelRequested":
                _terminate(proc)
            while True:
                try:
                    code_rc = proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    self._publish_log(name)  # so that jobs.stream shows the log as it grows
        with self._lock:
            self._procs.pop(name, None)
        if self._closing:
            return
        if self.get(name)["properties"]["status"] == "CancelRequested":
            self._finish(name, "Canceled", "The job was canceled.")
        elif code_rc == 0:
            self._finish(name, "Completed", None)
        else:
            self._finish(name, "Failed", f"Execution failed. User process '{command}' exited with status code "
                         f"{code_rc}. Please check log file 'user_logs/std_log.txt' for error details.")

    def _finish(self, name: str, status: str, message: str | None) -> None:
        if status == "Completed":
            self._store_outputs(name)
        extra: dict[str, Any] = {}
        if message and status == "Failed":
            extra["error"] = {"code": "UserError", "message": message}
        job = self._set_status(name, status, **extra)
        self.backend.run_finished(job)

    def _store_outputs(self, name: str) -> None:
        """Copy named outputs to the datastore paths their URIs name, as Azure's output upload does."""
        prefix = "azureml://datastores/workspaceblobstore/paths/"
        for out_name, out in self.get(name)["properties"].get("outputs", {}).items():
            uri = out.get("uri") or ""
            folder = self.folder(name) / "outputs" / out_name
            if out_name == "default" or not uri.startswith(prefix) or not folder.is_dir():
                continue
            base = uri[len(prefix):].strip("/")
            for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                self.backend.blobs.put(self.backend.container, f"{base}/{file.relative_to(folder).as_posix()}",
                                       file.read_bytes())

    def _copy_code(self, code_id: str, dest: Path) -> None:
        parts = code_id.rstrip("/").split("/")
        name, version = parts[-3], parts[-1]
        uri = self.backend.assets.get_code_version(name, version)["properties"]["codeUri"]
        src = self.backend.assets.resolve(uri)
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / src.name)

    def _input_value(self, key: str, spec: dict[str, Any]) -> str:
        kind = spec.get("jobInputType")
        if kind == "literal":
            return str(spec.get("value"))
        uri = spec.get("uri")
        if not uri:
            raise invalid_value(f"inputs.{key}", spec, "a literal value or a uri_file/uri_folder/mlflow_model input")
        if uri.startswith("azureml:") and not uri.startswith("azureml://"):  # azureml:name:version (a model)
            name, _, version = uri[len("azureml:"):].partition(":")
            uri = self.backend.assets.get_version(name, version)["properties"]["modelUri"]
        elif "/models/" in uri and "/versions/" in uri and uri.startswith("/subscriptions/"):
            parts = uri.split("/")
            uri = self.backend.assets.get_version(parts[-3], parts[-1])["properties"]["modelUri"]
        return str(self.backend.assets.resolve(uri))

    def experiment_id(self, experiment: str) -> str:
        return str(uuid.uuid5(_EXPERIMENT_NS, experiment))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(proc: subprocess.Popen) -> None:
    """End the job's shell and everything it started (the command runs in its own session)."""
    try:
        os.killpg(proc.pid, 15)
    except (ProcessLookupError, PermissionError):
        pass


def _substitute(values: dict[str, dict[str, str]], m: re.Match) -> str:
    group, key = m.group(1), m.group(2)
    if key not in values[group]:
        raise invalid_value(f"command {m.group(0)}", key, ", ".join(sorted(values[group])) or f"no {group} declared")
    value = values[group][key]
    return value if re.fullmatch(r"[\w./:=+-]+", value) else "'" + value.replace("'", "'\\''") + "'"

"""Where the lessons' Azure SDK calls go: real Azure, or the local sandbox.

``connect()`` returns a target; lessons build every client through it, so the same cells run on
both::

    target = connect()                                   # the sandbox, unless told otherwise
    rm = target.client(ResourceManagementClient)
    ml = target.ml_client()
"""

from __future__ import annotations

import inspect
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from azure.core.credentials import AccessToken

ClientT = TypeVar("ClientT")
T = TypeVar("T")

TARGET_ENV = "AMLEVENTS_TARGET"
SANDBOX_URL_ENV = "AMLEVENTS_SANDBOX_URL"
SANDBOX_CA_ENV = "AMLEVENTS_SANDBOX_CA"


class SandboxCredential:
    """A token credential for the sandbox: it signs nothing, and the sandbox asks for nothing more."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("sandbox-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo
        return AccessTokenInfo("sandbox-token", int(time.time()) + 3600)

    def close(self) -> None:
        pass


@dataclass(repr=False)
class Target:
    """The subscription, resource group and workspace the lessons act on, and how to reach them."""

    kind: str
    credential: Any
    subscription_id: str
    resource_group: str
    workspace_name: str
    location: str = "eastus"
    _client_kwargs: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def workspace_id(self) -> str:
        """The workspace's ARM id: the topic of its events and the scope of its subscriptions."""
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace_name}")

    @property
    def is_sandbox(self) -> bool:
        return self.kind == "sandbox"

    def client(self, client_class: type[ClientT], **kwargs: Any) -> ClientT:
        """Build any azure-mgmt-* client (``ResourceManagementClient``, ``EventGridManagementClient`` …)."""
        if not isinstance(client_class, type):
            raise TypeError(f"client({client_class!r}): expected an Azure SDK client class such as "
                            "ResourceManagementClient (the class itself, not a name or an instance).")
        params = inspect.signature(client_class.__init__).parameters
        args: list[Any] = [self.credential]
        if "subscription_id" in params:
            args.append(self.subscription_id)
        return client_class(*args, **{**self._client_kwargs, **kwargs})

    def ml_client(self, **kwargs: Any):
        """An ``azure.ai.ml.MLClient`` on the workspace (azure-ai-ml is imported only now: it is heavy)."""
        from azure.ai.ml import MLClient

        from .retrain import quiet_azure_ai_ml
        quiet_azure_ai_ml()  # no poll dots or bare colour codes landing in the learner's cells
        return MLClient(self.credential, self.subscription_id, self.resource_group, self.workspace_name,
                        **{**self._ml_kwargs(), **kwargs})

    def _ml_kwargs(self) -> dict[str, Any]:
        return {}

    def wait_for(self, condition: Callable[[], T], *, timeout: float | None = None,
                 interval: float | None = None) -> T:
        """Look at ``condition()`` until it returns something true, and return that.

        In the sandbox each look also drives the delivery engine, so events move at once (``timeout``
        defaults to 2 minutes); on Azure, where Event Grid delivers on its own and a managed deployment
        takes minutes, this looks every 15 s for up to 30 minutes. Raises ``TimeoutError`` after that.
        """
        if not callable(condition):
            raise TypeError(f"wait_for({condition!r}): expected a function to call, e.g. lambda: box.messages().")
        for name, value in (("timeout", timeout), ("interval", interval)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not value >= 0 or value == float("inf")):
                raise ValueError(f"wait_for({name}={value!r}): expected a finite number of seconds >= 0.")
        timeout = (120.0 if self.is_sandbox else 1800.0) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not (found := condition()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"wait_for: nothing came within {timeout:g} s")
            self._between_looks(interval)
        return found

    def _between_looks(self, interval: float | None) -> None:
        time.sleep(15.0 if interval is None else interval)

    def summary(self) -> dict[str, str]:
        return {"target": self.kind, "subscription": self.subscription_id,
                "resource group": self.resource_group, "workspace": self.workspace_name,
                "location": self.location}

    def __repr__(self) -> str:
        details = ", ".join(f"{k}={v!r}" for k, v in self.summary().items() if k != "target")
        return f"<{type(self).__name__} {details}>"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in self.summary().items())
        return f"<table>{rows}</table>"


@dataclass(repr=False)
class AzureTarget(Target):
    """Real Azure: ``DefaultAzureCredential`` and the workspace named by ``config.json``."""

    def _ml_kwargs(self) -> dict[str, Any]:
        # Name the public cloud: a sandbox MLClient built earlier in the kernel must not steer this one.
        return {"cloud": "AzureCloud"}


@dataclass(repr=False)
class SandboxTarget(Target):
    """The local sandbox, reached in-process (default) or over its loopback HTTPS server."""

    sandbox: Any = None
    url: str | None = None
    ca_path: str | None = None

    def _ml_kwargs(self) -> dict[str, Any]:
        from .sandbox.providers.machinelearningservices.client import ml_client_kwargs  # routes blob uploads too
        return ml_client_kwargs(self)

    def _between_looks(self, interval: float | None) -> None:
        if self.sandbox is not None:  # in-process: deliver what is due now (a served sandbox delivers by itself)
            self.sandbox.service("delivery").pump()
        time.sleep(0.05 if interval is None else interval)

    def summary(self) -> dict[str, str]:
        out = super().summary()
        out["reached"] = f"over HTTPS at {self.url}" if self.url else "in-process"
        if self.sandbox is not None:
            out["state folder"] = str(self.sandbox.folder)
        return out

    def serve(self, *, port: int = 0) -> dict[str, str]:
        """Start the loopback HTTPS server for other processes; returns its URL and CA path."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"serve(port={port!r}): expected a port number from 0 (any free port) to 65535.")
        if self.sandbox is None:
            return {"base_url": self.url or "", "ca_path": self.ca_path or ""}  # already served by another process
        server = self.sandbox.serve(port=port)
        return {"base_url": server.base_url, "ca_path": str(server.ca_path)}


def connect(target: str | None = None, *, folder: str | Path | None = None, url: str | None = None,
            ca_path: str | Path | None = None, config: str | Path | None = None,
            credential: Any = None) -> Target:
    """The lessons' target: the sandbox unless ``target="azure"`` or ``$AMLEVENTS_TARGET=azure``.

    Sandbox options: ``folder`` (state folder, default ``$AMLEVENTS_SANDBOX_DIR`` or
    ``~/.amlevents-kit/sandbox``), or ``url``/``ca_path`` (default ``$AMLEVENTS_SANDBOX_URL`` and
    ``$AMLEVENTS_SANDBOX_CA``) to use a sandbox served by another process.
    Azure options: ``config`` (path to the workspace's ``config.json``), ``credential``.
    """
    if target is not None and not isinstance(target, str):
        raise TypeError(f"connect(target={target!r}): the target must be 'sandbox' or 'azure', "
                        f"not a {type(target).__name__}.")
    kind = (target or os.environ.get(TARGET_ENV) or "sandbox").strip().lower()
    if kind == "azure":
        return _connect_azure(_path_arg("config", config), credential)
    if kind != "sandbox":
        said = f"connect(target={target!r})" if target else f"${TARGET_ENV}={os.environ.get(TARGET_ENV)!r}"
        raise ValueError(f"{said}: the target must be 'sandbox' or 'azure'.")
    url = url or os.environ.get(SANDBOX_URL_ENV)
    if url is not None and not isinstance(url, str):
        raise TypeError(f"connect(url={url!r}): the url must be a string such as 'https://127.0.0.1:8443'.")
    if url:
        _check_sandbox_url(url)
    return _connect_sandbox(_path_arg("folder", folder), url,
                            _path_arg("ca_path", ca_path or os.environ.get(SANDBOX_CA_ENV)))


def _check_sandbox_url(url: str) -> None:
    """A served sandbox is on this machine, over HTTPS: anything else is a mistake worth naming now."""
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if parts.scheme != "https" or host not in ("127.0.0.1", "localhost", "::1") or not port:
        raise ValueError(f"connect(url={url!r}): a served sandbox is at https://127.0.0.1:<port> (the URL "
                         "`amlevents-kit sandbox serve` prints); to use Azure, call connect('azure').")


def _path_arg(name: str, value: Any) -> Path | None:
    """A path argument, or a TypeError/ValueError that names the argument."""
    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"connect({name}={value!r}): expected a path (str or pathlib.Path), "
                        f"not a {type(value).__name__}.")
    if "\x00" in os.fspath(value):
        raise ValueError(f"connect({name}={value!r}): a path cannot contain a NUL character.")
    return Path(value)


def _connect_sandbox(folder: str | Path | None, url: str | None, ca_path: str | Path | None) -> SandboxTarget:
    from .sandbox import Sandbox, defaults
    common = dict(kind="sandbox", credential=SandboxCredential(), subscription_id=defaults.SUBSCRIPTION_ID,
                  resource_group=defaults.RESOURCE_GROUP, workspace_name=defaults.WORKSPACE_NAME,
                  location=defaults.LOCATION)
    if url:
        if not ca_path:
            raise ValueError("connect(url=...): also give ca_path (the sandbox server prints it) "
                             f"or set ${SANDBOX_CA_ENV}.")
        from .sandbox.arm.transport import RemoteTransport
        transport = RemoteTransport(url.rstrip("/"), str(ca_path))
        return SandboxTarget(**common, url=url.rstrip("/"), ca_path=str(ca_path),
                             _client_kwargs={"base_url": url.rstrip("/"), "connection_verify": str(ca_path),
                                             "polling_interval": 0, "transport": transport})
    try:
        sandbox = Sandbox.open(folder)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"connect(folder={str(folder)!r}): that is a file; the sandbox keeps its state in a "
                         "folder (it is made if it does not exist).") from None
    sandbox.ensure_services()  # after a restart, pending deliveries and jobs resume at once
    return SandboxTarget(**common, sandbox=sandbox,
                         _client_kwargs={"transport": sandbox.transport, "polling_interval": 0})


def find_config(start: str | Path | None = None) -> Path | None:
    """The workspace ``config.json`` Azure ML tools look for: here or above, also in ``.azureml/``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        for candidate in (folder / "config.json", folder / ".azureml" / "config.json"):
            if candidate.is_file():
                return candidate
    return None


def _connect_azure(config: str | Path | None, credential: Any) -> AzureTarget:
    path = Path(config) if config else find_config()
    if path is None:
        raise FileNotFoundError(
            "connect('azure') needs the workspace's config.json (download it from the Azure ML studio: "
            "workspace menu > 'Download config file') in this folder or one above, or config=<path>.")
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"connect('azure', config={str(path)!r}): the file does not exist.") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"connect('azure', config={str(path)!r}): that is a folder; give the path of "
                                "the config.json file in it.") from None
    except ValueError as exc:  # not JSON, or not UTF-8 text
        raise ValueError(f"config {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config {path} must hold a JSON object with subscription_id, resource_group and "
                         f"workspace_name, not a {type(data).__name__}.")
    missing = [k for k in ("subscription_id", "resource_group", "workspace_name")
               if not data.get(k) or not isinstance(data[k], str)]
    if missing:
        raise ValueError(f"config {path} lacks {', '.join(missing)} (or they are not strings); it needs "
                         "subscription_id, resource_group and workspace_name.")
    if credential is None:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential()
    return AzureTarget(kind="azure", credential=credential, subscription_id=data["subscription_id"],
                       resource_group=data["resource_group"], workspace_name=data["workspace_name"],
                       location=data.get("location", "eastus"))

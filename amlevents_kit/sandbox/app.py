"""The sandbox: one folder of state, the ARM router over it, and the services that run behind it."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Callable, Protocol

from .arm.clock import Clock
from .arm.http import Request
from .arm.lro import Operations
from .arm.router import Router
from .arm.store import Store
from .arm.transport import InProcessTransport

log = logging.getLogger("amlevents_kit.sandbox")

DB_NAME = "sandbox.db"
#: One empty file per process that has the folder open, named by its pid.
USERS = "users"


def default_folder() -> Path:
    """``$AMLEVENTS_SANDBOX_DIR``, else ``~/.amlevents-kit/sandbox``."""
    env = os.environ.get("AMLEVENTS_SANDBOX_DIR")
    return Path(env).expanduser() if env else Path.home() / ".amlevents-kit" / "sandbox"


class Service(Protocol):
    """Something that runs behind the API (a delivery worker, a mail server, a scoring server)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class Sandbox:
    """A local emulation of Azure Resource Manager over a folder of state.

    Open one with ``Sandbox.open(folder)``: a process keeps one instance per folder, and several
    processes may share a folder (the state is in SQLite).
    """

    _instances: dict[Path, "Sandbox"] = {}
    _instances_lock = threading.Lock()

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # it holds topic keys and the CA's key
        self._register_user()
        self.store = Store(self.folder / DB_NAME)
        self.clock = Clock(self.store)
        self.router = Router()
        self.operations = Operations(self.store, self.clock.now)
        self.router.add(self.operations.routes())
        self.services: dict[str, Service] = {}
        self._service_factories: dict[str, Callable[[], Service]] = {}
        self._services_lock = threading.RLock()
        self.server: Any = None
        from .providers import setup_all
        self.backends = setup_all(self)
        self._transport: InProcessTransport | None = None

    @classmethod
    def open(cls, folder: str | Path | None = None) -> "Sandbox":
        """The process's sandbox for ``folder`` (default: ``default_folder()``), created on first use."""
        path = Path(folder or default_folder()).expanduser().resolve()
        with cls._instances_lock:
            sandbox = cls._instances.get(path)
            if sandbox is None:
                sandbox = cls._instances[path] = cls(path)
            return sandbox

    # -- the wire ---------------------------------------------------------------------------------
    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        """Answer one HTTP request; every transport and server ends here."""
        self.ensure_services()
        return self.router.dispatch(Request(method, url, headers, body)).encode()

    @property
    def transport(self) -> InProcessTransport:
        """The in-process azure-core transport, shared by every client built for this sandbox."""
        if self._transport is None:
            self._transport = InProcessTransport(self.handle)
        return self._transport

    def serve(self, *, port: int = 0) -> Any:
        """Serve this sandbox over HTTPS on 127.0.0.1 in a background thread (idempotent)."""
        from .arm.server import SandboxServer
        if self.server is None:
            self.server = SandboxServer(self, port=port)
            self.server.start()
        return self.server

    # -- events -------------------------------------------------------------------------------------
    def publish(self, events: list[dict]) -> list[str]:
        """Publish system events (Event Grid schema dicts) on their topic; returns their ids.

        Workspace actions call this; Microsoft.EventGrid's backend matches the events against the
        subscriptions on the topic and queues their deliveries.
        """
        backend = self.backends.get("eventgrid")
        if backend is None:
            raise RuntimeError("The sandbox has no Microsoft.EventGrid provider to publish events with.")
        return backend.publish(events)

    # -- services ---------------------------------------------------------------------------------
    def add_service(self, name: str, factory: Callable[[], Service]) -> None:
        """Declare a service; it starts with the first request, or with ``ensure_services()``."""
        self._service_factories[name] = factory

    def ensure_services(self) -> None:
        if len(self.services) == len(self._service_factories):
            return
        with self._services_lock:
            for name, factory in self._service_factories.items():
                if name not in self.services:
                    service = factory()
                    service.start()
                    self.services[name] = service

    def service(self, name: str) -> Any:
        self.ensure_services()
        return self.services[name]

    # -- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every service and server and release the database."""
        with self._services_lock:
            for name, service in reversed(list(self.services.items())):
                try:
                    service.stop()
                except Exception:  # keep stopping the others
                    log.exception("stopping %s failed", name)
            self.services.clear()
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.store.close()
        (self.folder / USERS / str(os.getpid())).unlink(missing_ok=True)
        with self._instances_lock:
            if self._instances.get(self.folder) is self:
                del self._instances[self.folder]

    # -- who has the folder open -------------------------------------------------------------------
    def _register_user(self) -> None:
        users = self.folder / USERS
        users.mkdir(exist_ok=True)
        (users / str(os.getpid())).touch()

    def other_users(self) -> list[int]:
        """Other live processes with this folder open (notebook kernels, ``amlevents-kit sandbox serve``)."""
        pids = []
        for entry in (self.folder / USERS).glob("*"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                os.kill(int(entry.name), 0)
            except ProcessLookupError:
                entry.unlink(missing_ok=True)  # it died without closing
                continue
            except PermissionError:
                pass  # alive, someone else's
            pids.append(int(entry.name))
        return sorted(pids)

    def reset(self, *, force: bool = False) -> "Sandbox":
        """Throw the state away and start again on the same folder; clients built before keep working.

        Refused while other processes have the folder open: they would go on with the old state,
        unseen by everyone else. ``force=True`` resets anyway.
        """
        others = self.other_users()
        if others and not force:
            raise RuntimeError(
                f"Sandbox.reset: other processes still use {self.folder} (pids {', '.join(map(str, others))}): "
                "shut down the other notebooks' kernels (Kernel > Shut Down Kernel) and stop any "
                "`amlevents-kit sandbox serve`, then reset again. reset(force=True) resets anyway, and those "
                "processes go on with the old state.")
        folder = self.folder
        self.close()
        for child in folder.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        self.__init__(folder)
        with self._instances_lock:
            self._instances[folder] = self
        return self

    def __repr__(self) -> str:
        return f"<Sandbox {self.folder}>"

"""Point the real Azure CLI (``az``) at a served sandbox: its environment, and a way to run it.

``az`` treats the sandbox as a custom cloud: ``az cloud register`` reads the sandbox's
``/metadata/endpoints``, ``az login --identity`` gets a token from its managed-identity route, and
from then on ``az provider show`` or ``az eventgrid event-subscription create`` talk to it over
HTTPS on 127.0.0.1, never to Azure::

    info = target.serve()                                    # {base_url, ca_path}
    env = az_environment(info, "/tmp/azcfg")                 # environment variables for az
    for args in setup_commands(info):                        # once per config folder
        run_az(args, env=env).check()
    run_az(["provider", "show", "--namespace", "Microsoft.EventGrid"], env=env).json

azure-cli lives in its own virtual environment (``scripts/install-azure-cli.sh`` makes
``.venv-az``): its pinned SDK versions conflict with the lessons' ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

CLOUD_NAME = "AmleventsSandbox"
IDENTITY_HEADER = "amlevents-sandbox"
AZ_ENV = "AMLEVENTS_AZ"  # path of the az executable, when it is not in .venv-az or on PATH
CA_BUNDLE_NAME = "sandbox-ca-bundle.pem"

# Variables that keep az quiet and offline: no telemetry upload, no survey, no extension installs,
# no MSAL instance discovery at login.microsoftonline.com (see /work/shared/spec/azure-cli.md §6).
QUIET = {
    "AZURE_CORE_COLLECT_TELEMETRY": "no",
    "AZURE_CORE_SURVEY_MESSAGE": "no",
    "AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "no",
    "AZURE_CORE_INSTANCE_DISCOVERY": "false",
    "AZURE_CORE_NO_COLOR": "true",
}


class AzError(RuntimeError):
    """An ``az`` command that exited non-zero when it was expected to succeed."""


@dataclass
class AzResult:
    """What one ``az`` invocation did: its arguments, exit code and output."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        """stdout parsed as JSON (``None`` when the command printed nothing)."""
        return json.loads(self.stdout) if self.stdout.strip() else None

    def check(self) -> "AzResult":
        """Raise ``AzError`` with az's own message unless the command exited 0."""
        if self.returncode != 0:
            raise AzError(f"az {' '.join(self.args)} exited {self.returncode}: {self.stderr.strip()}")
        return self


def server_info(source: Any) -> dict[str, str]:
    """``{base_url, ca_path}`` of a served sandbox, from a target, a ``Sandbox``, a dict or a state folder.

    A target or ``Sandbox`` is served first if it is not yet (``serve()`` is idempotent); a folder is
    read from the ``server.json`` that ``amlevents-kit sandbox serve`` writes there.
    """
    if isinstance(source, Mapping):
        info = dict(source)
    elif isinstance(source, (str, Path)):
        path = Path(source).expanduser() / "server.json"
        if not path.is_file():
            raise FileNotFoundError(f"No sandbox server is running on {Path(source).expanduser()} "
                                    f"({path} is missing); start one with `amlevents-kit sandbox serve`.")
        info = json.loads(path.read_text())
    elif hasattr(source, "serve"):
        served = source.serve()
        info = served if isinstance(served, Mapping) else {"base_url": served.base_url,
                                                            "ca_path": str(served.ca_path)}
    else:
        raise TypeError(f"server_info() takes a sandbox target, a Sandbox, a {{base_url, ca_path}} dict "
                        f"or a sandbox folder, not {type(source).__name__}.")
    missing = [k for k in ("base_url", "ca_path") if not info.get(k)]
    if missing:
        raise ValueError(f"The server info lacks {', '.join(missing)}; it needs base_url and ca_path.")
    return {"base_url": str(info["base_url"]).rstrip("/"), "ca_path": str(info["ca_path"])}


def az_environment(source: Any, config_dir: str | Path, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ``az`` needs to use the sandbox ``source`` (see ``server_info``) as its cloud.

    ``config_dir`` becomes ``AZURE_CONFIG_DIR`` (never ``~/.azure``; use one folder per server:
    the cloud definition holds the port). The folder gets the CA bundle az trusts (public roots
    plus the sandbox CA) and a version-check record that stops az looking for updates online.
    The managed-identity variables point at the sandbox's token route; they must be set on every
    call, else az would ask the machine's real identity endpoint. ``base`` (default
    ``os.environ``) is the environment to extend.
    """
    info = server_info(source)
    folder = Path(config_dir).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    bundle = _write_ca_bundle(Path(info["ca_path"]), folder / CA_BUNDLE_NAME)
    _seed_version_check(folder)
    env = dict(os.environ if base is None else base)
    for name in ("MSI_ENDPOINT", "MSI_SECRET", "AZURE_CLI_DISABLE_CONNECTION_VERIFICATION"):
        env.pop(name, None)  # another identity endpoint or switched-off TLS checks would win over ours
    env.update(QUIET)
    env.update({
        "AZURE_CONFIG_DIR": str(folder),
        "REQUESTS_CA_BUNDLE": str(bundle),
        "IDENTITY_ENDPOINT": f"{info['base_url']}/msi/token",
        "IDENTITY_HEADER": IDENTITY_HEADER,
    })
    return env


def setup_commands(source: Any, *, cloud_name: str = CLOUD_NAME) -> list[list[str]]:
    """The one-time ``az`` commands for a new config folder: register the cloud, select it, log in."""
    info = server_info(source)
    return [
        ["cloud", "register", "--name", cloud_name, "--endpoint-resource-manager", info["base_url"] + "/"],
        ["cloud", "set", "--name", cloud_name],
        ["login", "--identity"],
    ]


def find_az() -> str | None:
    """The ``az`` executable: ``$AMLEVENTS_AZ``, then the project's ``.venv-az``, then ``PATH``."""
    explicit = os.environ.get(AZ_ENV)
    if explicit:
        return explicit
    for root in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = root / ".venv-az" / "bin" / "az"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("az")


def run_az(args: Sequence[str], *, env: Mapping[str, str], az: str | None = None, output: str | None = "json",
           timeout: float = 120) -> AzResult:
    """Run ``az *args`` with ``env`` (from ``az_environment``) and return its exit code and output.

    ``output`` adds ``-o <output>`` (``None`` leaves az's default). Exit codes follow az: 0 success,
    1 error (a failed operation), 2 bad arguments, 3 resource not found.
    """
    executable = az or find_az()
    if not executable:
        raise FileNotFoundError("The Azure CLI is not installed; run scripts/install-azure-cli.sh "
                                f"(it makes .venv-az) or set ${AZ_ENV} to the az executable.")
    argv = [str(a) for a in args]
    if output and "-o" not in argv and "--output" not in argv:
        argv += ["-o", output]
    done = subprocess.run([executable, *argv], env=dict(env), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return AzResult(argv, done.returncode, done.stdout, done.stderr)


def shell_exports(env: Mapping[str, str]) -> list[str]:
    """``export NAME=value`` lines for the variables ``az_environment`` sets."""
    from shlex import quote
    names = ["AZURE_CONFIG_DIR", "REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", *QUIET]
    return [f"export {name}={quote(env[name])}" for name in names]


def _write_ca_bundle(ca_path: Path, bundle: Path) -> Path:
    """Public roots (certifi) plus the sandbox CA, so one bundle serves the sandbox and anything else."""
    if not ca_path.is_file():
        raise FileNotFoundError(f"The sandbox CA file {ca_path} does not exist; is the server running?")
    parts = []
    try:
        import certifi
        parts.append(Path(certifi.where()).read_text())
    except (ImportError, OSError):
        pass
    parts.append(ca_path.read_text())
    bundle.write_text("\n".join(p.rstrip("\n") + "\n" for p in parts))
    return bundle


def _seed_version_check(folder: Path) -> None:
    """Tell az its version was checked and is current, so it never looks for updates online."""
    path = folder / "versionCheck.json"
    version = _installed_az_version()
    if path.exists() or version is None:
        return
    current = {"local": version, "pypi": version}
    path.write_text(json.dumps({"versions": {"azure-cli": current, "core": current},
                                "update_time": "2099-01-01 00:00:00.000000"}))


def _installed_az_version() -> str | None:
    """azure-cli-core's version in the az environment, read from its metadata without running az."""
    az = find_az()
    if not az:
        return None
    venv = Path(az).resolve().parent.parent
    for dist in venv.glob("lib/python*/site-packages/azure_cli_core-*.dist-info"):
        return dist.name[len("azure_cli_core-"):-len(".dist-info")]
    return None

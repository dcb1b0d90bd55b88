"""The ``amlevents-kit`` command: serve, inspect and reset the sandbox from a terminal."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .sandbox import Sandbox, default_folder


def _serve(args: argparse.Namespace) -> int:
    sandbox = Sandbox.open(args.folder)
    server = sandbox.serve(port=args.port)
    sandbox.ensure_services()
    info = {"base_url": server.base_url, "ca_path": str(server.ca_path), "folder": str(sandbox.folder)}
    if args.json:
        print(json.dumps(info), flush=True)
    else:
        print(f"amlevents-kit sandbox serving {sandbox.folder}", flush=True)
        print(f"  base URL : {server.base_url}")
        print(f"  CA file  : {server.ca_path}")
        print("Use it from another Python process:")
        print(f"  export AMLEVENTS_SANDBOX_URL={server.base_url}")
        print(f"  export AMLEVENTS_SANDBOX_CA={server.ca_path}")
        print("Use it from the Azure CLI: see `amlevents-kit sandbox az-env`.")
        print("Ctrl-C stops the server.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    sandbox.close()
    return 0


def _reset(args: argparse.Namespace) -> int:
    sandbox = Sandbox.open(args.folder)
    try:
        sandbox.reset(force=args.force)
    except RuntimeError as exc:
        print(f"amlevents-kit sandbox reset: {str(exc).replace('reset(force=True)', '--force')}", file=sys.stderr)
        return 1
    finally:
        sandbox.close()
    print(f"reset {sandbox.folder}")
    return 0


def _info(args: argparse.Namespace) -> int:
    sandbox = Sandbox.open(args.folder)
    print(json.dumps({"folder": str(sandbox.folder), "now": sandbox.clock.isoformat()}, indent=2))
    sandbox.close()
    return 0


def _az_env(args: argparse.Namespace) -> int:
    """Print what the Azure CLI needs to use a running sandbox server as its cloud."""
    from pathlib import Path
    from shlex import join, quote
    from . import azcli
    folder = Path(args.folder or default_folder()).expanduser().resolve()
    try:
        info = azcli.server_info(folder)
        _check_answers(info)
    except (OSError, ValueError) as exc:
        print(f"amlevents-kit sandbox az-env: {exc}", file=sys.stderr)
        return 1
    port = info["base_url"].rsplit(":", 1)[-1]
    env = azcli.az_environment(info, args.config_dir or folder / "azure-cli" / port, base={})
    az = azcli.find_az() or "az"
    register, select, login = ([az, *c] for c in azcli.setup_commands(info))
    if args.json:
        print(json.dumps({"server": info, "env": {k: env[k] for k in sorted(env)},
                          "setup": [register, select, login]}, indent=2))
        return 0
    print(f"# The Azure CLI (az) against the amlevents-kit sandbox at {info['base_url']}.")
    print('# Load it into this shell with:  eval "$(amlevents-kit sandbox az-env)"')
    print("\n".join(azcli.shell_exports(env)))
    if az != "az":
        print(f"alias az={quote(az)}")
    print("# One-time setup of this config folder (skipped when already done):")
    print(f"{join([az, 'cloud', 'show', '--name', register[4], '-o', 'none'])} 2>/dev/null || {join(register)}")
    print(f"{join(select)} 2>/dev/null")
    print(f"{join([az, 'account', 'show', '-o', 'none'])} 2>/dev/null || {join([*login, '-o', 'none'])}")
    return 0


def _check_answers(info: dict[str, str]) -> None:
    """Raise OSError unless the server named by ``server.json`` answers (it may have died)."""
    import ssl
    import urllib.request
    context = ssl.create_default_context(cafile=info["ca_path"])
    try:
        urllib.request.urlopen(info["base_url"] + "/metadata/endpoints", context=context, timeout=5).close()
    except OSError as exc:
        raise OSError(f"the sandbox server at {info['base_url']} does not answer ({exc}); "
                      "start one with `amlevents-kit sandbox serve`.") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amlevents-kit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sb = sub.add_parser("sandbox", help="the local sandbox").add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--folder", default=None, help=f"sandbox state folder (default {default_folder()})")
    serve = sb.add_parser("serve", parents=[common], help="serve the sandbox over HTTPS on 127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    serve.add_argument("--json", action="store_true", help="print the connection details as one JSON line")
    serve.set_defaults(func=_serve)
    reset = sb.add_parser("reset", parents=[common], help="delete the sandbox's state")
    reset.add_argument("--force", action="store_true", help="reset even while other processes use the folder")
    reset.set_defaults(func=_reset)
    sb.add_parser("info", parents=[common], help="show the sandbox folder and clock").set_defaults(func=_info)
    az_env = sb.add_parser("az-env", parents=[common],
                           help="print the environment and one-time commands for the Azure CLI (az)")
    az_env.add_argument("--config-dir", default=None,
                        help="AZURE_CONFIG_DIR for az (default: <folder>/azure-cli/<port>)")
    az_env.add_argument("--json", action="store_true", help="print the environment and commands as JSON")
    az_env.set_defaults(func=_az_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileExistsError, NotADirectoryError) as exc:  # --folder names a file
        print(f"amlevents-kit {args.command}: {exc.filename} is a file; --folder takes the sandbox's state folder.",
              file=sys.stderr)
    except OSError as exc:  # the port is taken, the folder cannot be written …
        print(f"amlevents-kit {args.command}: {exc.strerror or exc}"
              f"{f' (port {args.port})' if getattr(args, 'port', 0) else ''}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

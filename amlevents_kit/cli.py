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
    sandbox = Sandbox.open(args.folder).reset()
    print(f"reset {sandbox.folder}")
    sandbox.close()
    return 0


def _info(args: argparse.Namespace) -> int:
    sandbox = Sandbox.open(args.folder)
    print(json.dumps({"folder": str(sandbox.folder), "now": sandbox.clock.isoformat()}, indent=2))
    sandbox.close()
    return 0


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
    sb.add_parser("reset", parents=[common], help="delete the sandbox's state").set_defaults(func=_reset)
    sb.add_parser("info", parents=[common], help="show the sandbox folder and clock").set_defaults(func=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

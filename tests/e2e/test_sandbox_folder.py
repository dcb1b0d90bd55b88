"""One sandbox folder, several processes: one CA for every server, a server.json that stays true,
a reset that refuses to pull the state from under another process, secrets readable by their owner only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from amlevents_kit.sandbox import Sandbox

KIT = [sys.executable, "-m", "amlevents_kit.cli"]


@pytest.fixture
def served(tmp_path):
    """``amlevents-kit sandbox serve`` in its own process, as a learner starts it in a terminal."""
    folder = tmp_path / "sb"
    proc = subprocess.Popen([*KIT, "sandbox", "serve", "--folder", str(folder), "--json"], stdout=subprocess.PIPE,
                            text=True)
    info = json.loads(proc.stdout.readline())
    yield folder, info, proc
    proc.terminate()
    proc.wait(timeout=30)


def _answers(base_url: str, ca_path: str) -> int:
    return requests.get(f"{base_url}/metadata/endpoints?api-version=2022-09-01", verify=ca_path, timeout=10).status_code


def test_a_kernel_server_beside_the_terminal_one_shares_its_ca_and_leaves_its_record(served):
    folder, info, _ = served
    ca_before = Path(info["ca_path"]).read_bytes()
    sandbox = Sandbox.open(folder)
    second = sandbox.serve()  # what a kernel does for a validationUrl or a topic endpoint
    try:
        assert Path(info["ca_path"]).read_bytes() == ca_before
        assert _answers(info["base_url"], info["ca_path"]) == 200
        assert _answers(second.base_url, info["ca_path"]) == 200  # one CA file trusts both
        assert json.loads((folder / "server.json").read_text())["base_url"] == info["base_url"]
    finally:
        sandbox.close()
    assert json.loads((folder / "server.json").read_text())["base_url"] == info["base_url"]
    assert _answers(info["base_url"], info["ca_path"]) == 200


def test_reset_is_refused_while_another_process_uses_the_folder(served):
    folder, _, proc = served
    sandbox = Sandbox.open(folder)
    try:
        assert sandbox.other_users() == [proc.pid]
        with pytest.raises(RuntimeError, match=rf"pids {proc.pid}.*Shut Down Kernel"):
            sandbox.reset()
    finally:
        sandbox.close()
    refused = subprocess.run([*KIT, "sandbox", "reset", "--folder", str(folder)], capture_output=True, text=True)
    assert refused.returncode == 1 and f"pids {proc.pid}" in refused.stderr and "--force" in refused.stderr
    proc.terminate()
    proc.wait(timeout=30)
    done = subprocess.run([*KIT, "sandbox", "reset", "--folder", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"reset {folder.resolve()}"


def test_a_dead_process_does_not_block_a_reset(tmp_path):
    folder = tmp_path / "sb"
    code = f"from amlevents_kit.sandbox import Sandbox; Sandbox.open({str(folder)!r}); import os; os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True)  # opened, then died without closing
    sandbox = Sandbox.open(folder)
    try:
        assert sandbox.other_users() == []
        sandbox.reset()
    finally:
        sandbox.close()


def test_secrets_in_the_folder_are_the_owners_only(tmp_path):
    sandbox = Sandbox.open(tmp_path / "sb")
    try:
        server = sandbox.serve()
        assert os.stat(sandbox.folder).st_mode & 0o777 == 0o700
        assert os.stat(sandbox.folder / "tls" / "ca-key.pem").st_mode & 0o777 == 0o600
        assert not (sandbox.folder / "tls" / "server.pem").exists()  # the server's key stays in memory
        assert Path(server.ca_path).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    finally:
        sandbox.close()


def test_the_serve_command_names_a_taken_port_and_a_file_given_as_folder(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run([*KIT, "sandbox", "serve", "--folder", str(tmp_path / "a"), "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1 and f"Address already in use (port {port})" in busy.stderr
    assert "Traceback" not in busy.stderr
    a_file = tmp_path / "file"
    a_file.write_text("x")
    wrong = subprocess.run([*KIT, "sandbox", "info", "--folder", str(a_file)], capture_output=True, text=True)
    assert wrong.returncode == 1 and "is a file; --folder takes the sandbox's state folder" in wrong.stderr


@pytest.mark.parametrize("args, error", [
    ((float("nan"),), ValueError), ((float("inf"),), ValueError), (("5",), TypeError), ((True,), TypeError),
    ((-1,), ValueError), ((0, 0, 1e9), ValueError),
])
def test_clock_advance_refuses_what_would_break_the_sandbox(sandbox, args, error):
    before = sandbox.clock.now()
    with pytest.raises(error, match="advance"):
        sandbox.clock.advance(*args[:1], minutes=args[1] if len(args) > 1 else 0,
                              hours=args[2] if len(args) > 2 else 0)
    assert before <= sandbox.clock.now() < before + 60
    sandbox.clock.isoformat()  # still a real time

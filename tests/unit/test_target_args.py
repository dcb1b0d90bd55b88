"""connect(), Target and ensure_providers name the argument a learner got wrong, in plain words."""

from __future__ import annotations

import pytest

from amlevents_kit import connect, ensure_providers


@pytest.mark.parametrize("call, error, said", [
    (lambda t: t.client("ResourceManagementClient"), TypeError, "expected an Azure SDK client class"),
    (lambda t: t.client(5), TypeError, "expected an Azure SDK client class"),
    (lambda t: t.wait_for(5), TypeError, "expected a function to call"),
    (lambda t: t.wait_for(lambda: 0, timeout="x"), ValueError, "wait_for(timeout='x')"),
    (lambda t: t.wait_for(lambda: 0, interval=float("nan")), ValueError, "wait_for(interval=nan)"),
    (lambda t: t.serve(port="x"), ValueError, "serve(port='x')"),
    (lambda t: t.serve(port=70000), ValueError, "from 0 (any free port) to 65535"),
    (lambda t: ensure_providers(None), TypeError, "expected the target from amlevents_kit.connect()"),
    (lambda t: ensure_providers(t, []), ValueError, "expected names such as 'Microsoft.EventGrid'"),
])
def test_wrong_arguments_are_named(target, call, error, said):
    with pytest.raises(error) as info:
        call(target)
    assert said in str(info.value)


def test_a_single_namespace_is_not_taken_letter_by_letter(target):
    assert ensure_providers(target, "Microsoft.EventGrid", quiet=True) == {"Microsoft.EventGrid": "Registered"}


@pytest.mark.parametrize("url", ["not a url", "https://example.com:443", "http://127.0.0.1:8443", "https://127.0.0.1"])
def test_a_served_sandbox_url_must_be_https_on_this_machine(tmp_path, url):
    with pytest.raises(ValueError, match=r"served sandbox is at https://127.0.0.1:<port>"):
        connect(url=url, ca_path=tmp_path / "ca.pem")


def test_paths_that_are_the_wrong_kind_of_thing(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="that is a file; the sandbox keeps its state in a folder"):
        connect(folder=a_file)
    with pytest.raises(IsADirectoryError, match="that is a folder; give the path of the config.json"):
        connect("azure", config=tmp_path)


def test_a_wrong_target_in_the_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("AMLEVENTS_TARGET", "Azur")
    with pytest.raises(ValueError, match=r"\$AMLEVENTS_TARGET='Azur': the target must be 'sandbox' or 'azure'"):
        connect()

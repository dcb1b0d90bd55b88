"""The webhook receiver: both handshakes, typed dispatch, failing on purpose, and the Azure Functions export."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import sys
from datetime import datetime, timezone

import httpx
import pytest

from amlevents_kit import events
from amlevents_kit.receiver import Receiver

WS = events.workspace_topic("00000000-0000-0000-0000-000000000000", "rg", "ws")


def post(rx: Receiver, payload, **headers) -> httpx.Response:
    return httpx.post(rx.url, content=json.dumps(payload), headers={"Content-Type": "application/json", **headers})


def test_binds_loopback_and_answers_the_event_grid_handshake(rx):
    assert rx.url.startswith("http://127.0.0.1:")
    assert rx._socket.getsockname()[0] == "127.0.0.1"  # loopback only, never 0.0.0.0
    ev = events.subscription_validation(topic="/subscriptions/x", validation_code="code-1",
                                        validation_url="https://127.0.0.1:1/validate?x")
    r = post(rx, [ev], **{"aeg-event-type": "SubscriptionValidation"})
    assert r.status_code == 200 and r.json() == {"validationResponse": "code-1"}
    assert rx.validation_urls == ["https://127.0.0.1:1/validate?x"] and rx.received == []


def test_manual_mode_answers_200_without_the_code(rx):
    rx.auto_validate = False
    ev = events.subscription_validation(topic="/subscriptions/x", validation_code="c", validation_url="https://v")
    r = post(rx, [ev], **{"aeg-event-type": "SubscriptionValidation"})
    assert r.status_code == 200 and r.content == b""


def test_answers_the_cloudevents_options_handshake(rx):
    r = httpx.options(rx.url, headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert r.status_code == 200 and r.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert "POST" in r.headers["Allow"]


def test_dispatches_typed_events_by_type(rx):
    models, everything = [], []

    @rx.on(events.MODEL_REGISTERED)
    def on_model(event):
        models.append((event.data.model_name, event.data.model_version))

    rx.on()(lambda e: everything.append(e.type))
    a = events.model_registered(topic=WS, model_name="churn", model_version="3")
    b = events.run_completed(topic=WS, experiment_id="e", experiment_name="x", run_id="r1")
    assert post(rx, [a, b]).status_code == 200
    assert models == [("churn", "3")]
    assert everything == [events.MODEL_REGISTERED, events.RUN_COMPLETED]
    assert [e.id for e in rx.received] == [a["id"], b["id"]]


def test_cloudevent_structured_body_is_parsed(rx):
    ce = events.model_registered(topic=WS, model_name="m", model_version="1", schema=events.CLOUDEVENT_SCHEMA)
    r = httpx.post(rx.url, content=json.dumps(ce), headers={"Content-Type": "application/cloudevents+json"})
    assert r.status_code == 200 and rx.received[0].schema == events.CLOUDEVENT_SCHEMA


def test_fail_with_then_recover(rx):
    ev = events.model_registered(topic=WS, model_name="m", model_version="1")
    rx.fail_with(503, times=2)
    assert [post(rx, [ev]).status_code for _ in range(3)] == [503, 503, 200]
    rx.fail_with(500)
    assert post(rx, [ev]).status_code == 500
    rx.recover()
    assert post(rx, [ev]).status_code == 200
    assert len(rx.received) == 2 and [d.status for d in rx.notifications()] == [503, 503, 200, 500, 200]


def test_a_failing_handler_answers_500(rx):
    @rx.on(events.MODEL_REGISTERED)
    def broken(event):
        raise RuntimeError("model store is down")

    r = post(rx, [events.model_registered(topic=WS, model_name="m", model_version="1")])
    assert r.status_code == 500
    assert "RuntimeError: model store is down" in rx.deliveries[-1].error and rx.received == []


def test_malformed_body_is_a_400(rx):
    r = httpx.post(rx.url, content=b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    deep = httpx.post(rx.url, content=b"[" * 100_000 + b"]" * 100_000)
    assert deep.status_code == 400 and "deep" in deep.json()["error"]


@pytest.mark.parametrize("body", [[], "two"])
def test_a_validation_delivery_without_exactly_one_validation_event_is_a_400(rx, body):
    payload = [] if body == [] else [events.model_registered(topic=WS, model_name="m", model_version="1")] * 2
    r = post(rx, payload, **{"aeg-event-type": "SubscriptionValidation"})
    assert r.status_code == 400 and "exactly one" in r.json()["error"]


@pytest.mark.parametrize("kwargs,field", [({"status": 42}, "status"), ({"delay": -1}, "delay"),
                                          ({"times": 0}, "times")])
def test_fail_with_checks_its_arguments(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Receiver().fail_with(**kwargs)


def test_url_before_start_is_a_clear_error():
    with pytest.raises(RuntimeError, match="start"):
        Receiver().url


PREFIX = "model "


def describe(event) -> str:
    """A module-level helper the handler calls: the export copies it (and the constant it reads)."""
    return PREFIX + event.subject.split("/", 1)[1]


def on_model_registered(event):
    """Module-level handler so its source can be exported."""
    print(describe(event), json.dumps(event.type.rsplit(".", 1)[-1]))
    if event.subject.startswith("models/boom"):
        raise ValueError("boom")


async def on_run_completed(event):
    """An async handler: its trigger must await it."""
    await asyncio.sleep(0)
    print("run", event.data.run_id, "completed")


def test_export_function_app_imports_and_runs(tmp_path, capsys):
    """The exported app is imported with the real azure-functions package and its triggers are called.

    The handlers use what a real one does: a helper function, a constant and ``import json`` from their
    module, an ``async def``, and one handler registered for two sets of event types.
    """
    pytest.importorskip("azure.functions")
    import azure.functions as func

    rx = Receiver()
    rx.on(events.MODEL_REGISTERED)(on_model_registered)
    rx.on([events.MODEL_DEPLOYED, events.MODEL_REGISTERED])(on_model_registered)  # the same handler again
    rx.on(events.RUN_COMPLETED)(on_run_completed)
    folder = rx.export_function_app(tmp_path / "app")
    assert {p.name for p in folder.iterdir()} >= {"function_app.py", "host.json", "requirements.txt",
                                                  "local.settings.json", "amlevents_kit"}
    assert json.loads((folder / "host.json").read_text())["version"] == "2.0"
    assert "azure-functions" in (folder / "requirements.txt").read_text()
    source = (folder / "function_app.py").read_text()
    assert "@app.event_grid_trigger" in source and "def on_model_registered(event):" in source
    assert source.count("def on_model_registered(event):") == 1 and "def describe(event)" in source
    assert "PREFIX = 'model '" in source and "import json" in source and "import asyncio" in source
    assert "rx.on" not in source

    sys.path.insert(0, str(folder))
    saved = {k: v for k, v in sys.modules.items() if k == "amlevents_kit" or k.startswith("amlevents_kit.")}
    for k in saved:
        del sys.modules[k]
    try:
        spec = importlib.util.spec_from_file_location("exported_function_app", folder / "function_app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.parse_event.__module__ == "amlevents_kit.events.parse"
        assert sys.modules["amlevents_kit"].__file__.startswith(str(folder))  # the vendored copy
    finally:
        sys.path.remove(str(folder))
        for k in [k for k in sys.modules if k == "amlevents_kit" or k.startswith("amlevents_kit.")]:
            del sys.modules[k]
        sys.modules.update(saved)
    functions = module.app.get_functions()  # azure-functions refuses two functions with the same name here
    assert [f.get_function_name() for f in functions] == ["on_model_registered", "on_run_completed"]
    for function in functions:
        (binding,) = function.get_bindings()
        assert binding.type == "eventGridTrigger" and binding.name == "azevent"

    def azevent(subject: str, event_type: str, data: dict) -> func.EventGridEvent:
        return func.EventGridEvent(id="1", topic=WS, subject=subject, event_type=event_type,
                                   event_time=datetime(2025, 1, 1, tzinfo=timezone.utc), data_version="2", data=data)

    def fire(name: str, event_type: str = events.MODEL_REGISTERED):
        module.on_model_registered_trigger(azevent(f"models/{name}:2", event_type,
                                                   {"modelName": name, "modelVersion": "2"}))

    fire("churn")
    assert capsys.readouterr().out == 'model churn:2 "ModelRegistered"\n'
    fire("churn", events.RUN_COMPLETED)  # other types are not this handler's
    assert capsys.readouterr().out == ""
    module.on_model_registered_trigger(azevent("endpoints/churn-ep", events.MODEL_DEPLOYED, {
        "serviceName": "churn-ep", "serviceComputeType": "Managed", "modelIds": "churn:2"}))
    assert capsys.readouterr().out == 'model churn-ep "ModelDeployed"\n'
    with pytest.raises(ValueError, match="boom"):
        fire("boom")
    capsys.readouterr()
    (runs,) = [f for f in functions if f.get_function_name() == "on_run_completed"]
    assert inspect.iscoroutinefunction(runs.get_user_function())  # the worker awaits an async trigger
    asyncio.run(module.on_run_completed_trigger(azevent("experiments/e/runs/r1", events.RUN_COMPLETED, {
        "experimentId": "e", "experimentName": "x", "runId": "r1", "runType": "command"})))
    assert capsys.readouterr().out == "run r1 completed\n"


def test_export_stops_naming_what_a_handler_uses_that_cannot_be_copied(tmp_path):
    rx = Receiver()
    client = httpx.Client()

    def forward(event):
        client.post("https://example.com", json={"id": event.id})

    rx.on()(forward)
    with pytest.raises(ValueError, match=r"forward uses client \(Client\)"):
        rx.export_function_app(tmp_path / "app")
    client.close()
    assert not (tmp_path / "app" / "function_app.py").exists()


def test_export_refuses_two_different_handlers_with_the_same_name(tmp_path):
    def elsewhere():
        def on_model_registered(event):  # another function with the same name
            return None
        return on_model_registered

    rx = Receiver()
    rx.on(events.MODEL_REGISTERED)(on_model_registered)
    rx.on(events.RUN_COMPLETED)(elsewhere())
    with pytest.raises(ValueError, match="two different handlers are named 'on_model_registered'"):
        rx.export_function_app(tmp_path / "app")


def test_export_refuses_lambdas_and_empty_receivers(tmp_path):
    with pytest.raises(ValueError, match="no handler"):
        Receiver().export_function_app(tmp_path)
    rx = Receiver()
    rx.on()(lambda e: None)
    with pytest.raises(ValueError, match="lambda"):
        rx.export_function_app(tmp_path)


@pytest.mark.parametrize("kwargs,field", [({"path": 5}, "path"), ({"path": "/a b"}, "path"), ({"port": "80"}, "port"),
                                          ({"port": 70000}, "port"), ({"port": True}, "port")])
def test_receiver_checks_its_arguments(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        Receiver(**kwargs)


@pytest.mark.parametrize("kwargs,field", [({"status": "500"}, "status"), ({"status": 500.5}, "status"),
                                          ({"delay": "1"}, "delay"), ({"delay": float("nan")}, "delay"),
                                          ({"times": 1.5}, "times")])
def test_fail_with_names_an_argument_of_the_wrong_type(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        Receiver().fail_with(**kwargs)


@pytest.mark.parametrize("kwargs,field", [({"folder": 5}, "folder"), ({"folder": "a\x00b"}, "folder"),
                                          ({"folder": "out", "app_name": 5}, "app_name")])
def test_export_function_app_names_a_bad_argument(kwargs, field, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    receiver = Receiver()
    receiver.on(None)(lambda event: None)
    with pytest.raises(ValueError, match=f"^{field}: "):
        receiver.export_function_app(**kwargs)

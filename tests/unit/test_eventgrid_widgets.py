"""The subscription form and the delivery monitor, driven without a browser (set values, click, assert)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.eventgrid import EventGridManagementClient

from amlevents_kit.sandbox import defaults
from amlevents_kit.widgets.subscription import DeliveryMonitor, SubscriptionForm

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"


class Endpoint:
    """A webhook on 127.0.0.1: validates, then answers ``status`` to notifications."""

    def __init__(self) -> None:
        self.status = 200
        self.notifications: list = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                out, status = b"", endpoint.status
                if self.headers.get("aeg-event-type") == "SubscriptionValidation":
                    out, status = json.dumps({"validationResponse": body[0]["data"]["validationCode"]}).encode(), 200
                else:
                    endpoint.notifications.append(body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/events"


@pytest.fixture
def endpoint():
    e = Endpoint()
    yield e
    e.server.shutdown()


@pytest.fixture
def registered(target):
    target.sandbox.backends["resources"].register(defaults.SUBSCRIPTION_ID, "Microsoft.EventGrid")
    target.sandbox.clock.advance(seconds=5)
    return target


def text(output) -> str:
    return "".join(o.get("text", "") for o in output.outputs)


def guide_form(target, url: str) -> SubscriptionForm:
    form = SubscriptionForm(target, name="model-registered", endpoint=url)
    form.types[MODEL_REGISTERED].value = True
    form.subject_begins.value = "models/mymodelname"
    return form


def test_form_builds_the_sdk_model(target, endpoint):
    form = guide_form(target, endpoint.url)
    form.add_filter("data.modelTags.stage", "StringIn", "production, staging")
    form.add_filter("data.driftCoefficient", "NumberInRange", "0.5,1; 2,3")
    form.attempts.value = 5
    form.dead_letter.value = True
    sub = form.model()
    assert sub.filter.included_event_types == [MODEL_REGISTERED]
    assert sub.filter.subject_begins_with == "models/mymodelname"
    assert sub.filter.advanced_filters[0].values == ["production", "staging"]
    assert sub.filter.advanced_filters[1].values == [[0.5, 1], [2, 3]]
    assert sub.retry_policy.max_delivery_attempts == 5
    assert sub.dead_letter_destination.blob_container_name == "deadletters"
    assert sub.destination.endpoint_url == endpoint.url


def test_check_button_shows_lint_and_the_az_command(target, endpoint):
    form = guide_form(target, endpoint.url)
    row = form.add_filter("data.isProduction", "BoolEquals", "false")
    form.preview_button.click()
    az = text(form.az_out)
    assert "az eventgrid event-subscription create" in az
    assert "--included-event-types Microsoft.MachineLearningServices.ModelRegistered" in az
    assert "--subject-begins-with models/mymodelname" in az
    assert f"--source-resource-id {target.workspace_id}" in az
    assert "--advanced-filter data.isProduction BoolEquals false" in az
    assert "'false' becomes true" in az
    row.remove.click()
    form.subject_begins.value = "endpoints/"
    form.preview_button.click()
    assert "error" in text(form.lint_out)  # a ModelRegistered subject never begins with endpoints/


def test_remove_button_drops_the_row(target, endpoint):
    form = guide_form(target, endpoint.url)
    form.add_row.click()
    form.add_row.click()
    assert len(form.rows.children) == 2
    form.rows.children[0].remove.click()
    assert len(form.rows.children) == 1


def test_create_button_creates_through_the_target(registered, endpoint):
    form = guide_form(registered, endpoint.url)
    form.create_button.click()
    out = text(form.result_out)
    assert out.startswith("model-registered: Succeeded")
    assert "https" in out  # the sandbox says Azure would want https
    eg = registered.client(EventGridManagementClient)
    got = eg.event_subscriptions.get(registered.workspace_id, "model-registered")
    assert got.filter.subject_begins_with == "models/mymodelname"


def test_create_button_shows_azures_refusal(registered):
    form = guide_form(registered, "https://example.com/hook")
    form.create_button.click()
    assert "refused (InvalidRequest)" in text(form.result_out)


def test_monitor_shows_deliveries_and_retries_on_the_sandbox_clock(registered, endpoint):
    guide_form(registered, endpoint.url).create_button.click()
    monitor = DeliveryMonitor(registered)
    assert monitor.rows == [] and "no deliveries" in monitor.table.value
    endpoint.status = 500
    registered.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="mymodelname", modelVersion="1")
    monitor.deliver_button.click()
    assert [(r["state"], r["attempts"], r["last status"]) for r in monitor.rows] == [("pending", 1, 500)]
    endpoint.status = 200
    monitor.clock_buttons["+10 s"].click()
    assert [(r["state"], r["attempts"], r["last status"]) for r in monitor.rows] == [("delivered", 2, 200)]
    assert "delivered" in monitor.table.value
    assert len(endpoint.notifications) == 2


def test_form_redraws_lint_and_az_as_values_change(target, endpoint):
    form = guide_form(target, endpoint.url)
    assert "--subject-begins-with models/mymodelname" in text(form.az_out)
    form.subject_ends.value = ":3"
    assert "--subject-ends-with :3" in text(form.az_out)
    row = form.add_filter()
    row.key.value = "data.modelTags.stage"
    row.values.value = "production"
    assert "--advanced-filter data.modelTags.stage StringIn production" in text(form.az_out)


def test_monitor_refreshes_by_itself_when_started(registered, endpoint):
    guide_form(registered, endpoint.url).create_button.click()
    monitor = DeliveryMonitor(registered, interval=0.02)
    monitor.start()
    try:
        registered.sandbox.backends["eventgrid"].fire("ModelRegistered", modelName="mymodelname", modelVersion="9")
        registered.sandbox.service("delivery").pump()
        import time
        for _ in range(250):  # waits for the background refresh; no speed is asserted
            if monitor.rows and monitor.rows[0]["state"] == "delivered":
                break
            time.sleep(0.02)
    finally:
        monitor.stop()
    assert [(r["subject"], r["state"]) for r in monitor.rows] == [("models/mymodelname:9", "delivered")]


# -- the Create button: nothing fails silently (an ipywidgets handler that raises is only logged in
#    JupyterLab's log console): it refuses while lint finds errors, and shows any other failure.

def form_for(target, url: str) -> SubscriptionForm:
    form = SubscriptionForm(target, name="form-checked", endpoint=url)
    form.types[MODEL_REGISTERED].value = True
    return form


def assert_not_created(target) -> None:
    eg = target.client(EventGridManagementClient)
    with pytest.raises(ResourceNotFoundError):
        eg.event_subscriptions.get(target.workspace_id, "form-checked")


def test_a_bad_number_in_a_filter_is_refused_in_the_form(registered, receiver):
    form = form_for(registered, receiver.url)
    form.add_filter("data.driftCoefficient", "NumberGreaterThan", "abc")
    form.create_button.click()
    out = text(form.result_out)
    assert out.startswith("not created: the lint found 1 error(s)"), out
    assert "error" in text(form.lint_out)
    assert form.created is None and receiver.deliveries == []
    assert_not_created(registered)


def test_a_filter_that_never_matches_is_refused_until_it_is_fixed(registered, receiver):
    form = form_for(registered, receiver.url)
    form.subject_begins.value = "endpoints/"  # a ModelRegistered subject never begins with that
    form.create_button.click()
    assert text(form.result_out).startswith("not created: the lint found")
    assert_not_created(registered)
    form.subject_begins.value = "models/"
    form.create_button.click()
    assert text(form.result_out).startswith("form-checked: Succeeded"), text(form.result_out)


def test_any_other_failure_is_shown_in_the_form(registered, receiver, monkeypatch):
    form = form_for(registered, receiver.url)

    def broken():
        raise ConnectionError("the network went away")

    monkeypatch.setattr(form, "create", broken)
    form.create_button.click()  # nothing escapes from the button's handler
    assert text(form.result_out) == "not created: ConnectionError: the network went away\n"

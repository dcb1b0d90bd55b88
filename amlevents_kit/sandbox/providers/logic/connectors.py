"""What a workflow's actions do in the sandbox: real SMTP mail, real ARM calls, real HTTP."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ...arm import outbound
from . import definition as defn
from .expressions import to_text
from .runner import ActionFailed

if TYPE_CHECKING:
    from .models import LogicBackend

DEFAULT_SENDER = "logic-apps@amlevents.sandbox"
DATAFACTORY_API = "2018-06-01"
_REASON = {200: "OK", 201: "Created", 202: "Accepted", 204: "NoContent", 400: "BadRequest", 401: "Unauthorized",
           403: "Forbidden", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests", 500: "InternalServerError",
           501: "NotImplemented", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}


def status_code(status: int) -> str:
    """The action code Logic Apps shows for an HTTP status (200 -> OK, 404 -> NotFound)."""
    return _REASON.get(status, str(status))


_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")


def header_text(value: Any) -> str:
    """A header value on one line: each run of line breaks becomes a space.

    Event data reaches headers through expressions such as ``@{triggerBody()?['subject']}``; folding
    keeps a CR/LF in it from starting a new header (header injection) or failing the action.
    """
    return _LINE_BREAKS.sub(" ", to_text(value))


def _addresses(value: Any, field: str) -> list[str]:
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise ActionFailed("BadRequest", f"'{field}' must be a string of addresses separated by ';'.")
    out = [a.strip() for a in re.split(r"[;,]", value) if a.strip()]
    for a in out:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", a):
            raise ActionFailed("BadRequest", f"'{field}' holds {a!r}, which is not an email address.")
    return out


class Connectors:
    """The connector operations and built-in actions the runner performs."""

    def __init__(self, backend: "LogicBackend") -> None:
        self.backend = backend
        self.sandbox = backend.sandbox

    # -- Office 365 Outlook: Send an email (V2) --------------------------------------------------------
    def send_email(self, inputs: dict, *, workflow: dict, run_id: str, action: str) -> tuple[Any, str]:
        body = inputs.get("body") or {}
        if not isinstance(body, dict):
            raise ActionFailed("BadRequest", "The body of 'Send an email' must be an object with To, Subject, Body.")
        to = _addresses(body.get("To"), "To")
        if not to:
            raise ActionFailed("BadRequest", "'To' is required: give at least one recipient.")
        cc, bcc = _addresses(body.get("Cc"), "Cc"), _addresses(body.get("Bcc"), "Bcc")
        subject = body.get("Subject")
        if not subject:
            raise ActionFailed("BadRequest", "'Subject' is required.")
        msg = EmailMessage()
        msg["From"] = header_text(body.get("From") or self._sender(workflow, inputs))
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg["Subject"] = header_text(subject)
        msg["Date"] = format_datetime(self.sandbox.clock.utcnow())
        msg["Message-ID"] = make_msgid(domain="amlevents.sandbox")
        msg["Importance"] = header_text(body.get("Importance") or "Normal")
        msg["X-Amlevents-Run"] = run_id
        msg["X-Amlevents-Workflow"] = workflow["id"]
        msg["X-Amlevents-Action"] = action
        html_body = str(body.get("Body") or "")
        from ....mailbox import _text_of
        msg.set_content(_text_of(html_body) if "<" in html_body else html_body)
        msg.add_alternative(html_body if "<" in html_body else f"<p>{html_body}</p>", subtype="html")
        mailbox = self.sandbox.service("mailbox")
        try:
            mailbox.send(msg if not bcc else _with_bcc(msg, bcc))
        except OSError as exc:
            raise ActionFailed("ServiceUnavailable", f"The mail server refused the message: {exc}") from None
        return {"statusCode": 200, "headers": {}}, "OK"

    def _sender(self, workflow: dict, inputs: dict) -> str:
        """The connection's account, as Office 365 sends from the signed-in user."""
        api = defn.connector_of(inputs)
        conn = (((workflow["properties"].get("parameters") or {}).get("$connections") or {}).get("value") or {}).get(api or "")
        conn_id = (conn or {}).get("connectionId")
        if conn_id:
            body = self.sandbox.store.get(conn_id)
            display = ((body or {}).get("properties") or {}).get("displayName") or ""
            if "@" in display:
                return display
        return DEFAULT_SENDER

    # -- Azure Data Factory: Create a pipeline run ----------------------------------------------------
    def create_pipeline_run(self, inputs: dict) -> tuple[Any, str]:
        path = defn.plain_path(inputs.get("path"))
        m = defn.PIPELINE_RUN_PATH.match(path)
        assert m is not None  # checked at create
        body = inputs.get("body")
        url = (f"https://management.azure.com/subscriptions/{m['subscription']}/resourceGroups/{m['resource_group']}"
               f"/providers/Microsoft.DataFactory/factories/{m['factory']}/pipelines/{m['pipeline']}/createRun"
               f"?api-version={DATAFACTORY_API}")
        status, headers, raw = self.sandbox.handle("POST", url, {"Content-Type": "application/json"},
                                                   json.dumps(body if body is not None else {}).encode())
        payload = json.loads(raw) if raw else None
        outputs = {"statusCode": status, "headers": _plain_headers(headers), "body": payload}
        if status >= 400:
            err = (payload or {}).get("error") or {}
            raise ActionFailed(status_code(status), f"Data Factory answered {status}: ({err.get('code')}) "
                               f"{err.get('message')}", outputs)
        return outputs, status_code(status)

    # -- HTTP ---------------------------------------------------------------------------------------------
    def http(self, inputs: dict) -> tuple[Any, str]:
        method = str(inputs.get("method", "GET")).upper()
        uri = str(inputs["uri"])
        queries, headers = inputs.get("queries") or {}, inputs.get("headers") or {}
        for field, value in (("queries", queries), ("headers", headers)):
            if not isinstance(value, dict):
                raise ActionFailed("BadRequest", f"The HTTP action's '{field}' must be an object of names and "
                                   f"values; it is {json.dumps(value)[:200]}.")
        if queries:
            uri += ("&" if "?" in uri else "?") + urlencode({k: to_text(v) for k, v in queries.items()})
        headers = {str(k): to_text(v) for k, v in headers.items()}
        body = inputs.get("body")
        if body is None:
            data = b""
        elif isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            data = str(body).encode()
        import requests
        try:  # ARM: this sandbox, in process; anything else over the network
            status, resp_headers, raw = outbound.send(self.sandbox, method, uri, headers, data, timeout=30)
        except requests.RequestException as exc:
            raise ActionFailed("BadRequest", f"The HTTP request to {uri} failed: {exc}") from None
        try:
            payload: Any = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        outputs = {"statusCode": status, "headers": _plain_headers(resp_headers), "body": payload}
        if status >= 400:
            raise ActionFailed(status_code(status), f"The HTTP request to {uri} answered {status}.", outputs)
        return outputs, status_code(status)


def _plain_headers(headers: dict) -> dict:
    return {k: v for k, v in headers.items() if not k.lower().startswith("x-ms-")}


def _with_bcc(msg: EmailMessage, bcc: list[str]) -> EmailMessage:
    msg["Bcc"] = ", ".join(bcc)  # smtplib sends to Bcc and strips the header
    return msg

"""The sandbox's mailbox: a real SMTP server on 127.0.0.1 and a reader for the mail it received.

"Send an email" actions of sandbox Logic Apps deliver real SMTP here. Each message is kept as
one ``.eml`` file under ``<sandbox folder>/mailbox/`` plus a line in ``index.jsonl``, so another
process (a second kernel, a test) can read the same mail::

    from amlevents_kit.mailbox import open_mailbox
    box = open_mailbox(target)          # the sandbox target from connect()
    box                                 # a table in Jupyter
    print(box.latest().render())        # sender, recipients, subject, body, the run it came from
"""

from __future__ import annotations

import email
import email.policy
import fcntl
import html
import json
import re
import smtplib
import threading
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable

HOST = "127.0.0.1"
INDEX = "index.jsonl"
RUN_HEADER = "X-Amlevents-Run"            # the ARM id of the Logic App run that sent the message
WORKFLOW_HEADER = "X-Amlevents-Workflow"


# -- the server -------------------------------------------------------------------------------------
class _Handler:
    """aiosmtpd handler: store each message as it arrives."""

    def __init__(self, server: "MailboxServer") -> None:
        self.server = server

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.server.store(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


class MailboxServer:
    """A sandbox service: an SMTP server that files every message under ``folder``.

    The SMTP listener starts on first use (``address``), so sandboxes that never send mail never
    open a port.
    """

    def __init__(self, folder: str | Path, *, now: Callable[[], float] = time.time) -> None:
        self.folder = Path(folder)
        self.now = now
        self._controller: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def stop(self) -> None:
        with self._lock:
            if self._controller is not None:
                self._controller.stop()
                self._controller = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the SMTP listener, started now if it is not running yet."""
        with self._lock:
            if self._controller is None:
                from aiosmtpd.controller import Controller

                class _AnyPort(Controller):
                    def _trigger_server(self) -> None:  # learn the port the OS chose for port 0
                        if self.port == 0 and self.server is not None:
                            self.port = self.server.sockets[0].getsockname()[1]
                        super()._trigger_server()

                controller = _AnyPort(_Handler(self), hostname=HOST, port=0)
                controller.start()
                self._controller = controller
                (self.folder / "server.json").write_text(json.dumps({"host": HOST, "port": controller.port}))
            return HOST, self._controller.port

    def send(self, message: EmailMessage) -> None:
        """Deliver a message over SMTP to this mailbox (what "Send an email" does)."""
        host, port = self.address
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            smtp.send_message(message)

    def store(self, sender: str, recipients: list[str], data: bytes) -> Path:
        """File one received message and add it to the index; returns the .eml path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        index = self.folder / INDEX
        with open(index, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                seq = sum(1 for line in fh if line.strip()) + 1
                name = f"{seq:06d}-{uuid.uuid4().hex[:8]}.eml"
                (self.folder / name).write_bytes(data)
                entry = {"seq": seq, "file": name, "received": self.now(), "from": sender,
                         "to": recipients, "subject": str(parsed.get("Subject", "")),
                         "run": str(parsed.get(RUN_HEADER, "") or "")}
                fh.seek(0, 2)
                fh.write(json.dumps(entry) + "\n")
                fh.flush()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return self.folder / name


# -- the reader ---------------------------------------------------------------------------------------
@dataclass
class Message:
    """One received message, as a notebook shows it."""

    seq: int
    sender: str
    recipients: list[str]
    subject: str
    body: str
    html: str
    run_id: str
    workflow: str
    importance: str
    path: Path

    @property
    def run_name(self) -> str:
        """The Logic App run's name (last part of ``run_id``)."""
        return self.run_id.rsplit("/", 1)[-1] if self.run_id else ""

    def render(self) -> str:
        """The message as text: headers, a blank line, the body, and the run it came from."""
        lines = [f"From:    {self.sender}", f"To:      {', '.join(self.recipients)}", f"Subject: {self.subject}"]
        if self.importance:
            lines.append(f"Importance: {self.importance}")
        lines += ["", self.body.strip(), ""]
        if self.run_id:
            lines.append(f"Sent by the Logic App run: {self.run_id}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def _repr_html_(self) -> str:
        e = html.escape
        run = f"<div><small>Sent by the Logic App run <code>{e(self.run_id)}</code></small></div>" if self.run_id else ""
        return (f"<div style='border:1px solid #ccc;padding:6px'><div><b>From:</b> {e(self.sender)}</div>"
                f"<div><b>To:</b> {e(', '.join(self.recipients))}</div><div><b>Subject:</b> {e(self.subject)}</div>"
                f"<hr>{self.html or '<pre>' + e(self.body) + '</pre>'}{run}</div>")


def _text_of(html_body: str) -> str:
    """Plain text from the HTML body Office 365 sends (tags dropped, paragraphs kept)."""
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", html_body)
    text = re.sub(r"<[^>]+>", "", text)
    return "\n".join(line.strip() for line in html.unescape(text).splitlines() if line.strip())


def read_message(path: str | Path, seq: int = 0) -> Message:
    """Parse one .eml file of the mailbox."""
    path = Path(path)
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    html_part = msg.get_body(preferencelist=("html",))
    text_part = msg.get_body(preferencelist=("plain",))
    html_body = html_part.get_content() if html_part is not None else ""
    body = text_part.get_content() if text_part is not None else _text_of(html_body)
    recipients = [a.strip() for field in ("To", "Cc") for a in str(msg.get(field, "") or "").split(",") if a.strip()]
    return Message(seq=seq, sender=str(msg.get("From", "")).strip(), recipients=recipients,
                   subject=str(msg.get("Subject", "")).strip(), body=body, html=html_body,
                   run_id=str(msg.get(RUN_HEADER, "") or ""), workflow=str(msg.get(WORKFLOW_HEADER, "") or ""),
                   importance=str(msg.get("Importance", "") or ""), path=path)


class Mailbox:
    """The messages filed under a mailbox folder, oldest first (a stable order for notebooks)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _entries(self) -> list[dict]:
        index = self.folder / INDEX
        if not index.exists():
            return []
        entries = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
        return sorted(entries, key=lambda e: e["seq"])

    def messages(self, *, subject_contains: str | None = None, to: str | None = None) -> list[Message]:
        """All messages (optionally those whose subject contains a text, or sent to an address)."""
        out = []
        for entry in self._entries():
            if subject_contains and subject_contains.lower() not in entry["subject"].lower():
                continue
            if to and not any(to.lower() == r.lower() for r in entry["to"]):
                continue
            out.append(read_message(self.folder / entry["file"], entry["seq"]))
        return out

    def latest(self) -> Message | None:
        """The last message received, or None."""
        entries = self._entries()
        return read_message(self.folder / entries[-1]["file"], entries[-1]["seq"]) if entries else None

    def __len__(self) -> int:
        return len(self._entries())

    def __getitem__(self, i: int) -> Message:
        return self.messages()[i]

    def __iter__(self):
        return iter(self.messages())

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(f"<tr><td>{m.seq}</td><td>{e(m.sender)}</td><td>{e(', '.join(m.recipients))}</td>"
                       f"<td>{e(m.subject)}</td><td>{e(m.run_name)}</td></tr>" for m in self.messages())
        if not rows:
            return f"<p>The mailbox <code>{e(str(self.folder))}</code> is empty.</p>"
        return ("<table><thead><tr><th>#</th><th>from</th><th>to</th><th>subject</th><th>Logic App run</th></tr>"
                f"</thead><tbody>{rows}</tbody></table>")

    def __repr__(self) -> str:
        return f"<Mailbox {self.folder}: {len(self)} message(s)>"


def mailbox_folder(sandbox_folder: str | Path) -> Path:
    return Path(sandbox_folder) / "mailbox"


def open_mailbox(target: Any) -> Mailbox:
    """The mailbox of a sandbox: from a target (``connect()``), a Sandbox, or a sandbox folder."""
    if getattr(target, "kind", None) == "azure":
        raise ValueError("open_mailbox(): on real Azure, mail goes to real inboxes; the mailbox is the sandbox's.")
    sandbox = getattr(target, "sandbox", target)
    folder = getattr(sandbox, "folder", sandbox)
    if folder is None:
        raise ValueError("open_mailbox(): this target reaches a sandbox served by another process; open the "
                         "mailbox from its folder instead: open_mailbox('<sandbox folder>').")
    return Mailbox(mailbox_folder(folder))

"""The mailbox: real SMTP into files another process can read, listed in a stable order."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from amlevents_kit.mailbox import Mailbox, MailboxServer


def _message(subject: str, run: str = "") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@x.org", "t@x.org, u@x.org", subject
    if run:
        msg["X-Amlevents-Run"] = run
    msg.set_content("plain body")
    msg.add_alternative("<p>html body</p>", subtype="html")
    return msg


def test_smtp_delivery_is_filed_and_read_back(tmp_path):
    server = MailboxServer(tmp_path / "mailbox")
    server.start()
    try:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0
        with smtplib.SMTP(host, port) as smtp:       # a plain SMTP client, as another process would
            smtp.send_message(_message("first", "/subscriptions/s/runs/r1"))
        server.send(_message("second"))
    finally:
        server.stop()
    box = Mailbox(tmp_path / "mailbox")               # a reader that shares nothing with the server
    assert [m.subject for m in box.messages()] == ["first", "second"]
    first = box[0]
    assert first.sender == "a@x.org" and first.recipients == ["t@x.org", "u@x.org"]
    assert first.body.strip() == "plain body" and "html body" in first.html
    assert first.run_id == "/subscriptions/s/runs/r1" and first.run_name == "r1"
    assert "Sent by the Logic App run: /subscriptions/s/runs/r1" in first.render()
    assert len(list((tmp_path / "mailbox").glob("*.eml"))) == 2
    assert box.latest().subject == "second"
    assert [m.subject for m in box.messages(subject_contains="SEC")] == ["second"]
    assert "<td>first</td>" in box._repr_html_()


def test_empty_mailbox(tmp_path):
    box = Mailbox(tmp_path / "nothing")
    assert len(box) == 0 and box.latest() is None and "empty" in box._repr_html_()

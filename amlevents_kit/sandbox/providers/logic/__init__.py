"""Microsoft.Logic: workflows (Logic Apps) that the sandbox really runs, and the mailbox they write to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import LogicBackend
from .responses import LogicResponses
from .urls import routes

if TYPE_CHECKING:
    from ...app import Sandbox


def setup(sandbox: "Sandbox") -> LogicBackend:
    from ....mailbox import MailboxServer, mailbox_folder
    backend = LogicBackend(sandbox)
    sandbox.router.add(routes(LogicResponses(backend)))
    sandbox.add_service("mailbox", lambda: MailboxServer(mailbox_folder(sandbox.folder), now=sandbox.clock.now))
    return backend

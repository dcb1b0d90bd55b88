"""Write receiver handlers as an Azure Functions app (Python v2 model, EventGridTrigger) for real deployment.

The folder holds ``function_app.py`` (your handler's source plus one trigger per handler),
``host.json``, ``requirements.txt``, ``local.settings.json`` and a copy of ``amlevents_kit.events`` so
the handler gets the same typed ``Event`` it got from the local receiver. Deploy it with
``func azure functionapp publish <app>`` and subscribe the function (endpoint type ``azurefunction``).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import textwrap
from pathlib import Path
from typing import Callable, Iterable

from .. import events as _events_pkg

HOST_JSON = {
    "version": "2.0",
    "logging": {"applicationInsights": {"samplingSettings": {"isEnabled": True, "excludedTypes": "Request"}}},
    "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"},
}
LOCAL_SETTINGS = {"IsEncrypted": False,
                  "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}}
REQUIREMENTS = "# Azure Functions Python worker API (EventGridTrigger)\nazure-functions\n"

HEADER = '''"""Azure Functions app exported by amlevents-kit: Event Grid triggers calling your handlers.

Each trigger turns the func.EventGridEvent into the kit's typed Event (the same object the local
receiver passed), then calls the handler. A handler that raises fails the invocation, so Event Grid
retries the event on its schedule.
"""

import azure.functions as func

from amlevents_kit.events import parse_event

app = func.FunctionApp()


def _event(azevent: func.EventGridEvent):
    """The trigger's event as an amlevents_kit Event."""
    when = azevent.event_time
    return parse_event({
        "id": azevent.id,
        "topic": azevent.topic,
        "subject": azevent.subject,
        "eventType": azevent.event_type,
        "eventTime": when.isoformat() if when is not None else None,
        "data": azevent.get_json(),
        "dataVersion": azevent.data_version,
        "metadataVersion": "1",
    })
'''

TRIGGER = '''

@app.function_name(name="{function}")
@app.event_grid_trigger(arg_name="azevent")
def {function}_trigger(azevent: func.EventGridEvent) -> None:
    event = _event(azevent)
    if {types!r} and event.type not in {types!r}:
        return
    {handler}(event)
'''


def handler_source(fn: Callable) -> str:
    """The function's own source, without decorators, dedented; a clear error when there is none."""
    name = getattr(fn, "__name__", "")
    if not name.isidentifier() or name == "<lambda>":
        raise ValueError("export_function_app: handlers must be named functions (def ...), not lambdas")
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise ValueError(f"export_function_app: the source of {name!r} is not available ({exc}); "
                         "define the handler in a notebook cell or a .py file") from None
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"(async\s+)?def\s", line))
    return "\n".join(lines[start:]) + "\n"


def export_function_app(handlers: Iterable[tuple[frozenset[str] | None, Callable]], folder: str | Path, *,
                        app_name: str | None = None) -> Path:
    """Write the app for ``handlers`` ([(event types or None, function)]) into ``folder``; returns it."""
    if not isinstance(folder, (str, os.PathLike)) or "\x00" in str(folder):
        raise ValueError(f"folder: expected a folder path (a str or Path without NUL), got {type(folder).__name__}")
    if app_name is not None and not isinstance(app_name, str):
        raise ValueError(f"app_name: expected a string or None, got {type(app_name).__name__}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    parts = [HEADER]
    seen: set[str] = set()
    for types, fn in handlers:
        name = getattr(fn, "__name__", "")
        source = handler_source(fn)
        if name not in seen:
            parts.append("\n\n# -- handler copied from where it was defined " + "-" * 30 + "\n" + source)
            seen.add(name)
        function = re.sub(r"\W", "_", name)
        parts.append(TRIGGER.format(function=function, handler=name, types=sorted(types) if types else []))
    (out / "function_app.py").write_text("".join(parts))
    (out / "host.json").write_text(json.dumps(HOST_JSON, indent=2) + "\n")
    (out / "requirements.txt").write_text(REQUIREMENTS)
    (out / "local.settings.json").write_text(json.dumps(LOCAL_SETTINGS, indent=2) + "\n")
    vendored = out / "amlevents_kit"
    events_src = Path(_events_pkg.__file__).parent
    shutil.rmtree(vendored, ignore_errors=True)
    shutil.copytree(events_src, vendored / "events", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (vendored / "__init__.py").write_text(
        f'"""The typed events of amlevents-kit, vendored for the function app{" " + app_name if app_name else ""}."""\n')
    return out

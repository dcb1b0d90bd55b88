"""Write receiver handlers as an Azure Functions app (Python v2 model, EventGridTrigger) for real deployment.

The folder holds ``function_app.py`` (your handlers' source, what they use from where they were
defined, and one trigger per handler), ``host.json``, ``requirements.txt``, ``local.settings.json`` and
a copy of ``amlevents_kit.events`` so the handler gets the same typed ``Event`` it got from the local
receiver. Deploy it with ``func azure functionapp publish <app>`` and subscribe the function (endpoint
type ``azurefunction``).

A handler is copied with the module-level names it uses: imports, constants, and the functions and
classes defined beside it (and what those use in turn). A name that cannot be written into a file
(an open client, a receiver, a data frame ...) stops the export with an error that names it.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.metadata
import inspect
import json
import os
import re
import shutil
import symtable
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterable

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

ASYNC_TRIGGER = '''

@app.function_name(name="{function}")
@app.event_grid_trigger(arg_name="azevent")
async def {function}_trigger(azevent: func.EventGridEvent) -> None:
    event = _event(azevent)
    if {types!r} and event.type not in {types!r}:
        return
    await {handler}(event)
'''

#: Names the app's own header defines: a handler's global of the same name would clash with them.
RESERVED = {"func": "the azure.functions module", "app": "the FunctionApp", "_event": "the event converter",
            "parse_event": "amlevents_kit.events.parse_event"}
#: Of the kit, only the events package is copied into the app.
VENDORED = "amlevents_kit.events"
LITERAL_TYPES = (bool, int, float, complex, str, bytes, type(None), tuple, list, dict, set, frozenset)


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


def free_names(source: str) -> list[str]:
    """Names ``source`` (a def or class) reads from its module: not defined in it, not builtins."""
    top = symtable.symtable(source, "<handler>", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    found: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        for sym in table.get_symbols():
            name = sym.get_name()
            if table.get_type() == "module":
                wanted = sym.is_referenced() and name not in defined
            else:
                wanted = sym.is_global() and (sym.is_referenced() or sym.is_declared_global())
            if wanted and name not in defined:
                found.add(name)
        for child in table.get_children():
            walk(child)

    walk(top)
    return sorted(n for n in found if not hasattr(builtins, n))


class _App:
    """What function_app.py needs besides the header: imports, constants, copied definitions."""

    def __init__(self) -> None:
        self.imports: dict[str, str] = {}      # name -> import line
        self.constants: dict[str, str] = {}    # name -> assignment
        self.definitions: dict[str, str] = {}  # name -> source, in dependency order
        self.values: dict[str, Any] = {}       # name -> the object it stands for
        self.owner: dict[str, str] = {}        # name -> the handler that first needed it
        self.distributions: set[str] = set()
        self.missing: dict[str, list[str]] = {}  # handler -> what could not be carried over
        self._visiting: set[str] = set()

    def need(self, handler: str, name: str, value: Any, module: str | None) -> None:
        """Carry ``name`` (= ``value`` where the handler was defined) into the app, or record why not."""
        if name in RESERVED and not _same_as_reserved(name, value):
            self.missing.setdefault(handler, []).append(f"{name} (clashes with {RESERVED[name]} in the app)")
            return
        if name in RESERVED:
            return
        if name in self.values:
            if self.values[name] is not value and not _equal_literal(self.values[name], value):
                self.missing.setdefault(handler, []).append(
                    f"{name} (means something else in {self.owner[name]})")
            return
        self.values[name], self.owner[name] = value, handler
        if inspect.ismodule(value):
            self._module(handler, name, value)
        elif inspect.isfunction(value) or inspect.isclass(value):
            self._definition(handler, name, value, module)
        elif _is_literal(value):
            self.constants[name] = f"{name} = {value!r}"
        else:
            del self.values[name]
            self.missing.setdefault(handler, []).append(f"{name} ({type(value).__name__})")

    def _module(self, handler: str, name: str, module: Any) -> None:
        full = module.__name__
        if full.split(".")[0] == "amlevents_kit" and not (full == VENDORED or full.startswith(VENDORED + ".")):
            self.missing.setdefault(handler, []).append(f"{name} (the module {full}, not part of the app)")
            return
        if not self._importable(full):
            self.missing.setdefault(handler, []).append(
                f"{name} (the local module {full}: copy it into the app folder or into the handler)")
            return
        self.imports[name] = f"import {full}" if full == name else (
            f"from {full.rsplit('.', 1)[0]} import {full.rsplit('.', 1)[1]}" if full.rsplit(".", 1)[-1] == name
            and "." in full else f"import {full} as {name}")

    def _definition(self, handler: str, name: str, value: Any, module: str | None) -> None:
        home = getattr(value, "__module__", None) or ""
        qualname = getattr(value, "__qualname__", "")
        if home != module and home not in ("__main__", "") and "." not in qualname and self._importable(home):
            if home.split(".")[0] == "amlevents_kit" and not (home == VENDORED or home.startswith(VENDORED + ".")):
                self.missing.setdefault(handler, []).append(f"{name} (from {home}, not part of the app)")
                return
            try:
                found = getattr(importlib.import_module(home), qualname, None)
            except ImportError:
                found = None
            if found is value:  # importable where the app runs: import it rather than copy it
                self.imports[name] = (f"from {home} import {qualname}" if qualname == name
                                      else f"from {home} import {qualname} as {name}")
                return
        try:
            source = textwrap.dedent(inspect.getsource(value))
        except (OSError, TypeError):
            self.missing.setdefault(handler, []).append(f"{name} (its source is not available)")
            return
        if getattr(value, "__name__", name) != name:
            self.missing.setdefault(handler, []).append(f"{name} (another name for {value.__name__})")
            return
        self.copy(handler, source, value)
        self.definitions[name] = source

    def copy(self, handler: str, source: str, value: Any) -> None:
        """Carry over what ``source`` (a function or class of ``value``'s module) reads from its module."""
        names = free_names(source)
        scope = dict(getattr(value, "__globals__", None) or vars(sys.modules.get(value.__module__, object())))
        if inspect.isfunction(value):
            closure = inspect.getclosurevars(value).nonlocals
            scope.update(closure)
        home = getattr(value, "__module__", None)
        for name in names:
            if name in scope:
                self.need(handler, name, scope[name], home)
            else:
                self.missing.setdefault(handler, []).append(f"{name} (not defined where {handler} is)")

    def _importable(self, module: str) -> bool:
        """A module the app can import: the standard library, an installed distribution, or vendored."""
        top = module.split(".")[0]
        if module == VENDORED or module.startswith(VENDORED + "."):
            return True
        if top in getattr(sys, "stdlib_module_names", ()) or top in sys.builtin_module_names:
            return True
        dists = sorted(set(importlib.metadata.packages_distributions().get(top) or ()))
        if len(dists) == 1:
            if dists[0].lower() != "azure-functions":
                self.distributions.add(dists[0])
            return True
        if dists:  # a namespace (azure, google ...) shared by several distributions: say which module
            self.distributions.add(f"# {module}: add the distribution that provides it")
            return True
        return False


def _same_as_reserved(name: str, value: Any) -> bool:
    if name == "func":
        return getattr(value, "__name__", None) == "azure.functions"
    if name == "parse_event":
        return value is getattr(_events_pkg, "parse_event", None)
    return False


def _is_literal(value: Any) -> bool:
    if not isinstance(value, LITERAL_TYPES):
        return False
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False


def _equal_literal(a: Any, b: Any) -> bool:
    return _is_literal(a) and _is_literal(b) and type(a) is type(b) and a == b


def _merged(handlers: Iterable[tuple[frozenset[str] | None, Callable]]) -> list[tuple[Callable, list[str] | None]]:
    """One entry per handler function, with every event type it was registered for (None: all)."""
    order: list[Callable] = []
    types: dict[int, set[str] | None] = {}
    for kinds, fn in handlers:
        if id(fn) not in types:
            order.append(fn)
            types[id(fn)] = set()
        if kinds is None or types[id(fn)] is None:
            types[id(fn)] = None
        else:
            types[id(fn)] |= set(kinds)
    out = []
    for fn in order:
        t = types[id(fn)]
        out.append((fn, sorted(t) if t is not None else None))
    return out


def export_function_app(handlers: Iterable[tuple[frozenset[str] | None, Callable]], folder: str | Path, *,
                        app_name: str | None = None) -> Path:
    """Write the app for ``handlers`` ([(event types or None, function)]) into ``folder``; returns it.

    A function registered for several event-type sets gets one trigger for all of them; an ``async def``
    handler gets an async trigger that awaits it. Raises ``ValueError`` naming what cannot be exported.
    """
    if not isinstance(folder, (str, os.PathLike)) or "\x00" in str(folder):
        raise ValueError(f"folder: expected a folder path (a str or Path without NUL), got {type(folder).__name__}")
    if app_name is not None and not isinstance(app_name, str):
        raise ValueError(f"app_name: expected a string or None, got {type(app_name).__name__}")
    app = _App()
    triggers: list[str] = []
    handler_sources: list[str] = []
    names: dict[str, Callable] = {}
    for fn, types in _merged(handlers):
        name = getattr(fn, "__name__", "")
        source = handler_source(fn)
        if name in names:
            raise ValueError(f"export_function_app: two different handlers are named {name!r} (from "
                             f"{getattr(names[name], '__module__', '?')} and {getattr(fn, '__module__', '?')}); "
                             "Azure Functions needs unique function names: rename one")
        if name in RESERVED:
            raise ValueError(f"export_function_app: a handler cannot be named {name!r}: the app uses that name for "
                             f"{RESERVED[name]}")
        names[name] = fn
        app.values[name], app.owner[name] = fn, name
        app.definitions.pop(name, None)  # an earlier handler used it: it is written once, as a handler
        app.copy(name, source, fn)
        handler_sources.append(source)
        template = ASYNC_TRIGGER if inspect.iscoroutinefunction(fn) else TRIGGER
        triggers.append(template.format(function=name, handler=name, types=types or []))
    if app.missing:
        detail = "; ".join(f"{h} uses {', '.join(sorted(set(m)))}" for h, m in app.missing.items())
        raise ValueError(f"export_function_app: some names the handlers use cannot be written into the app: {detail}. "
                         "Define them inside the handler, or make them module-level imports, constants, functions "
                         "or classes")
    parts = [HEADER]
    if app.imports:
        parts.append("\n# -- imports the handlers use " + "-" * 46 + "\n" + "\n".join(sorted(set(app.imports.values())))
                     + "\n")
    if app.constants:
        parts.append("\n# -- constants the handlers use " + "-" * 44 + "\n" + "\n".join(app.constants.values()) + "\n")
    for source in app.definitions.values():
        parts.append("\n\n# -- used by the handlers, copied from where it was defined " + "-" * 15 + "\n" + source)
    for source in handler_sources:
        parts.append("\n\n# -- handler copied from where it was defined " + "-" * 30 + "\n" + source)
    parts.extend(triggers)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "function_app.py").write_text("".join(parts))
    (out / "host.json").write_text(json.dumps(HOST_JSON, indent=2) + "\n")
    extra = "".join(f"{d}\n" for d in sorted(app.distributions))
    (out / "requirements.txt").write_text(REQUIREMENTS + (f"# used by the handlers\n{extra}" if extra else ""))
    (out / "local.settings.json").write_text(json.dumps(LOCAL_SETTINGS, indent=2) + "\n")
    vendored = out / "amlevents_kit"
    events_src = Path(_events_pkg.__file__).parent
    shutil.rmtree(vendored, ignore_errors=True)
    shutil.copytree(events_src, vendored / "events", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (vendored / "__init__.py").write_text(
        f'"""The typed events of amlevents-kit, vendored for the function app{" " + app_name if app_name else ""}."""\n')
    return out

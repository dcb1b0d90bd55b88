"""One package per emulated resource provider, each with models, responses, urls and exceptions.

Every package here exposes ``setup(sandbox)``; the sandbox calls them all, Microsoft.Resources first.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..app import Sandbox


def setup_all(sandbox: "Sandbox") -> dict[str, object]:
    """Import every provider package and let it add its routes; returns their backends by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)
    names.sort(key=lambda n: n != "resources")
    backends = {}
    for name in names:
        module = importlib.import_module(f"{__name__}.{name}")
        backends[name] = module.setup(sandbox)
    return backends

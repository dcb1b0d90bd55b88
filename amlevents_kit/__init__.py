"""amlevents-kit: event-driven machine learning on Azure, taught in Jupyter.

The public surface is small on purpose: ``connect()`` gives a target that builds the real
Azure SDK clients, either for real Azure or for the local sandbox.
"""

__version__ = "0.1.0"

from .target import AzureTarget, SandboxTarget, Target, connect

__all__ = ["connect", "Target", "SandboxTarget", "AzureTarget", "__version__"]

from .cleanup import cleanup  # noqa: E402
from .providers import ensure_providers  # noqa: E402


def fire(target, event_type: str, **data):
    """Publish one workspace event in the sandbox as if the workspace had raised it; returns the event.

    ``fire(target, "ModelRegistered", modelName="mymodelname", modelVersion="1")``. Azure has no such
    call: on a real workspace, register a model (or run a job) to raise the event.
    """
    if getattr(target, "sandbox", None) is None:
        raise RuntimeError("fire() works in the sandbox only: on Azure the workspace raises its own events.")
    return target.sandbox.backends["eventgrid"].fire(event_type, data=data)


__all__ += ["cleanup", "ensure_providers", "fire"]

"""amlevents-kit: event-driven machine learning on Azure, taught in Jupyter.

The public surface is small on purpose: ``connect()`` gives a target that builds the real
Azure SDK clients, either for real Azure or for the local sandbox.
"""

__version__ = "0.1.0"

from .target import AzureTarget, SandboxTarget, Target, connect

__all__ = ["connect", "Target", "SandboxTarget", "AzureTarget", "__version__"]

from .providers import ensure_providers  # noqa: E402

__all__ += ["ensure_providers"]

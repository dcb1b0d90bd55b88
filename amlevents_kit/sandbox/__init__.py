"""The local sandbox: Azure Resource Manager emulated over a folder of state.

``Sandbox.open()`` gives the process's sandbox; ``amlevents_kit.connect()`` is the usual way in.
"""

from .app import Sandbox, default_folder

__all__ = ["Sandbox", "default_folder"]

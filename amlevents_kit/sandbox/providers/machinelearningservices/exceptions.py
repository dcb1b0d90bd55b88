"""Errors Microsoft.MachineLearningServices answers."""

from ...arm.errors import ArmError, not_found  # noqa: F401  (re-exported for this provider's modules)

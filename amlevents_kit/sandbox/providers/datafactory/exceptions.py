"""Errors Microsoft.DataFactory answers."""

from __future__ import annotations

from ...arm.errors import ArmError


def not_found(kind: str, name: str) -> ArmError:
    return ArmError(404, "NotFound", f"The {kind} '{name}' was not found.")


def run_not_found(run_id: str) -> ArmError:
    return ArmError(404, "PipelineRunNotFound", f"The pipeline run '{run_id}' was not found.")


def bad_parameters(pipeline: str, detail: str) -> ArmError:
    return ArmError(400, "BadRequest", f"The pipeline '{pipeline}' cannot run: {detail}.")

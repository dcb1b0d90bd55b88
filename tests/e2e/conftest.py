"""End-to-end suite hooks: the delivery fault tests report their reconciliations (see fault_report.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import fault_report  # noqa: E402


def pytest_configure(config) -> None:
    fault_report.install(config)

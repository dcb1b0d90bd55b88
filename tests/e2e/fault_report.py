"""The delivery fault suite's counts, printed at the end of the run (see conftest.py)."""

from __future__ import annotations

import os

RECORDS: list[tuple[str, dict]] = []


def record(stats: dict) -> None:
    """Keep one reconciliation (published, delivered, dead-lettered, dropped, pending, duplicates)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::", 1)[-1]
    RECORDS.append((test, dict(stats)))

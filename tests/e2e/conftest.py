"""End-to-end suite hooks: the delivery fault tests report their reconciliations."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fault_report import RECORDS  # noqa: E402

KEYS = ("published", "delivered", "dead_lettered", "dropped", "pending", "duplicates")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not RECORDS:
        return
    tr = terminalreporter
    tr.section("delivery faults: published = delivered + dead-lettered + dropped + pending")
    tr.write_line(f"{'test':70} " + " ".join(f"{k:>13}" for k in KEYS))
    last: dict[str, dict] = {}
    for test, stats in RECORDS:
        last[test] = stats  # the final reconciliation of each test
    for test, stats in last.items():
        tr.write_line(f"{test[:70]:70} " + " ".join(f"{stats.get(k, 0):>13}" for k in KEYS))

"""The delivery fault suites' counts, printed at the end of the run.

Every fault test (tests/e2e/test_delivery_e2e.py, tests/unit/test_delivery_engine.py, the load test in
tests/robustness) calls ``record(stats)`` with each reconciliation it checks:
published = delivered + dead-lettered + dropped + pending, and the duplicates at-least-once allowed.
This module is also the pytest plugin that prints them (``pytest_terminal_summary``): tests/e2e/conftest.py
registers it, and so does ``install(config)`` for suites outside tests/e2e, so the table is printed once
whichever folders the run collects.
"""

from __future__ import annotations

import os
from collections import Counter

#: (test, scope, stats) in the order they were recorded.
RECORDS: list[tuple[str, str | None, dict]] = []
KEYS = ("published", "delivered", "dead_lettered", "dropped", "pending", "duplicates")
PLUGIN_NAME = "amlevents-fault-report"


def record(stats: dict, scope: str | None = None) -> dict:
    """Keep one reconciliation of the running test; ``scope`` names what it covers (a subscription).

    Returns ``stats`` so a test can record and assert in one line.
    """
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    RECORDS.append((test, scope, dict(stats)))
    return stats


def reconciles(stats: dict) -> bool:
    return stats["published"] == stats["delivered"] + stats["dead_lettered"] + stats["dropped"] + stats["pending"]


def rows() -> list[tuple[str, dict]]:
    """One row per reconciliation: a test that checked several gets one row each, by scope or by number."""
    unscoped = Counter(test for test, scope, _ in RECORDS if scope is None)
    seen: Counter = Counter()
    out: dict[str, dict] = {}
    for test, scope, stats in RECORDS:
        file, _, function = test.partition("::")
        name = f"{file.rsplit('/', 1)[-1].removesuffix('.py').removeprefix('test_')}::{function}"
        if scope is not None:
            label = f"{name} [{scope}]"
        elif unscoped[test] > 1:
            seen[test] += 1
            label = f"{name} #{seen[test]}"
        else:
            label = name
        out[label] = stats  # a scope recorded twice: its last reconciliation
    return list(out.items())


def install(config) -> None:
    """Register this module as the plugin that prints the table (once per run)."""
    import sys
    manager = config.pluginmanager
    if not manager.has_plugin(PLUGIN_NAME):
        manager.register(sys.modules[__name__], PLUGIN_NAME)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not RECORDS:
        return
    tr = terminalreporter
    tr.section("delivery faults: published = delivered + dead-lettered + dropped + pending")
    table = rows()
    width = min(96, max(len(label) for label, _ in table))
    heads = [k.replace("_", "-") for k in KEYS]
    tr.write_line(f"{'test':{width}}" + "".join(f" {h:>{len(h)}}" for h in heads) + " reconciled")
    totals: Counter = Counter()
    for label, stats in table:
        totals.update({k: stats.get(k, 0) for k in KEYS})
        shown = label if len(label) <= width else label[: width - 1] + "…"
        tr.write_line(f"{shown:{width}}" + "".join(f" {stats.get(k, 0):>{len(h)}}" for k, h in zip(KEYS, heads))
                      + f" {'yes' if reconciles(stats) else 'NO':>10}")
    total = f"TOTAL ({len(table)} reconciliations)"
    tr.write_line(f"{total:{width}}" + "".join(f" {totals[k]:>{len(h)}}" for k, h in zip(KEYS, heads)))

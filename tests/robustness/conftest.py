"""Fixtures and report hooks of the robustness suites (the helpers are in robust.py)."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from robust import TALLY, DeadlineCaller, discover_routes, route_key, seed_sandbox, seed_world


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not TALLY.tried:
        return
    tr = terminalreporter
    tr.section("robustness: inputs tried per route")
    groups: dict[str, Counter] = defaultdict(Counter)
    for key, n in TALLY.tried.items():
        suite, _, _ = key.partition("::")
        groups[suite]["inputs"] += n
        groups[suite]["routes"] += 1
        groups[suite]["failures"] += len(TALLY.failures.get(key, []))
        groups[suite]["known"] += TALLY.known.get(key, 0)
    for key in sorted(TALLY.tried):
        statuses = ", ".join(f"{s}:{n}" for s, n in sorted(TALLY.statuses[key].items()))
        fails = len(TALLY.failures.get(key, []))
        known = TALLY.known.get(key, 0)
        tr.write_line(f"{TALLY.tried[key]:5d} inputs  {fails:3d} failures ({known} known)  {key}  [{statuses}]")
    for key in sorted(TALLY.failures):
        kinds = Counter(f.split(" <- ", 1)[0][:200] for f in TALLY.failures[key])
        tr.write_line(f"failures on {key}:")
        for kind, n in kinds.most_common(8):
            tr.write_line(f"    {n:4d} x {kind}")
    for suite, c in sorted(groups.items()):
        tr.write_line(f"TOTAL {suite}: {c['routes']} routes/targets, {c['inputs']} inputs, {c['failures']} failures "
                      f"({c['known']} of them known bugs with strict xfail tests)")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One sandbox for a whole module (building one per example would dwarf the examples)."""
    from amlevents_kit import connect
    target = connect(folder=tmp_path_factory.mktemp("robust") / "sandbox")
    keys = seed_sandbox(target.sandbox)
    target.topic_keys = keys  # type: ignore[attr-defined]
    seed_world(target.sandbox)
    caller = DeadlineCaller(target.sandbox)
    target.caller = caller  # type: ignore[attr-defined]
    yield target
    caller.close()
    target.sandbox.close()


def pytest_generate_tests(metafunc) -> None:
    """``route``: every route; ``body_route``: the routes that read a body; ``path_route``: those with names."""
    for name, keep in (("route", lambda r: True), ("body_route", lambda r: r.method in ("PUT", "PATCH", "POST")),
                       ("path_route", lambda r: bool(r.regex.groupindex))):
        if name in metafunc.fixturenames:
            routes = [r for r in discover_routes() if keep(r)]
            metafunc.parametrize(name, routes, ids=[route_key(r) for r in routes])



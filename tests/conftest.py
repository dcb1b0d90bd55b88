"""Shared fixtures: every test gets its own sandbox folder, never the learner's default one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# In CI, property tests draw the same examples every run and have no time limit per example: a run that
# lands fails for what the code does, not for a new random draw or a slow moment of a shared machine.
# Locally they stay random, which is how they find new cases.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def sandbox_folder(tmp_path: Path) -> Path:
    return tmp_path / "sandbox"


@pytest.fixture
def target(sandbox_folder: Path):
    """A sandbox target on a fresh folder, closed after the test."""
    from amlevents_kit import connect
    t = connect(folder=sandbox_folder)
    yield t
    t.sandbox.close()


@pytest.fixture
def sandbox(target):
    return target.sandbox


@pytest.fixture
def eg(target):
    """An EventGridManagementClient on the test's sandbox, with Microsoft.EventGrid registered."""
    from azure.mgmt.eventgrid import EventGridManagementClient
    target.sandbox.backends["resources"].register(target.subscription_id, "Microsoft.EventGrid")
    target.sandbox.clock.advance(seconds=5)
    return target.client(EventGridManagementClient)


@pytest.fixture
def receiver():
    """The kit's webhook receiver on 127.0.0.1, started for one test and stopped after."""
    from amlevents_kit.receiver import Receiver
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def rx(receiver):
    """``receiver`` under the short name the receiver and delivery suites use."""
    return receiver


@pytest.fixture(autouse=True, scope="session")
def _isolated_default_sandbox(tmp_path_factory):
    """Code that calls connect() with no folder must not touch ~/.amlevents-kit during tests."""
    os.environ["AMLEVENTS_SANDBOX_DIR"] = str(tmp_path_factory.mktemp("default-sandbox"))
    yield


@pytest.fixture
def fixtures_dir() -> Path:
    path = SHARED / "fixtures"
    if not path.is_dir():
        pytest.skip(f"the shared fixtures are not beside the checkout ({path})")
    return path

"""The install files agree with each other: conda users get what pip users get."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (the test extra installs it there)
    import tomli as tomllib

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project["dependencies"]) | set(project["optional-dependencies"]["test"])


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml must have exactly one pip: section"
    return set(pip_sections[0])


def test_environment_yml_matches_pyproject():
    missing = _pyproject_requirements() - _environment_requirements()
    extra = _environment_requirements() - _pyproject_requirements()
    assert not missing and not extra, f"environment.yml lacks {sorted(missing)}; has extra {sorted(extra)}"


def test_environment_python_is_supported():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python == ["python=3.11"] and requires == ">=3.10"


def test_azure_sdks_are_pinned_to_tested_ranges():
    """Every Azure SDK the sandbox emulates is bounded above: a new major could change the wire."""
    for req in _pyproject_requirements():
        if req.startswith("azure-"):
            assert "<" in req or "==" in req, f"{req} has no upper bound"


def test_ci_runs_the_readme_test_command():
    assert "./kit test" in (ROOT / ".ci" / "run").read_text()
    assert "./kit test" in (ROOT / "README.md").read_text()
    assert "./kit lab" in (ROOT / "README.md").read_text()

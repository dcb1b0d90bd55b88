"""Every lesson notebook is built from its source, stored with outputs, and free of errors.

nbval only compares cells that were stored with outputs, so a notebook committed unexecuted would
pass without testing anything; a notebook edited in the lab but not in notebooks/src would drift.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def _cells(cells) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in cells]


def test_every_source_has_a_notebook_and_back():
    sources = {p.stem for p in (ROOT / "notebooks" / "src").glob("[0-9]*.py")}
    built = {p.stem for p in NOTEBOOKS}
    assert sources == built


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_matches_its_source_and_is_executed(path: Path):
    nb = nbformat.read(path, as_version=4)
    source = jupytext.read(ROOT / "notebooks" / "src" / f"{path.stem}.py", fmt="py:percent")
    assert _cells(nb.cells) == _cells(source.cells), f"rebuild it: python tools/nb.py build notebooks/src/{path.stem}.py"
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    unexecuted = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not unexecuted, f"cells {unexecuted} were stored without running"
    errors = [i for i, c in enumerate(code) for o in c.outputs if o.output_type == "error"]
    assert not errors, f"cells {errors} stored an error"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_has_objectives_and_an_exercise_with_a_check(path: Path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "You will learn" in text
    assert "Exercise" in text
    assert any(c.cell_type == "code" and c.source.lstrip().startswith("# Check") and "assert" in c.source
               for c in nb.cells)

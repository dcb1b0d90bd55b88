"""Build and check the lesson notebooks.

Lessons are written as jupytext percent-format sources in ``notebooks/src/`` and committed as
executed ``.ipynb`` files (nbval compares the stored outputs)::

    python tools/nb.py build notebooks/src/01_register_providers.py   # one lesson
    python tools/nb.py build --all                                    # every lesson, in order
    python tools/nb.py check notebooks/01_register_providers.ipynb    # strict nbval on one

``build`` runs the lesson on a fresh sandbox folder, like a learner on a fresh machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
SANITIZE = ROOT / "tests" / "sanitize.cfg"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def build(source: Path, *, sandbox_dir: Path | None = None, timeout: int = 120) -> Path:
    """Execute a lesson source and write ``notebooks/<name>.ipynb`` with its outputs."""
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata.pop("jupytext", None)
    folder = sandbox_dir or Path(tempfile.mkdtemp(prefix="nb-sandbox-"))
    previous = os.environ.get("AMLEVENTS_SANDBOX_DIR")
    os.environ["AMLEVENTS_SANDBOX_DIR"] = str(folder)
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=False,
                                resources={"metadata": {"path": str(NOTEBOOKS)}})
        client.execute()
    finally:
        if previous is None:
            os.environ.pop("AMLEVENTS_SANDBOX_DIR", None)
        else:
            os.environ["AMLEVENTS_SANDBOX_DIR"] = previous
    seen: set[str] = set()
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        cell.id = _stable_id(cell, seen)
    out = NOTEBOOKS / (source.stem + ".ipynb")
    nbformat.write(nb, out)
    return out


def _stable_id(cell, seen: set[str]) -> str:
    """A cell id from the cell's own text, so a rebuild changes only the ids of cells that changed."""
    digest = hashlib.sha1(f"{cell.cell_type}:{cell.source}".encode()).hexdigest()
    n = 8
    while digest[:n] in seen:
        n += 1
    seen.add(digest[:n])
    return digest[:n]


def check(notebooks: list[Path]) -> int:
    """Strict nbval over the given notebooks, each run on its own fresh sandbox folder."""
    status = 0
    for path in notebooks:
        env = dict(os.environ, AMLEVENTS_SANDBOX_DIR=tempfile.mkdtemp(prefix="nbval-sandbox-"))
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
               "--nbval-sanitize-with", str(SANITIZE), "--nbval-cell-timeout=300", str(path)]
        status |= subprocess.call(cmd, cwd=ROOT, env=env)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="execute lesson sources into notebooks/*.ipynb")
    b.add_argument("sources", nargs="*", type=Path)
    b.add_argument("--all", action="store_true", help="every source in notebooks/src, in order")
    c = sub.add_parser("check", help="strict nbval on notebooks, each on a fresh sandbox")
    c.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "build":
        sources = sorted(SOURCES.glob("[0-9]*.py")) if args.all else args.sources
        if not sources:
            parser.error("name lesson sources, or --all")
        for source in sources:
            print(f"built {build(source).relative_to(ROOT)}", flush=True)
        return 0
    return check(args.notebooks)


if __name__ == "__main__":
    sys.exit(main())

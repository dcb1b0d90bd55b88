"""Wall time of the whole strict nbval suite over the lessons (goal: under 90 s on a 2-core machine).

Baseline, measured in the same run: nbval over as many one-cell notebooks as there are lessons,
which is what kernels and nbval cost before a lesson does anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
GOAL_SECONDS = 90


def nbval_seconds(paths: list[Path]) -> tuple[float, int]:
    env = dict(os.environ, AMLEVENTS_SANDBOX_DIR=tempfile.mkdtemp(prefix="bench-lessons-"))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(ROOT / "tests" / "sanitize.cfg"), *map(str, paths)]
    t0 = time.perf_counter()
    code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, code


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="bench-empty-"))
    empties = []
    for i in range(len(LESSONS)):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('ready')")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = folder / f"empty_{i}.ipynb"
        nbformat.write(nb, path)
        empties.append(path)
    baseline, _ = nbval_seconds(empties)
    lessons, code = nbval_seconds(LESSONS)
    verdict = "PASS" if code == 0 else f"nbval exit {code}"
    print(f"nbval over {len(LESSONS)} lessons, in order on one sandbox")
    print(f"  baseline ({len(LESSONS)} one-cell notebooks) {baseline:6.1f} s")
    print(f"  lessons                           {lessons:6.1f} s   ×{lessons / baseline:5.1f} baseline"
          f"   goal < {GOAL_SECONDS} s: {'met' if lessons < GOAL_SECONDS else 'missed'}   ({verdict})")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Teaching data with planted shifts, shared by the lesson, the tests and the benchmark."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .errors import DriftError

# Numeric column i uses NUMERIC_KINDS[i % 10]: (description of the baseline, description of its planted shift).
NUMERIC_KINDS = [
    ("normal(0, 1)", "mean +0.5 sd"),
    ("normal(0, 1)", "sd x1.5"),
    ("normal(0, 1)", "mean +0.2 sd"),
    ("uniform(0, 1)", "shifted +0.1"),
    ("lognormal(0, 1)", "mu +0.3"),
    ("poisson(3)", "lambda 3 -> 3.5"),
    ("exponential(1)", "scale x1.3"),
    ("integers 0..99", "shifted +10"),
    ("normal(10, 2)", "mean +0.5 sd"),
    ("uniform(-1, 1)", "range x1.5"),
]
# Categorical column j uses CATEGORICAL_KINDS[j % 5].
CATEGORICAL_KINDS = [
    ("5 levels", "probabilities shift"),
    ("10 levels", "5% of rows get a new, unseen level"),
    ("2 levels", "yes share 50% -> 65%"),
    ("20 levels, Zipf", "Zipf order reversed"),
    ("50 levels, Zipf", "top level loses half its share"),
]


def _numeric(kind: int, n: int, shifted: bool, rng: np.random.Generator) -> np.ndarray:
    """Draw one numeric column of the given kind, with its planted shift when asked."""
    if kind == 0:
        return rng.normal(0.5 if shifted else 0.0, 1.0, n)
    if kind == 1:
        return rng.normal(0.0, 1.5 if shifted else 1.0, n)
    if kind == 2:
        return rng.normal(0.2 if shifted else 0.0, 1.0, n)
    if kind == 3:
        return rng.uniform(0.0, 1.0, n) + (0.1 if shifted else 0.0)
    if kind == 4:
        return rng.lognormal(0.3 if shifted else 0.0, 1.0, n)
    if kind == 5:
        return rng.poisson(3.5 if shifted else 3.0, n).astype(np.int64)
    if kind == 6:
        return rng.exponential(1.3 if shifted else 1.0, n)
    if kind == 7:
        return rng.integers(0, 100, n) + (10 if shifted else 0)
    if kind == 8:
        return rng.normal(11.0 if shifted else 10.0, 2.0, n)
    return rng.uniform(-1.0, 1.0, n) * (1.5 if shifted else 1.0)


def _zipf(k: int) -> np.ndarray:
    """Zipf probabilities 1/rank over k levels."""
    p = 1.0 / np.arange(1, k + 1)
    return p / p.sum()


def _categorical(kind: int, n: int, shifted: bool, rng: np.random.Generator) -> np.ndarray:
    """Draw one categorical column (object strings) of the given kind."""
    if kind == 0:
        levels = np.array(["a", "b", "c", "d", "e"], dtype=object)
        p = [0.2, 0.2, 0.2, 0.2, 0.2] if shifted else [0.35, 0.25, 0.2, 0.12, 0.08]
    elif kind == 1:
        levels = np.array([f"l{i}" for i in range(10)] + ["new"], dtype=object)
        base = np.full(10, 0.1)
        p = np.append(base * 0.95, 0.05) if shifted else np.append(base, 0.0)
    elif kind == 2:
        levels = np.array(["no", "yes"], dtype=object)
        p = [0.35, 0.65] if shifted else [0.5, 0.5]
    elif kind == 3:
        levels = np.array([f"z{i:02d}" for i in range(20)], dtype=object)
        p = _zipf(20)[::-1] if shifted else _zipf(20)
    else:
        levels = np.array([f"k{i:02d}" for i in range(50)], dtype=object)
        p = _zipf(50)
        if shifted:
            p = p.copy()
            moved = p[0] / 2
            p[0] -= moved
            p[1:] += moved / 49
    return rng.choice(levels, size=n, p=np.asarray(p, dtype=float) / np.sum(p))


def make_drift_data(
    n_rows: int,
    *,
    n_numeric: int = 20,
    n_categorical: int = 5,
    shifted: Iterable[str] | None = None,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (baseline, target) frames where only the columns in `shifted` have a planted shift.

    Numeric columns are named n00, n01, ...; categorical ones c0, c1, ... (object strings).
    `shifted=None` plants the default shifts: n00-n05 and c0-c1 (8 of the 25 default columns).
    Every planted shift is large enough that the default thresholds flag it at a few thousand rows;
    `describe_drift_data()` says what each column is and how it shifts.
    """
    if n_rows < 1:
        raise DriftError(f"n_rows must be a positive number of rows, got {n_rows}")
    if n_numeric < 0 or n_categorical < 0 or n_numeric + n_categorical == 0:
        raise DriftError("n_numeric and n_categorical must be >= 0 and give at least one column")
    names = _column_names(n_numeric, n_categorical)
    if shifted is None:
        shifted = [f"n{i:02d}" for i in range(min(6, n_numeric))] + [f"c{j}" for j in range(min(2, n_categorical))]
    shifted = list(shifted)
    unknown = [c for c in shifted if c not in names]
    if unknown:
        raise DriftError(f"shifted names unknown columns {unknown}; the columns are {names}")
    frames = []
    for side in (0, 1):
        # Independent streams per side and per column, so adding a column leaves the others unchanged.
        data = {}
        for i in range(n_numeric):
            rng = np.random.default_rng([random_state, side, 0, i])
            name = names[i]
            data[name] = _numeric(i % len(NUMERIC_KINDS), n_rows, side == 1 and name in shifted, rng)
        for j in range(n_categorical):
            rng = np.random.default_rng([random_state, side, 1, j])
            name = names[n_numeric + j]
            data[name] = _categorical(j % len(CATEGORICAL_KINDS), n_rows, side == 1 and name in shifted, rng)
        frames.append(pd.DataFrame(data))
    return frames[0], frames[1]


def _column_names(n_numeric: int, n_categorical: int) -> list[str]:
    """Column names used by make_drift_data."""
    return [f"n{i:02d}" for i in range(n_numeric)] + [f"c{j}" for j in range(n_categorical)]


def describe_drift_data(n_numeric: int = 20, n_categorical: int = 5) -> pd.DataFrame:
    """Say what each make_drift_data column holds and what its planted shift is."""
    rows = []
    for i in range(n_numeric):
        base, shift = NUMERIC_KINDS[i % len(NUMERIC_KINDS)]
        rows.append({"feature": f"n{i:02d}", "kind": "numeric", "baseline": base, "shift": shift})
    for j in range(n_categorical):
        base, shift = CATEGORICAL_KINDS[j % len(CATEGORICAL_KINDS)]
        rows.append({"feature": f"c{j}", "kind": "categorical", "baseline": base, "shift": shift})
    return pd.DataFrame(rows)

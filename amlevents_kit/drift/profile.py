"""Profile a baseline once into a small artifact that target batches are scored against."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DriftError, DriftWarning, names, seed, whole_number

GRID = 4096  # quantile cells per numeric column: KS and Wasserstein errors stay below 1/GRID
SAMPLE_ROWS = 20_000  # baseline rows kept for the drift-coefficient classifier
FORMAT = "amlevents-kit/drift-profile/1"
# Azure ML v1 column typing (spec drift.md §2.1, §4.1): text is compared as categories only with fewer than
# MAX_CATEGORIES distinct values and fewer than MAX_UNIQUE_SHARE of the rows distinct; a numeric column with
# more than MAX_NULL_SHARE nulls is dropped. Both are reported, never silently.
MAX_CATEGORIES = 100
MAX_UNIQUE_SHARE = 0.05
MAX_NULL_SHARE = 0.15


@dataclass
class NumericProfile:
    """What a numeric baseline column is reduced to: moments plus a quantile sketch."""

    name: str
    n: int  # non-null values
    n_null: int
    min: float
    max: float
    mean: float
    std: float  # sample standard deviation (ddof=1), as Azure ML v2 normalizes Wasserstein
    u: np.ndarray  # cell edges in [0, 1]: k/G plus finer steps in both tails (float64)
    values: np.ndarray  # baseline order statistics at the cell edges (float64)
    below: np.ndarray  # count of baseline values < values[k] (int64)
    upto: np.ndarray  # count of baseline values <= values[k] (int64)
    integral: np.ndarray  # integral of (quantile function - mean) from 0 to each edge (float64)
    dtype: str = ""  # the baseline column's dtype, to name it when a target column does not match

    kind = "numeric"


@dataclass
class CategoricalProfile:
    """What a categorical baseline column is reduced to: its categories and their counts."""

    name: str
    categories: list  # most frequent first; str, int, float or bool values
    counts: np.ndarray  # int64, one per category
    n_null: int  # nulls count as their own category

    kind = "categorical"

    @cached_property
    def index(self) -> pd.Index:
        """The categories as a pandas Index, for looking target values up."""
        return pd.Index(self.categories, dtype=object)

    @property
    def n(self) -> int:
        """Rows in the baseline, nulls included."""
        return int(self.counts.sum()) + self.n_null


@dataclass
class Profile:
    """A baseline reduced to per-column sketches plus a small row sample; save it next to the model."""

    columns: list  # NumericProfile | CategoricalProfile, in baseline column order
    n_rows: int
    name: str | None = None
    sample: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    # sample: baseline rows for the classifier, float32, categoricals as category index, NaN = null
    excluded: dict = field(default_factory=dict)  # column -> why Azure ML v1's typing left it out

    @property
    def features(self) -> list[str]:
        """Profiled column names, in order."""
        return [c.name for c in self.columns]

    def column(self, name: str):
        """The profile of one column."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def save(self, path: str | Path) -> Path:
        """Write the profile as a compressed .npz (no pickle) and return the path."""
        path = Path(path)
        meta = {"format": FORMAT, "name": self.name, "n_rows": self.n_rows, "columns": [],
                "excluded": self.excluded}
        arrays = {"sample": self.sample}
        for i, c in enumerate(self.columns):
            if c.kind == "numeric":
                meta["columns"].append(
                    {"name": c.name, "kind": c.kind, "n": c.n, "n_null": c.n_null, "min": c.min,
                     "max": c.max, "mean": c.mean, "std": c.std, "dtype": c.dtype}
                )
                for key in ("u", "values", "below", "upto", "integral"):
                    arrays[f"{i}.{key}"] = getattr(c, key)
            else:
                meta["columns"].append(
                    {"name": c.name, "kind": c.kind, "categories": c.categories, "n_null": c.n_null}
                )
                arrays[f"{i}.counts"] = c.counts
        arrays["meta"] = np.array(json.dumps(meta))
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Profile":
        """Read a profile written by save()."""
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT:
                raise DriftError(f"{path} is not a drift profile (format {meta.get('format')!r}, expected {FORMAT!r})")
            columns = []
            for i, m in enumerate(meta["columns"]):
                if m["kind"] == "numeric":
                    columns.append(
                        NumericProfile(
                            name=m["name"], n=m["n"], n_null=m["n_null"], min=m["min"], max=m["max"],
                            mean=m["mean"], std=m["std"], u=z[f"{i}.u"], values=z[f"{i}.values"],
                            below=z[f"{i}.below"],
                            upto=z[f"{i}.upto"], integral=z[f"{i}.integral"], dtype=m.get("dtype", ""),
                        )
                    )
                else:
                    columns.append(
                        CategoricalProfile(name=m["name"], categories=m["categories"],
                                           counts=z[f"{i}.counts"], n_null=m["n_null"])
                    )
            return cls(columns=columns, n_rows=meta["n_rows"], name=meta["name"], sample=z["sample"],
                       excluded=meta.get("excluded", {}))

    def __repr__(self) -> str:
        kinds = [c.kind for c in self.columns]
        left_out = f", excluded={sorted(self.excluded)}" if self.excluded else ""
        return (f"Profile(name={self.name!r}, rows={self.n_rows}, numeric={kinds.count('numeric')}, "
                f"categorical={kinds.count('categorical')}{left_out})")


def profile(
    baseline: pd.DataFrame,
    *,
    categorical: list[str] | None = None,
    features: list[str] | None = None,
    name: str | None = None,
    grid: int = GRID,
    sample_rows: int = SAMPLE_ROWS,
    random_state: int = 0,
) -> Profile:
    """Profile a baseline frame once; score target batches against the result with detect().

    Column typing follows Azure ML v1 dataset monitors: numeric dtypes are numeric, bool and category
    dtypes categorical, and a text column is categorical only with fewer than 100 distinct values and
    fewer than 5% of its rows distinct (nulls are their own category; an ID or free-text column is left
    out); a numeric column with more than 15% nulls is left out too. Left-out columns are listed in
    `Profile.excluded` with the reason, and a DriftWarning says so.
    Overrides: `categorical=[...]` names the categorical columns yourself (compared as categories however
    many distinct values they hold; every other column must then be numeric); `features=[...]` profiles
    only those columns, in that order, and keeps each of them whatever the typing rules say.
    grid: quantile cells per numeric column; KS and Wasserstein errors stay below 1/grid (exact when the
    baseline has no more rows than grid). sample_rows: baseline rows kept for the drift coefficient.
    """
    grid = whole_number(grid, "grid", 2)
    sample_rows = whole_number(sample_rows, "sample_rows", 0)
    random_state = seed(random_state)
    if name is not None and not isinstance(name, str):
        raise DriftError(f"name must be a string or None, got {name!r:.80}")
    check_frame(baseline, "baseline")
    if features is not None:
        features = names(features, "features")
        unknown = [f for f in features if f not in baseline.columns]
        if unknown or not features:
            raise DriftError(f"features must name baseline columns, got {unknown or features}; "
                             f"baseline columns are {list(baseline.columns)}")
        twice = sorted({f for f in features if features.count(f) > 1})
        if twice:
            raise DriftError(f"features names {twice} more than once")
    kinds = column_kinds(baseline, categorical, features)
    chosen = set(categorical or ()) | set(features or ())  # the caller's word beats the typing rules
    n = len(baseline)
    columns, excluded = [], {}
    for col, kind in kinds.items():
        series = baseline[col]
        if kind == "numeric":
            x = numeric_values(series, col, "baseline")
            reason = None if col in chosen else numeric_exclusion(int(np.count_nonzero(np.isnan(x))), n)
            if reason:
                excluded[col] = reason
                continue
            numeric = _profile_numeric(col, x, int(grid))
            numeric.dtype = str(series.dtype)
            columns.append(numeric)
            continue
        codes, uniques = factorize(series)
        reason = None if col in chosen or not is_text(series) else text_exclusion(len(uniques), n)
        if reason:
            excluded[col] = reason
            continue
        columns.append(_categorical_from_codes(col, codes, uniques))
    if not columns:
        raise DriftError("no baseline column is left to compare: " + exclusion_message(excluded))
    if excluded:
        warnings.warn(exclusion_message(excluded), DriftWarning, stacklevel=2)
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(n, size=min(sample_rows, n), replace=False)) if sample_rows < n else np.arange(n)
    sample = encode_rows(baseline, columns, rows)
    return Profile(columns=columns, n_rows=n, name=name, sample=sample, excluded=excluded)


def is_text(series: pd.Series) -> bool:
    """Text (object or string dtype): the columns Azure ML v1's distinct-value rule applies to.

    bool and category dtypes are categorical by choice of the frame's author and are kept as they are.
    """
    dtype = series.dtype
    return not isinstance(dtype, pd.CategoricalDtype) and (dtype == object or pd.api.types.is_string_dtype(dtype))


def text_exclusion(n_unique: int, n_rows: int) -> str | None:
    """Why a text column is not compared as categories (Azure ML v1), or None when it is."""
    if n_unique < MAX_CATEGORIES and n_unique < MAX_UNIQUE_SHARE * n_rows:
        return None
    return (f"text with {n_unique:,} distinct values in {n_rows:,} rows; Azure ML v1 compares text as categories "
            f"only below {MAX_CATEGORIES} distinct values and {MAX_UNIQUE_SHARE:.0%} of the rows (an ID or free "
            "text drifts on every batch)")


def numeric_exclusion(n_null: int, n_rows: int) -> str | None:
    """Why a numeric column is not compared (Azure ML v1 drops it above 15% nulls), or None when it is."""
    if n_null <= MAX_NULL_SHARE * n_rows or n_null == n_rows:  # all null: the clearer all-null error follows
        return None
    return (f"{n_null / n_rows:.0%} of its values are null ({n_null:,} of {n_rows:,}); Azure ML v1 drops numeric "
            f"columns with more than {MAX_NULL_SHARE:.0%} nulls")


def exclusion_message(excluded: dict) -> str:
    """One paragraph naming each left-out column, why, and how to compare it anyway."""
    listed = "; ".join(f"{col!r}: {why}" for col, why in excluded.items())
    return (f"not comparing {len(excluded)} column{'s' if len(excluded) > 1 else ''} by Azure ML v1's column "
            f"typing: {listed}. To compare one anyway, name it in features=[...] (or categorical=[...]).")


def excluded_columns(df: pd.DataFrame, categorical: list[str] | None = None) -> dict:
    """The columns profile(df) would leave out, with the reason, without profiling (for forms and checks)."""
    check_frame(df, "baseline")
    out = {}
    for col, kind in column_kinds(df, categorical).items():
        series = df[col]
        if categorical is not None and col in categorical:
            continue
        if kind == "numeric":
            if _not_a_number(series):
                continue  # profile() raises the clearer error
            reason = numeric_exclusion(int(series.isna().sum()), len(df))
        elif is_text(series):
            try:
                reason = text_exclusion(int(series.nunique(dropna=True)), len(df))
            except TypeError:  # unhashable values: profile() raises the clearer error
                continue
        else:
            continue
        if reason:
            out[col] = reason
    return out


def check_frame(df, what: str) -> None:
    """Raise DriftError unless df is a non-empty DataFrame with unique column names."""
    if not isinstance(df, pd.DataFrame):
        raise DriftError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    if df.shape[1] == 0:
        raise DriftError(f"{what} has no columns")
    if len(df) == 0:
        raise DriftError(f"{what} is empty (0 rows); drift needs rows on both sides")
    dupes = df.columns[df.columns.duplicated()].tolist()
    if dupes:
        raise DriftError(f"{what} has duplicate column names {dupes}")


def column_kinds(df: pd.DataFrame, categorical: list[str] | None, features: list[str] | None = None) -> dict:
    """Map each column (or each of `features`) to 'numeric' or 'categorical' (explicit list, else by dtype)."""
    if categorical is not None:
        categorical = names(categorical, "categorical")
        unknown = [c for c in categorical if c not in df.columns]
        if unknown:
            raise DriftError(
                f"categorical names columns not in the baseline: {unknown}; columns are {list(df.columns)}"
            )
    kinds = {}
    for col in df.columns if features is None else features:
        dtype = df[col].dtype
        if categorical is not None:
            kinds[col] = "categorical" if col in categorical else "numeric"
        elif pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
            kinds[col] = "categorical"
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[col] = "numeric"
        elif pd.api.types.is_string_dtype(dtype) or dtype == object:
            kinds[col] = "categorical"
        else:
            raise DriftError(
                f"column {col!r} has dtype {dtype}, which drift detection does not compare; "
                "drop it (df.drop(columns=[...])) or convert it to numbers or text"
            )
    return kinds


def numeric_values(series: pd.Series, col: str, what: str, baseline_dtype: str = "") -> np.ndarray:
    """Return the column as float64 with NaN for nulls, or raise DriftError naming the bad value.

    Dates, durations, periods and bools are refused rather than turned into numbers: a target column of
    Timestamps against a numeric baseline would otherwise compare nanoseconds since 1970 with the baseline.
    baseline_dtype names the baseline's dtype in that error when `what` is the target.
    """
    dtype = series.dtype
    refused = _not_a_number(series)
    if refused:
        if what == "target":
            raise DriftError(
                f"column {col!r} is numeric in the baseline ({baseline_dtype or 'numbers'}) but the target "
                f"holds {refused} values (dtype {dtype}); the two sides must hold the same kind of data: "
                "convert the target column to numbers, or drop the column from both"
            )
        raise DriftError(
            f"column {col!r} has dtype {dtype} ({refused} values), which drift detection does not compare as "
            "numbers; declare it categorical (categorical=[...]), convert it to numbers, or drop it"
        )
    if pd.api.types.is_numeric_dtype(dtype):
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            example = series[bad].iloc[0]
            raise DriftError(
                f"column {col!r} is numeric but the {what} holds non-numeric values such as {example!r} "
                f"({int(bad.sum())} rows); clean it, or declare it categorical"
            )
        x = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(x).all() and np.isinf(x).any():
        raise DriftError(f"column {col!r} in the {what} holds infinite values; only finite numbers are allowed")
    return x


NOT_NUMBERS = {"boolean": "bool", "datetime": "datetime", "datetime64": "datetime", "date": "date",
               "timedelta": "timedelta", "timedelta64": "timedelta", "period": "period", "time": "time"}


def _not_a_number(series: pd.Series) -> str | None:
    """'bool', 'datetime', 'timedelta', ... when the column holds values that must not pass as numbers."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "timedelta"
    if isinstance(dtype, pd.PeriodDtype):
        return "period"
    if dtype == object:  # Python bools, Timestamps or dates in an object column
        return NOT_NUMBERS.get(pd.api.types.infer_dtype(series, skipna=True))
    return None


def _profile_numeric(col: str, x: np.ndarray, grid: int) -> NumericProfile:
    """Sort the baseline column once and keep the quantile sketch."""
    n_all = len(x)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        raise DriftError(f"column {col!r} is all null in the baseline; drop it or fill it")
    s = np.sort(x)
    u = cell_edges(n, grid)
    values = s[np.minimum(floor_position(u * n), n - 1)]
    below = np.searchsorted(s, values, "left").astype(np.int64)
    upto = np.searchsorted(s, values, "right").astype(np.int64)
    lo, hi = float(s[0]), float(s[-1])
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(s.mean())
        std = float(s.std(ddof=1)) if n > 1 else 0.0
    if not (np.isfinite(mean) and np.isfinite(std)):
        raise DriftError(
            f"column {col!r} in the baseline holds values too large to average (up to {hi:.3g}); rescale it"
        )
    s -= mean  # centred sums keep the integrals accurate for columns far from zero
    integral = quantile_integral(s, u) / n
    return NumericProfile(
        name=col, n=n, n_null=n_all - n, min=lo, max=hi, mean=mean, std=std,
        u=u, values=values, below=below, upto=upto, integral=integral,
    )


def cell_edges(n: int, grid: int) -> np.ndarray:
    """Cell edges in [0, 1] for n values: k/g, with tail cells halved until they hold about one value.

    Tails span wide value ranges in few rows; finer tail cells keep Wasserstein and the binned
    baseline counts accurate there, and no cell is wider than 1/g, which bounds the KS error.
    """
    g = min(grid, n)
    body = np.arange(g + 1) / g
    halvings = max(0, math.ceil(math.log2(n / g))) if n > g else 0
    tail = 2.0 ** -np.arange(1, halvings + 1) / g
    return np.unique(np.concatenate((body, tail, 1.0 - tail)))


def floor_position(pos: np.ndarray) -> np.ndarray:
    """Floor of u * n positions, forgiving the rounding that makes (k / n) * n land just below k."""
    return np.floor(np.asarray(pos) + 1e-9).astype(np.int64)


def quantile_integral(s: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Integral of the empirical quantile function of sorted s, times len(s), from 0 to each u."""
    n = len(s)
    pos = u * n
    whole = np.minimum(floor_position(pos), n)
    frac = np.maximum(pos - whole, 0.0)
    # Prefix sums s[:whole] from segment sums (cheaper than a full cumsum of s).
    starts = np.unique(np.concatenate(([0], whole[whole < n])))
    seg = np.add.reduceat(s, starts)
    prefix = np.concatenate(([0.0], np.cumsum(seg)))  # prefix[i] = sum of s[:starts[i]], last = total
    at = np.searchsorted(starts, whole)
    head = np.where(whole >= n, prefix[-1], prefix[np.minimum(at, len(starts))])
    return head + frac * s[np.minimum(whole, n - 1)]


def _categorical_from_codes(col: str, codes: np.ndarray, uniques: pd.Index) -> CategoricalProfile:
    """Count each category once (null is its own category), from factorize()'s codes (-1 = null) and values."""
    n_null = int((codes < 0).sum())
    if n_null == len(codes):
        raise DriftError(f"column {col!r} is all null in the baseline; drop it or fill it")
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    order = np.argsort(-counts, kind="stable")
    categories = [_plain(v) for v in np.asarray(uniques, dtype=object)[order]]
    return CategoricalProfile(name=col, categories=categories, counts=counts[order].astype(np.int64), n_null=n_null)


def factorize(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 = null) and the distinct values; cheap for category dtype."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return np.asarray(series.cat.codes), series.cat.categories
    values = series.to_numpy(dtype=object) if pd.api.types.is_string_dtype(series.dtype) else series
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)  # object arrays hash about 2x faster
    except TypeError:
        raise _unhashable(series) from None
    return np.asarray(codes), pd.Index(uniques, dtype=object)


def _unhashable(series: pd.Series) -> DriftError:
    """The error for a column holding lists, dicts or other values that cannot be categories."""
    example = next((v for v in series if isinstance(v, (list, dict, set)) or not _hashable(v)), None)
    return DriftError(
        f"column {series.name!r} holds values that cannot be compared as categories, such as {example!r:.60}; "
        "categories must be text, numbers or bools"
    )


def _hashable(v) -> bool:
    """Whether v can be a dictionary key (and so a category)."""
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _plain(v):
    """A JSON-friendly Python value for a category."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (str, bool, int)) or v is None:
        return v
    if isinstance(v, float):
        return v
    return str(v)


OTHER_CODE = 250  # categories past the 250 most frequent share one code for the classifier
UNSEEN_CODE = 251


def encode_rows(df: pd.DataFrame, columns: list, rows: np.ndarray) -> np.ndarray:
    """Encode some rows as float32 for the classifier: numbers as is, categories as baseline index."""
    out = np.empty((len(rows), len(columns)), dtype=np.float32)
    for j, c in enumerate(columns):
        part = df[c.name].iloc[rows]
        if c.kind == "numeric":
            out[:, j] = as_float32(numeric_values(part, c.name, "data"))
        else:
            out[:, j] = classifier_codes(target_codes(c, part)[0], len(c.categories), part.isna().to_numpy())
    return out


def as_float32(x: np.ndarray) -> np.ndarray:
    """float32 for the classifier; values beyond float32's range saturate instead of becoming inf."""
    big = np.finfo(np.float32).max
    return np.clip(x, -big, big).astype(np.float32)


def target_codes(c: CategoricalProfile, series: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Per-row index into the baseline categories, len(categories) for nulls and unseen values.

    Also returns the rows that got that sentinel (usually few), for counting nulls and unseen values.
    Looking values up in the small baseline index is as fast as hashing the column and needs a third
    of the memory of pd.factorize.
    """
    k = len(c.categories)
    if isinstance(series.dtype, pd.CategoricalDtype):
        mapping = c.index.get_indexer(pd.Index(series.cat.categories, dtype=object))
        mapping = np.append(np.where(mapping < 0, k, mapping), k)  # code -1 (null) reads the last entry
        codes = mapping[np.asarray(series.cat.codes)]
    else:
        values = series.to_numpy(dtype=object) if pd.api.types.is_string_dtype(series.dtype) else series.to_numpy()
        try:
            codes = c.index.get_indexer(values)
        except TypeError:
            raise _unhashable(series) from None
        codes[codes < 0] = k
    miss = codes == k
    return codes, series[miss] if miss.any() else series.iloc[:0]


def classifier_codes(codes: np.ndarray, k: int, null: np.ndarray) -> np.ndarray:
    """Per-row classifier feature: baseline index (capped at OTHER_CODE), UNSEEN_CODE, or NaN for null."""
    out = np.minimum(codes, OTHER_CODE).astype(np.float32)
    out[codes == k] = UNSEEN_CODE
    out[null] = np.nan
    return out


def sturges_bins(n_smaller: int) -> int:
    """Azure ML v2's bin count: ceil(log2(n) + 1) for the smaller of the two samples."""
    return max(1, math.ceil(math.log2(max(n_smaller, 1)) + 1))

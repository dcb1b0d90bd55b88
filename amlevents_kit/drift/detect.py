"""Score a target batch against a baseline profile: per-feature table, dataset verdict, event data."""

from __future__ import annotations

import html
import warnings
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from .coefficient import MIN_ROWS, drift_coefficient
from .errors import DriftError, DriftWarning, fraction, names, seed, whole_number
from .profile import Profile, as_float32, check_frame, numeric_values, profile
from ..events.models import parse_time
from .stats import score_categorical, score_numeric

# metric -> (table column, kinds it applies to, default threshold, drift when value is above the threshold?)
METRICS = {
    "wasserstein": ("wasserstein", ("numeric",), 0.1, True),
    "jensen_shannon": ("jensen_shannon", ("numeric", "categorical"), 0.1, True),
    "psi": ("psi", ("numeric", "categorical"), 0.2, True),
    "ks": ("ks_pvalue", ("numeric",), 0.05, False),
    "chi2": ("chi2_pvalue", ("categorical",), 0.05, False),
}
# Azure ML v2 monitor metric names are accepted too.
ALIASES = {
    "normalized_wasserstein_distance": "wasserstein",
    "jensen_shannon_distance": "jensen_shannon",
    "population_stability_index": "psi",
    "two_sample_kolmogorov_smirnov_test": "ks",
    "pearsons_chi_squared_test": "chi2",
}
DEFAULT_METRIC = {"numeric": "wasserstein", "categorical": "jensen_shannon"}  # Azure ML v2 out-of-box
RULES = ("any", "share", "coefficient")
SUBSAMPLE = 20_000
TABLE_COLUMNS = [
    "feature", "kind", "metric", "value", "threshold", "drifted",
    "wasserstein", "jensen_shannon", "psi", "ks_statistic", "ks_pvalue",
    "chi2_statistic", "chi2_pvalue", "unseen_share", "null_share", "baseline_mean", "target_mean", "n_target",
]


def detect(
    profile_or_baseline: Profile | pd.DataFrame,
    target: pd.DataFrame,
    *,
    metric: str | dict | None = None,
    threshold: float | dict | None = None,
    features: list[str] | None = None,
    rule: str = "any",
    share: float = 0.5,
    coefficient_threshold: float = 0.2,
    subsample: int = SUBSAMPLE,
    random_state: int = 0,
) -> "DriftResult":
    """Compare a target frame with a baseline (a Profile, or a DataFrame profiled on the spot).

    metric: the per-feature metric that decides `drifted` — 'wasserstein' (normalized by the baseline
        std; numeric default), 'jensen_shannon' (base 2; categorical default), 'psi', 'ks' (p-value)
        or 'chi2' (p-value); a dict {'numeric': ..., 'categorical': ...} sets each kind.
    threshold: number or dict by kind or feature name; default 0.1 for distances (Azure ML v2),
        0.2 for PSI, 0.05 for p-values. A distance drifts above it, a p-value below it. A single number
        applies to the kinds the chosen metric covers (metric='ks' -> numeric features only; the
        categorical ones keep their own metric's default); with a metric dict, to the kinds it names;
        with no metric, to both kinds.
    features: compare only these profiled columns (default: all of them). With a baseline DataFrame they
        are profiled on the spot and kept whatever Azure ML v1's column typing says (see profile()).
    rule: dataset verdict — 'any' feature drifted (Azure ML v2), a 'share' of features >= share
        (Evidently), or drift 'coefficient' > coefficient_threshold (Azure ML v1's classifier MCC).
    subsample: rows per side for the drift-coefficient classifier.
    Extra target columns are ignored; missing ones are an error.
    """
    if not isinstance(rule, str) or rule not in RULES:
        raise DriftError(f"rule must be one of {list(RULES)}, got {rule!r:.80}")
    share = fraction(share, "share", low_open=True)
    coefficient_threshold = fraction(coefficient_threshold, "coefficient_threshold", low_open=False)
    subsample = whole_number(subsample, "subsample", 1)
    random_state = seed(random_state)
    if isinstance(profile_or_baseline, pd.DataFrame):
        chosen = None if features is None else names(features, "features")
        prof = profile(profile_or_baseline, features=chosen, sample_rows=subsample, random_state=random_state)
    elif isinstance(profile_or_baseline, Profile):
        prof = profile_or_baseline
    else:
        raise DriftError(
            f"the first argument must be a Profile or a baseline DataFrame, got {type(profile_or_baseline).__name__}"
        )
    check_frame(target, "target")
    if features is not None:
        prof = _select(prof, names(features, "features"))
    missing = [f for f in prof.features if f not in target.columns]
    if missing:
        raise DriftError(f"target lacks baseline columns {missing}; target columns are {list(target.columns)}")
    choice = _resolve(prof, metric, threshold)

    m = len(target)
    if min(m, prof.n_rows) < MIN_ROWS:
        warnings.warn(f"{_few_rows(prof.n_rows, m)}: the per-feature statistics are mostly noise, and the "
                      "drift coefficient (every DatasetDriftDetected event carries it) cannot be computed",
                      DriftWarning, stacklevel=2)
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(m, size=subsample, replace=False)) if subsample < m else np.arange(m)
    target_sample = np.empty((len(rows), len(prof.columns)), dtype=np.float32)
    records, plots = [], {}
    for j, col in enumerate(prof.columns):
        if col.kind == "numeric":
            x = numeric_values(target[col.name], col.name, "target", col.dtype)
            target_sample[:, j] = as_float32(x[rows])
            row, plot = score_numeric(col, x)
            del x  # one column's temporaries at a time
        else:
            row, plot, target_sample[:, j] = score_categorical(col, target[col.name], rows)
        name, thr = choice[col.name]
        column, _, _, above = METRICS[name]
        value = row[column]
        row.update(feature=col.name, kind=col.kind, metric=name, value=value, threshold=thr,
                   drifted=bool(value > thr if above else value < thr))
        records.append(row)
        plots[col.name] = plot
    table = pd.DataFrame.from_records(records).reindex(columns=TABLE_COLUMNS)
    table["drifted"] = table["drifted"].astype(bool)
    base_sample = prof.sample
    if len(base_sample) > subsample:
        base_sample = base_sample[np.sort(rng.choice(len(base_sample), subsample, replace=False))]
    return DriftResult(
        table=table, rule=rule, share=share, coefficient_threshold=coefficient_threshold,
        n_baseline=prof.n_rows, n_target=m, baseline_name=prof.name, plots=plots,
        excluded={} if features is not None else dict(prof.excluded),
        samples=(base_sample, target_sample, np.array([c.kind == "categorical" for c in prof.columns])),
        random_state=random_state,
    )


def _select(prof: Profile, features: list[str]) -> Profile:
    """A view of the profile restricted to some features (sample columns included)."""
    left_out = {f: prof.excluded[f] for f in features if f in prof.excluded}
    if left_out:
        raise DriftError(
            "features names columns the profile left out: "
            + "; ".join(f"{col!r}: {why}" for col, why in left_out.items())
            + ". Profile the baseline again with features=[...] (or categorical=[...]) naming them to compare them."
        )
    unknown = [f for f in features if f not in prof.features]
    if unknown or not features:
        raise DriftError(f"features must name profiled columns, got {unknown or features}; profiled: {prof.features}")
    index = [prof.features.index(f) for f in features]
    sample = prof.sample[:, index] if prof.sample.size else prof.sample
    return Profile(columns=[prof.columns[i] for i in index], n_rows=prof.n_rows, name=prof.name, sample=sample)


def _resolve(prof: Profile, metric, threshold) -> dict:
    """Pick (metric, threshold) for every feature from the metric/threshold arguments."""
    by_kind = dict(DEFAULT_METRIC)
    if isinstance(metric, dict):
        unknown = set(metric) - set(by_kind)
        if unknown:
            raise DriftError(f"metric dict keys must be 'numeric' and/or 'categorical', got {sorted(unknown)}")
        items = metric.items()
    elif metric is None:
        items = []
    elif isinstance(metric, str):
        name = ALIASES.get(metric, metric)
        if name not in METRICS:
            raise DriftError(f"metric must be one of {list(METRICS)} (or an Azure ML v2 name), got {metric!r}")
        items = [(kind, name) for kind in METRICS[name][1]]
    else:
        raise DriftError(f"metric must be a name or a dict by kind, got {type(metric).__name__}")
    for kind, name in items:
        if not isinstance(name, str):
            raise DriftError(f"metric for {kind} features must be a metric name, got {name!r:.80}")
        name = ALIASES.get(name, name)
        if name not in METRICS or kind not in METRICS[name][1]:
            allowed = [k for k, v in METRICS.items() if kind in v[1]]
            raise DriftError(f"metric for {kind} features must be one of {allowed}, got {name!r}")
        by_kind[kind] = name
    if threshold is not None and not isinstance(threshold, dict):
        # One number sets the threshold of the metric that was chosen, so only for the kinds that metric
        # covers: metric='ks' with 0.01 leaves categorical features at Jensen-Shannon's 0.1. With no metric
        # (or a dict), it applies to the kinds named there, or to both (default distances, both 0.1).
        kinds = [kind for kind, _ in items] or ["numeric", "categorical"]
        threshold = {kind: threshold for kind in kinds}
    threshold = threshold or {}
    unknown = set(threshold) - {"numeric", "categorical"} - set(prof.features)
    if unknown:
        raise DriftError(
            f"threshold keys must be 'numeric', 'categorical' or feature names, got {sorted(map(repr, unknown))}"
        )
    out = {}
    for col in prof.columns:
        name = by_kind[col.kind]
        thr = threshold.get(col.name, threshold.get(col.kind, METRICS[name][2]))
        try:
            thr = float(thr)
        except (TypeError, ValueError, OverflowError):
            raise DriftError(f"threshold for {col.name!r} must be a number, got {thr!r:.80}") from None
        if not np.isfinite(thr) or thr < 0:
            raise DriftError(f"threshold for {col.name!r} must be a finite number >= 0, got {thr!r}")
        out[col.name] = (name, thr)
    return out


class DriftResult:
    """The outcome of detect(): a tidy per-feature table, the dataset verdict, plots and event data."""

    def __init__(self, *, table, rule, share, coefficient_threshold, n_baseline, n_target, baseline_name,
                 plots, samples, random_state, excluded=None):
        self.table: pd.DataFrame = table
        self.excluded: dict = dict(excluded or {})  # baseline columns left out by Azure ML v1's typing, and why
        self.rule = rule
        self.share = share
        self.coefficient_threshold = coefficient_threshold
        self.n_baseline = n_baseline
        self.n_target = n_target
        self.baseline_name = baseline_name
        self._plots = plots
        self._samples = samples
        self._random_state = random_state
        self._coefficient: float | None = None

    @property
    def drift_coefficient(self) -> float:
        """Azure ML v1's DriftCoefficient (classifier MCC, 0..1); trained on first use, then cached."""
        if self._coefficient is None:
            base, target, categorical = self._samples
            if min(len(base), len(target)) < MIN_ROWS <= min(self.n_baseline, self.n_target):
                raise DriftError(
                    f"the drift coefficient needs at least {MIN_ROWS} rows on each side, but only {len(base)} "
                    f"baseline and {len(target)} target rows were kept for it: raise detect(subsample=...) or "
                    f"profile(sample_rows=...) to {MIN_ROWS} or more"
                )
            self._coefficient = drift_coefficient(base, target, categorical, random_state=self._random_state)
        return self._coefficient

    @property
    def drifted_features(self) -> list[str]:
        """Features whose metric crossed its threshold, most severe first."""
        t = self.table[self.table["drifted"]]
        return list(t.loc[_severity(t).sort_values(ascending=False).index, "feature"])

    @property
    def drifted_share(self) -> float:
        """Share of features that drifted."""
        return float(self.table["drifted"].mean())

    @property
    def drifted(self) -> bool:
        """Dataset verdict by the chosen rule."""
        if self.rule == "any":
            return bool(self.table["drifted"].any())
        if self.rule == "share":
            return self.drifted_share >= self.share
        return self.drift_coefficient > self.coefficient_threshold

    def verdict(self) -> str:
        """One sentence saying what the rule concluded and why."""
        k, total = int(self.table["drifted"].sum()), len(self.table)
        if self.rule == "any":
            why = f"{k} of {total} features over their threshold (rule: any)"
        elif self.rule == "share":
            why = f"{k} of {total} features drifted = {self.drifted_share:.0%}, rule: share >= {self.share:.0%}"
        else:
            why = f"drift coefficient {self.drift_coefficient:.3f}, rule: > {self.coefficient_threshold}"
        caveat = ""
        if min(self.n_baseline, self.n_target) < MIN_ROWS:
            caveat = f" (unreliable: {_few_rows(self.n_baseline, self.n_target)})"
        return f"{'Drift' if self.drifted else 'No drift'}: {why}{caveat}"

    def plot(self, ax=None):
        """Bar chart of each feature's metric against its threshold; returns the matplotlib Figure."""
        from .plots import plot_drift

        return plot_drift(self, ax=ax)

    def plot_features(self, features=None, *, top: int = 3):
        """Baseline vs target distributions for the given (or the top drifted) features; returns the Figure."""
        from .plots import plot_features

        return plot_features(self, features, top=top)

    def to_event_data(self, *, data_drift_id: str, data_drift_name: str, run_id: str, base_dataset_id: str,
                      target_dataset_id: str, start_time=None, end_time=None) -> dict:
        """The `data` of a Microsoft.MachineLearningServices.DatasetDriftDetected event (camelCase keys).

        start_time/end_time: datetime (naive means UTC), ISO 8601 string, or None.
        """
        for key, value in (("data_drift_id", data_drift_id), ("data_drift_name", data_drift_name),
                           ("run_id", run_id), ("base_dataset_id", base_dataset_id),
                           ("target_dataset_id", target_dataset_id)):
            if not isinstance(value, str) or not value:
                raise DriftError(f"{key} must be a non-empty string, got {value!r}")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise DriftError(f"{key} must be text that JSON can carry (UTF-8); it holds a lone surrogate "
                                 f"at position {value.index(next(c for c in value if 0xD800 <= ord(c) <= 0xDFFF))}"
                                 ) from None
        return {
            "dataDriftId": data_drift_id,
            "dataDriftName": data_drift_name,
            "runId": run_id,
            "baseDatasetId": base_dataset_id,
            "targetDatasetId": target_dataset_id,
            "driftCoefficient": float(self.drift_coefficient),
            "startTime": _iso(start_time, "start_time"),
            "endTime": _iso(end_time, "end_time"),
        }

    def notes(self) -> list[str]:
        """What a reader of the verdict should also know: columns left out of the comparison."""
        return [f"not compared: {col} ({why})" for col, why in self.excluded.items()]

    def __repr__(self) -> str:
        left_out = f"; not compared: {sorted(self.excluded)}" if self.excluded else ""
        return f"<DriftResult {self.verdict()}; drifted: {self.drifted_features}{left_out}>"

    def _repr_html_(self) -> str:
        named = f" ({html.escape(self.baseline_name)})" if self.baseline_name else ""
        coef = (f"{self._coefficient:.3f}" if self._coefficient is not None
                else "not computed yet (read <code>.drift_coefficient</code>)")
        shown = self.table[["feature", "kind", "metric", "value", "threshold", "drifted"]]
        styled = shown.style.format({"value": "{:.4f}", "threshold": "{:.3g}"}).apply(
            lambda r: ["background-color: #f8d7da" if r["drifted"] else "" for _ in r], axis=1
        ).hide(axis="index")
        notes = "".join(f"<br>{html.escape(note)}" for note in self.notes())
        return (
            f"<div><p><b>{html.escape(self.verdict())}</b><br>"
            f"baseline {self.n_baseline:,} rows{named}, "
            f"target {self.n_target:,} rows; drift coefficient: {coef}{notes}</p>{styled.to_html()}</div>"
        )


def _few_rows(n_baseline: int, n_target: int) -> str:
    """'the target has 1 row (baseline 6,000); Azure ML v1 monitors needed at least 50 on each side'."""
    sides = [f"the {side} has {n:,} row{'s' if n != 1 else ''}"
             for side, n in (("baseline", n_baseline), ("target", n_target)) if n < MIN_ROWS]
    return f"{' and '.join(sides)}; Azure ML v1 monitors needed at least {MIN_ROWS} on each side"


def _severity(table: pd.DataFrame) -> pd.Series:
    """How far past its threshold each feature is (>1 = drifted), comparable across metrics."""
    above = table["metric"].map(lambda m: METRICS[m][3])
    value, thr = table["value"].astype(float), table["threshold"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(above, value / thr, thr / value)
    return pd.Series(np.nan_to_num(ratio, nan=0.0, posinf=1e9), index=table.index)


def _iso(value, key: str):
    """ISO 8601 text for an event time, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        if parse_time(value) is None:  # Azure's 7-digit fractions too, on every Python
            raise DriftError(
                f"{key} must be an ISO 8601 time such as '2019-07-04T00:00:00+00:00', got {value!r}"
            )
        return value
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    raise DriftError(f"{key} must be a datetime, an ISO 8601 string or None, got {type(value).__name__}")

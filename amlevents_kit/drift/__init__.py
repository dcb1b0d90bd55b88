"""Data drift: profile a baseline once, score target batches, and turn the result into an event.

    >>> from amlevents_kit.drift import make_drift_data, profile, detect
    >>> baseline, target = make_drift_data(10_000)        # 8 of 25 columns shifted on purpose
    >>> prof = profile(baseline, name="training")         # once, at training time
    >>> prof.save("baseline.npz")                         # a few MB, next to the model
    >>> result = detect(prof, target)                     # per target batch
    >>> result.table                                      # one row per feature
    >>> result.drifted, result.drifted_features           # verdict by rule="any" (default)
    >>> result.drift_coefficient                          # Azure ML v1's classifier MCC
    >>> result.plot(); result.plot_features(top=3)        # matplotlib Figures
    >>> result.to_event_data(data_drift_id=..., data_drift_name=..., run_id=...,
    ...                      base_dataset_id=..., target_dataset_id=..., start_time=..., end_time=...)

What is computed (see ../shared/spec/drift.md):
- numeric features: normalized Wasserstein distance W1 / max(std_baseline, 0.001) (the default metric,
  threshold 0.1, as Azure ML v2 and Evidently), Jensen-Shannon distance (base 2) and PSI on Azure ML
  v2's Sturges bins over the combined range, KS statistic and asymptotic p-value;
- categorical features: Jensen-Shannon distance (default metric, threshold 0.1), PSI, Pearson
  chi-squared test of homogeneity, share of target rows with categories the baseline never had;
  nulls count as their own category (numeric nulls are dropped and reported as null_share);
- column typing as Azure ML v1: text is categorical only with fewer than 100 distinct values and fewer than
  5% of the rows distinct, and a numeric column with more than 15% nulls is dropped; left-out columns are
  listed with the reason (Profile.excluded, DriftResult.excluded, a DriftWarning); categorical=[...] and
  features=[...] override the rules;
- the dataset verdict: any feature drifted (Azure ML v2), a share of features (Evidently), or the drift
  coefficient (Azure ML v1: a gradient-boosting classifier told apart baseline and target rows,
  Matthews correlation on the held-out half) above 0.2.

How: profile() sorts each baseline column once and keeps a quantile sketch (4,096 cells, finer in the
tails), category counts and a 20,000-row sample; detect() sorts each target column once and reads
everything off the sketch. The KS statistic and Wasserstein stay within 1e-3 of scipy's exact values (KS
within 2e-4, exact when the baseline has at most 4,096 rows); the KS p-value, steep in the statistic, is
within about 0.02 of scipy's (0.003 around 0.05), see stats.ks_pvalue. benchmarks/bench_drift.py measures
speed against Evidently.
"""

from .data import describe_drift_data, make_drift_data
from .detect import METRICS, DriftResult, detect
from .errors import DriftError, DriftWarning
from .monitor import DriftMonitor, DriftTopic, MonitorRun, create_drift_topic
from .plots import plot_drift, plot_features
from .profile import Profile, profile

__all__ = [
    "METRICS",
    "DriftError",
    "DriftWarning",
    "DriftMonitor",
    "DriftResult",
    "DriftTopic",
    "MonitorRun",
    "Profile",
    "describe_drift_data",
    "create_drift_topic",
    "detect",
    "make_drift_data",
    "plot_drift",
    "plot_features",
    "profile",
]

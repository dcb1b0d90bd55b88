"""Data drift: profile a baseline once, score target batches, and turn the result into an event.

    >>> from amlevents_kit.drift import make_drift_data, profile, detect
    >>> baseline, target = make_drift_data(10_000)
    >>> result = detect(profile(baseline), target)
    >>> result.table                 # one row per feature: metrics, threshold, drifted
    >>> result.drifted               # dataset verdict (rule="any" | "share" | "coefficient")
    >>> result.drift_coefficient     # Azure ML v1's classifier MCC
    >>> result.to_event_data(...)    # DatasetDriftDetected event data

Statistics follow Azure ML v2 model monitoring (normalized Wasserstein, Jensen-Shannon base 2, PSI,
KS, chi-squared; default thresholds 0.1) and Azure ML v1 dataset monitors (the drift coefficient).
"""

from .data import describe_drift_data, make_drift_data
from .detect import METRICS, DriftResult, detect
from .errors import DriftError
from .plots import plot_drift, plot_features
from .profile import Profile, profile

__all__ = [
    "METRICS",
    "DriftError",
    "DriftResult",
    "Profile",
    "describe_drift_data",
    "detect",
    "make_drift_data",
    "plot_drift",
    "plot_features",
    "profile",
]

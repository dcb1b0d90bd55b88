"""Matplotlib figures for a DriftResult: metric bars against thresholds, distribution overlays."""

from __future__ import annotations

import numpy as np

from .detect import METRICS, DriftResult, _severity

DRIFT_COLOR, OK_COLOR, BASE_COLOR, TARGET_COLOR = "#d62728", "#1f77b4", "#7f7f7f", "#ff7f0e"


def plot_drift(result: DriftResult, ax=None):
    """Horizontal bars, one per feature, of its metric value with its threshold marked; returns the Figure.

    Distances drift when the bar passes the threshold mark; p-values (ks, chi2) drift when below it.
    """
    from matplotlib.figure import Figure  # imported on first plot: scoring never needs matplotlib

    table = result.table
    if ax is None:
        fig = Figure(figsize=(7, 0.3 * len(table) + 1.2), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    y = np.arange(len(table))[::-1]
    colors = [DRIFT_COLOR if d else OK_COLOR for d in table["drifted"]]
    ax.barh(y, table["value"], color=colors)
    ax.scatter(table["threshold"], y, marker="|", s=300, color="black", zorder=3, label="threshold")
    ax.set_yticks(y, [f"{f} ({m})" for f, m in zip(table["feature"], table["metric"])])
    ax.set_xlabel("metric value (red = drifted)")
    ax.set_title(result.verdict(), fontsize=10)
    ax.legend(loc="lower right")
    return fig


def plot_features(result: DriftResult, features=None, *, top: int = 3):
    """Baseline vs target distributions, one panel per feature; default: the `top` most drifted features."""
    from matplotlib.figure import Figure

    table = result.table
    if features is None:
        order = _severity(table).sort_values(ascending=False).index
        features = list(table.loc[order, "feature"][:top])
    elif isinstance(features, str):
        features = [features]
    unknown = [f for f in features if f not in result._plots]
    if unknown:
        from .errors import DriftError

        raise DriftError(f"unknown features {unknown}; the features are {list(table['feature'])}")
    fig = Figure(figsize=(4.2 * max(len(features), 1), 3.2), layout="constrained")
    axes = fig.subplots(1, max(len(features), 1), squeeze=False)[0]
    for ax, name in zip(axes, features):
        data = result._plots[name]
        row = table.set_index("feature").loc[name]
        if data["kind"] == "numeric":
            edges = data["edges"]
            ax.stairs(data["baseline"], edges, fill=True, alpha=0.45, color=BASE_COLOR, label="baseline")
            ax.stairs(data["target"], edges, color=TARGET_COLOR, linewidth=1.8, label="target")
            ax.set_ylabel("share of rows")
        else:
            _categorical_panel(ax, data)
        state = "drifted" if row["drifted"] else "stable"
        ax.set_title(f"{name}: {row['metric']} {row['value']:.3f} ({state})", fontsize=10)
        ax.legend(fontsize=8)
    return fig


def _categorical_panel(ax, data, limit: int = 12) -> None:
    """Side-by-side bars of category shares, the `limit` largest ones."""
    base, target, labels = data["baseline"], data["target"], data["labels"]
    keep = np.argsort(-np.maximum(base, target), kind="stable")[:limit]
    x = np.arange(len(keep))
    ax.bar(x - 0.2, base[keep], width=0.4, color=BASE_COLOR, label="baseline")
    ax.bar(x + 0.2, target[keep], width=0.4, color=TARGET_COLOR, label="target")
    ax.set_xticks(x, [labels[i] for i in keep], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share of rows")

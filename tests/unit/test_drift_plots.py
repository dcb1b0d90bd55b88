"""Drift plots: one bar per feature against its threshold, overlays for the most drifted features."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from amlevents_kit.drift import DriftError, detect, make_drift_data, plot_drift, plot_features, profile  # noqa: E402


@pytest.fixture(scope="module")
def result():
    baseline, target = make_drift_data(2000, n_numeric=4, n_categorical=2, shifted=["n00", "c1"])
    return detect(profile(baseline), target)


def test_bars_one_per_feature_coloured_by_verdict(result):
    fig = result.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    bars = ax.containers[0]
    assert len(bars) == len(result.table)
    widths = [bar.get_width() for bar in bars]
    assert widths == pytest.approx(list(result.table["value"]))
    red = [bar.get_facecolor() for bar, drifted in zip(bars, result.table["drifted"]) if drifted]
    assert len(red) == 2 and len(set(red)) == 1
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "n00 (wasserstein)" in labels and "c1 (jensen_shannon)" in labels
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_overlays_default_to_the_most_drifted(result):
    fig = plot_features(result, top=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 2
    assert {t.split(":")[0] for t in titles} == {"n00", "c1"}
    assert all("(drifted)" in t for t in titles)
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_overlays_for_named_features(result):
    fig = result.plot_features(["n01", "c0"])
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["n01", "c0"]
    assert "(stable)" in fig.axes[0].get_title()
    with pytest.raises(DriftError, match="unknown features"):
        plot_features(result, ["nope"])


def test_plot_into_an_existing_axes(result):
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_drift(result, ax=ax) is fig

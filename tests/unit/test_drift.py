"""Drift statistics against scipy, planted shifts found, dataset rules, profiles and event data."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from amlevents_kit.drift import DriftError, Profile, detect, make_drift_data, profile

# Tiny frames on purpose here: the fewer-than-50-rows warning is tested in test_drift_errors.py.
pytestmark = pytest.mark.filterwarnings("ignore:the (baseline|target) has:amlevents_kit.drift.DriftWarning")
N = 6000  # above the 4096-cell sketch, so the approximate path is what gets checked
ALL_SHIFTS = [f"n{i:02d}" for i in range(20)] + [f"c{j}" for j in range(5)]


@pytest.fixture(scope="module")
def data():
    return make_drift_data(N)


@pytest.fixture(scope="module")
def result(data):
    baseline, target = data
    return detect(profile(baseline), target)


def azure_sturges(x, y):
    """Azure ML v2's bins: ceil(log2(n_smaller) + 1) equal-width bins over the combined range."""
    k = int(np.ceil(np.log2(min(len(x), len(y))) + 1))
    lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
    edges = lo + np.arange(k + 1) * ((hi - lo) / k)
    edges[-1] = hi
    return np.histogram(x, edges)[0], np.histogram(y, edges)[0]


def azure_psi(b, t, n, m):
    """Azure ML v2's PSI: +1 on every count, sum of (t - b) * ln(t / b)."""
    b, t = (np.asarray(b) + 1.0) / n, (np.asarray(t) + 1.0) / m
    return float(np.sum((t - b) * np.log(t / b)))


def test_numeric_statistics_agree_with_scipy(data, result):
    baseline, target = data
    table = result.table.set_index("feature")
    for col in [c for c in baseline.columns if c.startswith("n")]:
        x, y = baseline[col].to_numpy(float), target[col].to_numpy(float)
        row = table.loc[col]
        ks = ks_2samp(x, y, method="asymp")
        assert abs(row["ks_statistic"] - ks.statistic) < 1e-3, col
        assert abs(row["ks_pvalue"] - ks.pvalue) < 2e-2, col
        nwd = wasserstein_distance(x, y) / x.std(ddof=1)
        assert abs(row["wasserstein"] - nwd) < 1e-3, col
        bc, tc = azure_sturges(x, y)
        assert abs(row["jensen_shannon"] - jensenshannon(bc, tc, base=2)) < 5e-3, col
        assert abs(row["psi"] - azure_psi(bc, tc, len(x), len(y))) < 5e-3, col
        assert row["baseline_mean"] == pytest.approx(x.mean())
        assert row["target_mean"] == pytest.approx(y.mean())


def test_ks_gap_inside_a_sketch_cell_stays_within_one_baseline_value():
    # 40,960 baseline values make sketch cells 10 values wide; the target's 2,000 extra values at 20005.5
    # open the largest gap inside the cell [20000, 20010], where no sketch point is. Inside a cell the
    # baseline CDF is interpolated, so the statistic may be off by up to one baseline value (1 / rows).
    x = np.arange(40_960.0)
    y = np.concatenate([x[:20_000], np.full(2000, 20_005.5), x[20_000:]])
    row = detect(profile(pd.DataFrame({"v": x})), pd.DataFrame({"v": y})).table.iloc[0]
    exact = ks_2samp(x, y, method="asymp")
    assert abs(row["ks_statistic"] - exact.statistic) < 1 / len(x)
    assert abs(row["ks_pvalue"] - exact.pvalue) < 1e-3


def test_ks_statistic_and_pvalue_at_100k_rows():
    baseline, target = make_drift_data(100_000, n_categorical=0)
    table = detect(profile(baseline), target).table.set_index("feature")
    d_err, p_err = [], []
    for col in baseline.columns:
        exact = ks_2samp(baseline[col].to_numpy(float), target[col].to_numpy(float), method="asymp")
        d_err.append(abs(table.loc[col, "ks_statistic"] - exact.statistic))
        p_err.append(abs(table.loc[col, "ks_pvalue"] - exact.pvalue))
    assert max(d_err) < 5e-5            # about 1 / sqrt(rows * grid); 9e-5 from the sketch points alone
    assert max(p_err) < 0.012           # 0.019 from the sketch points alone


def test_small_baseline_is_exact():
    baseline, target = make_drift_data(1500, n_numeric=10, n_categorical=0)
    target = target.iloc[:900]  # different sizes on purpose
    table = detect(profile(baseline), target).table.set_index("feature")
    for col in baseline.columns:
        x, y = baseline[col].to_numpy(float), target[col].to_numpy(float)
        row = table.loc[col]
        assert row["ks_statistic"] == pytest.approx(ks_2samp(x, y).statistic, abs=1e-12)
        assert row["wasserstein"] == pytest.approx(wasserstein_distance(x, y) / x.std(ddof=1), abs=1e-9)
        bc, tc = azure_sturges(x, y)
        assert row["jensen_shannon"] == pytest.approx(jensenshannon(bc, tc, base=2), abs=1e-9)
        assert row["psi"] == pytest.approx(azure_psi(bc, tc, len(x), len(y)), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=1, max_size=60),
    st.lists(st.integers(-50, 50), min_size=1, max_size=60),
    st.floats(0.01, 10),
)
def test_ks_and_wasserstein_match_scipy_on_any_small_sample(xs, ys, scale):
    x, y = np.array(xs) * scale, np.array(ys) * scale
    row = detect(profile(pd.DataFrame({"v": x})), pd.DataFrame({"v": y})).table.iloc[0]
    with np.errstate(divide="ignore"):  # scipy's p-value for one row a side divides by zero
        reference = ks_2samp(x, y, method="asymp").statistic
    assert row["ks_statistic"] == pytest.approx(reference, abs=1e-12)
    std = x.std(ddof=1) if len(x) > 1 else 0.0
    assert row["wasserstein"] == pytest.approx(wasserstein_distance(x, y) / max(std, 0.001), rel=1e-9, abs=1e-9)


def test_categorical_statistics_agree_with_scipy(data, result):
    baseline, target = data
    table = result.table.set_index("feature")
    for col in [c for c in baseline.columns if c.startswith("c")]:
        counts = pd.concat(
            [baseline[col].value_counts(dropna=False), target[col].value_counts(dropna=False)], axis=1
        ).fillna(0)
        b, t = counts.iloc[:, 0].to_numpy(), counts.iloc[:, 1].to_numpy()
        row = table.loc[col]
        assert row["jensen_shannon"] == pytest.approx(jensenshannon(b, t, base=2), abs=1e-12)
        assert row["psi"] == pytest.approx(azure_psi(b, t, b.sum(), t.sum()), abs=1e-12)
        chi = chi2_contingency(np.vstack([b, t]), correction=False)
        assert row["chi2_statistic"] == pytest.approx(chi.statistic)
        assert row["chi2_pvalue"] == pytest.approx(chi.pvalue, abs=1e-12)
        unseen = ~target[col].isin(set(baseline[col]))
        assert row["unseen_share"] == pytest.approx(unseen.mean())


def test_default_planted_shifts_are_exactly_the_drifted_features(result):
    assert sorted(result.drifted_features) == ["c0", "c1", "n00", "n01", "n02", "n03", "n04", "n05"]
    assert result.table.loc[result.table["feature"] == "c1", "unseen_share"].item() > 0.03
    assert result.drifted  # rule "any"


@pytest.mark.parametrize("shifted", [[], ["n07", "c3"], ALL_SHIFTS])
def test_found_shifts_match_planted_ones(shifted):
    baseline, target = make_drift_data(5000, shifted=shifted, random_state=3)
    res = detect(profile(baseline), target)
    assert sorted(res.drifted_features) == sorted(shifted)
    assert res.drifted == bool(shifted)


def test_table_is_tidy(result):
    table = result.table
    assert len(table) == 25 and table["feature"].is_unique
    assert set(table["kind"]) == {"numeric", "categorical"}
    num, cat = table[table["kind"] == "numeric"], table[table["kind"] == "categorical"]
    assert (num["metric"] == "wasserstein").all() and (cat["metric"] == "jensen_shannon").all()
    assert (table["threshold"] == 0.1).all()
    assert num[["wasserstein", "jensen_shannon", "psi", "ks_statistic", "ks_pvalue"]].notna().all().all()
    assert num[["chi2_pvalue", "unseen_share"]].isna().all().all()
    assert cat[["jensen_shannon", "psi", "chi2_statistic", "chi2_pvalue", "unseen_share"]].notna().all().all()
    assert cat[["wasserstein", "ks_statistic"]].isna().all().all()
    assert (table["drifted"] == (table["value"] > table["threshold"])).all()


def test_dataset_rules(data):
    baseline, target = data
    prof = profile(baseline)
    share = detect(prof, target, rule="share")  # 8 of 25 drift: Evidently's share rule says no drift
    assert share.drifted_share == pytest.approx(8 / 25)
    assert not share.drifted
    assert detect(prof, target, rule="share", share=0.3).drifted
    coef = detect(prof, target, rule="coefficient", subsample=3000)
    assert 0.2 < coef.drift_coefficient <= 1 and coef.drifted
    assert not detect(prof, target, rule="coefficient", subsample=3000, coefficient_threshold=0.99).drifted


def test_drift_coefficient_is_low_without_drift():
    baseline, target = make_drift_data(3000, n_numeric=5, n_categorical=2, shifted=[])
    res = detect(profile(baseline), target, rule="coefficient")
    assert 0 <= res.drift_coefficient < 0.1
    assert not res.drifted


def test_metric_and_threshold_choices(data, result):
    baseline, target = data
    prof = profile(baseline)
    ks = detect(prof, target, metric="ks").table.set_index("feature")
    assert (ks.loc[ks["kind"] == "numeric", "metric"] == "ks").all()
    assert (ks.loc[ks["kind"] == "categorical", "metric"] == "jensen_shannon").all()
    assert (ks["drifted"] == np.where(ks["kind"] == "numeric", ks["ks_pvalue"] < 0.05, ks["value"] > 0.1)).all()
    azure = detect(prof, target, metric="population_stability_index").table
    assert (azure["metric"] == "psi").all() and (azure["threshold"] == 0.2).all()
    mixed = detect(prof, target, metric={"categorical": "chi2"}, threshold={"numeric": 0.3, "n02": 0.15}).table
    mixed = mixed.set_index("feature")
    assert mixed.loc["c0", "metric"] == "chi2" and mixed.loc["c0", "threshold"] == 0.05
    assert mixed.loc["n00", "threshold"] == 0.3 and mixed.loc["n02", "threshold"] == 0.15
    assert mixed.loc["n00", "value"] == result.table.set_index("feature").loc["n00", "value"]


def test_one_threshold_sets_only_the_chosen_metrics_kinds(data):
    baseline, target = data
    prof = profile(baseline)
    ks = detect(prof, target, metric="ks", threshold=0.01).table.set_index("feature")
    num, cat = ks[ks["kind"] == "numeric"], ks[ks["kind"] == "categorical"]
    assert (num["metric"] == "ks").all() and (num["threshold"] == 0.01).all()
    assert (cat["metric"] == "jensen_shannon").all() and (cat["threshold"] == 0.1).all()   # untouched
    chi2 = detect(prof, target, metric="chi2", threshold=0.05)
    table = chi2.table.set_index("feature")
    assert (table.loc[table["kind"] == "numeric", "threshold"] == 0.1).all()   # not 0.05 Wasserstein
    assert sorted(chi2.drifted_features) == ["c0", "c1", "n00", "n01", "n02", "n03", "n04", "n05"]
    by_dict = detect(prof, target, metric={"categorical": "psi"}, threshold=0.3).table
    assert set(by_dict.loc[by_dict["kind"] == "categorical", "threshold"]) == {0.3}
    assert set(by_dict.loc[by_dict["kind"] == "numeric", "threshold"]) == {0.1}
    both = detect(prof, target, metric="psi", threshold=0.3).table   # PSI covers both kinds
    assert set(both["threshold"]) == {0.3}
    default = detect(prof, target, threshold=0.3).table              # no metric: both default distances
    assert set(default["threshold"]) == {0.3}


def test_profile_round_trip_is_small_and_identical(tmp_path, data, result):
    baseline, target = data
    prof = profile(baseline, name="training-2024")
    path = prof.save(tmp_path / "baseline.npz")
    assert path.stat().st_size < 2_000_000
    loaded = Profile.load(path)
    assert loaded.name == "training-2024" and loaded.features == list(baseline.columns)
    pd.testing.assert_frame_equal(detect(loaded, target).table, result.table)


def test_baseline_frame_and_profile_give_the_same_table(data, result):
    baseline, target = data
    pd.testing.assert_frame_equal(detect(baseline, target).table, result.table)


def test_nulls_numeric_dropped_categorical_counted():
    baseline = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, np.nan], "c": ["a", "b", None, "a", "b"]})
    target = pd.DataFrame({"x": [1.0, np.nan, np.nan, 4.0], "c": [None, None, "a", "b"]})
    # 20% nulls in x and 2 distinct texts in 5 rows: Azure's typing would leave both out; features keeps them.
    table = detect(profile(baseline, features=["x", "c"]), target).table.set_index("feature")
    assert table.loc["x", "null_share"] == 0.5
    assert table.loc["x", "ks_statistic"] == pytest.approx(ks_2samp([1, 2, 3, 4], [1, 4]).statistic)
    assert table.loc["c", "null_share"] == 0.5
    b, t = [2, 2, 1], [1, 1, 2]  # a, b, null
    assert table.loc["c", "jensen_shannon"] == pytest.approx(jensenshannon(b, t, base=2))
    assert table.loc["c", "unseen_share"] == 0


def test_category_dtype_target_scores_like_text(data, result):
    baseline, target = data
    as_category = target.astype({f"c{j}": "category" for j in range(5)})
    pd.testing.assert_frame_equal(detect(profile(baseline), as_category).table, result.table)


def test_explicit_categorical_columns():
    baseline = pd.DataFrame({"zip": [1, 2, 2, 3] * 10, "x": np.arange(40.0)})
    target = pd.DataFrame({"zip": [1, 9, 9, 3] * 10, "x": np.arange(40.0)})
    table = detect(profile(baseline, categorical=["zip"]), target).table.set_index("feature")
    assert table.loc["zip", "kind"] == "categorical"
    assert table.loc["zip", "unseen_share"] == 0.5
    assert table.loc["x", "wasserstein"] == 0


def test_event_data_has_the_exact_keys(data):
    baseline, target = data
    res = detect(profile(baseline), target, subsample=2000)
    event = res.to_event_data(
        data_drift_id="01d29aa4", data_drift_name="myDriftMonitor", run_id="01d29aa4_1571590300380",
        base_dataset_id="3c56d136", target_dataset_id="d7e74d2e",
        start_time=pd.Timestamp("2019-07-04"), end_time="2019-07-05T00:00:00+00:00",
    )
    assert list(event) == ["dataDriftId", "dataDriftName", "runId", "baseDatasetId", "targetDatasetId",
                           "driftCoefficient", "startTime", "endTime"]
    assert event["driftCoefficient"] == res.drift_coefficient and isinstance(event["driftCoefficient"], float)
    assert event["startTime"] == "2019-07-04T00:00:00+00:00"
    assert event["endTime"] == "2019-07-05T00:00:00+00:00"
    json.dumps(event)
    with pytest.raises(DriftError, match="start_time"):
        res.to_event_data(data_drift_id="a", data_drift_name="b", run_id="c", base_dataset_id="d",
                          target_dataset_id="e", start_time="yesterday")
    with pytest.raises(DriftError, match="run_id"):
        res.to_event_data(data_drift_id="a", data_drift_name="b", run_id="", base_dataset_id="d",
                          target_dataset_id="e")


def test_repr_html_shows_verdict_and_features(result):
    page = result._repr_html_()
    assert "Drift: 8 of 25 features" in page
    assert "n00" in page and "c4" in page


def test_make_drift_data_is_deterministic_and_named():
    b1, t1 = make_drift_data(100, n_numeric=3, n_categorical=2, random_state=7)
    b2, t2 = make_drift_data(100, n_numeric=3, n_categorical=2, random_state=7)
    pd.testing.assert_frame_equal(b1, b2)
    pd.testing.assert_frame_equal(t1, t2)
    assert list(b1.columns) == ["n00", "n01", "n02", "c0", "c1"]
    with pytest.raises(DriftError, match="n99"):
        make_drift_data(10, shifted=["n99"])


def test_features_selects_profiled_columns(data, result):
    baseline, target = data
    res = detect(profile(baseline), target[["n00", "n07", "c1"]], features=["n00", "n07", "c1"], subsample=1000)
    full = result.table.set_index("feature")
    assert list(res.table["feature"]) == ["n00", "n07", "c1"]
    assert list(res.table["value"]) == list(full.loc[["n00", "n07", "c1"], "value"])
    assert sorted(res.drifted_features) == ["c1", "n00"]
    assert 0 < res.drift_coefficient <= 1
    with pytest.raises(DriftError, match="features must name profiled columns"):
        detect(profile(baseline), target, features=["zzz"])

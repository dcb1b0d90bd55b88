"""Bad input to the drift module gets a DriftError that names the column and what is allowed."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from amlevents_kit.drift import DriftError, DriftWarning, detect, profile

# Tiny frames on purpose here: the fewer-than-50-rows warning is tested in test_drift_errors.py.
pytestmark = pytest.mark.filterwarnings("ignore:the (baseline|target) has:amlevents_kit.drift.DriftWarning")
BASE = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "a", "b"]})
# Four rows: Azure ML v1's typing would leave text column 'c' out (2 distinct values are 50% of the rows),
# so these tests name it categorical.


def test_drift_error_is_a_value_error():
    assert issubclass(DriftError, ValueError)


def test_missing_target_column_is_named():
    with pytest.raises(DriftError, match=r"target lacks baseline columns \['c'\]"):
        detect(profile(BASE, categorical=["c"]), BASE[["x"]])


def test_extra_target_columns_are_ignored():
    res = detect(profile(BASE, categorical=["c"]), BASE.assign(extra=1))
    assert list(res.table["feature"]) == ["x", "c"]


@pytest.mark.parametrize("which", ["baseline", "target"])
def test_empty_frames(which):
    empty = BASE.iloc[:0]
    with pytest.raises(DriftError, match=f"{which} is empty"):
        if which == "baseline":
            profile(empty)
        else:
            detect(profile(BASE, categorical=["c"]), empty)


def test_frame_without_columns_and_non_frames():
    with pytest.raises(DriftError, match="no columns"):
        profile(pd.DataFrame(index=range(3)))
    with pytest.raises(DriftError, match="must be a pandas DataFrame"):
        profile([[1, 2]])
    with pytest.raises(DriftError, match="Profile or a baseline DataFrame"):
        detect("baseline.csv", BASE)


@pytest.mark.parametrize("col", ["x", "c"])
def test_all_null_columns(col):
    nulls = BASE.assign(**{col: pd.Series([None] * 4, dtype=BASE[col].dtype)})
    with pytest.raises(DriftError, match=f"column '{col}' is all null in the baseline"):
        profile(nulls, categorical=["c"])
    with pytest.raises(DriftError, match=f"column '{col}' is all null in the target"):
        detect(profile(BASE, categorical=["c"]), nulls)


def test_non_numeric_values_in_a_numeric_column():
    bad = BASE.assign(x=["1.5", "2", "n/a", "4"])
    message = r"column 'x' is numeric but the target holds non-numeric values such as 'n/a'"
    with pytest.raises(DriftError, match=message):
        detect(profile(BASE, categorical=["c"]), bad)
    with pytest.raises(DriftError, match="column 'c' is numeric but the baseline"):
        profile(BASE, categorical=[])


@pytest.mark.parametrize(
    "values, kind",
    [
        (pd.date_range("2024-01-01", periods=4), "datetime"),
        (pd.date_range("2024-01-01", periods=4, tz="UTC"), "datetime"),
        (pd.to_timedelta([1, 2, 3, 4], unit="s"), "timedelta"),
        (pd.period_range("2024-01", periods=4, freq="M"), "period"),
        ([True, False, True, False], "bool"),
        (pd.array([True, None, False, True], dtype="boolean"), "bool"),
        (pd.Series([True, False, True, False], dtype=object), "bool"),
        (pd.Series([pd.Timestamp("2024-01-01")] * 4, dtype=object), "datetime"),
    ],
)
def test_target_of_another_kind_against_a_numeric_baseline_is_refused(values, kind):
    bad = BASE.assign(x=values)
    message = (rf"column 'x' is numeric in the baseline \(float64\) but the target holds {kind} values "
               rf"\(dtype {re.escape(str(bad['x'].dtype))}\)")
    with pytest.raises(DriftError, match=message):
        detect(profile(BASE, categorical=["c"]), bad)


@pytest.mark.parametrize("values", [pd.date_range("2024-01-01", periods=4), [True, False, True, False]])
def test_baseline_of_dates_or_bools_declared_numeric_is_refused(values):
    with pytest.raises(DriftError, match=r"column 'x' has dtype (datetime64|bool).*declare it categorical"):
        profile(BASE.assign(x=values), categorical=["c"])


def test_baseline_dtype_survives_save_and_load(tmp_path):
    from amlevents_kit.drift import Profile

    loaded = Profile.load(profile(BASE.astype({"x": "int64"}), categorical=["c"]).save(tmp_path / "p.npz"))
    with pytest.raises(DriftError, match=r"numeric in the baseline \(int64\) but the target holds timedelta"):
        detect(loaded, BASE.assign(x=pd.to_timedelta([1, 2, 3, 4], unit="s")))


def test_numbers_as_text_are_converted():
    as_text = BASE.assign(x=["1", "2", "3", "4"])
    assert detect(profile(BASE, categorical=["c"]), as_text).table.set_index("feature").loc["x", "wasserstein"] == 0


def test_infinite_values():
    with pytest.raises(DriftError, match="column 'x' in the target holds infinite values"):
        detect(profile(BASE, categorical=["c"]), BASE.assign(x=[1.0, np.inf, 2.0, 3.0]))


def test_category_type_mismatch():
    with pytest.raises(DriftError, match="column 'c' held text categories in the baseline"):
        detect(profile(BASE, categorical=["c"]), BASE.assign(c=[1, 2, 1, 2]))


def test_unsupported_dtype_is_named():
    dated = BASE.assign(when=pd.date_range("2024-01-01", periods=4))
    with pytest.raises(DriftError, match="column 'when' has dtype datetime64"):
        profile(dated)


def test_unknown_categorical_names():
    with pytest.raises(DriftError, match=r"categorical names columns not in the baseline: \['zip'\]"):
        profile(BASE, categorical=["zip"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rule": "majority"}, "rule must be one of"),
        ({"share": 0}, "share must be a number in"),
        ({"share": [1]}, "share must be a number in"),
        ({"coefficient_threshold": 2}, "coefficient_threshold must be a number in"),
        ({"random_state": "seed"}, "random_state must be a whole number"),
        ({"features": 3.5}, "features must be a column name or a list"),
        ({"metric": {"numeric": ["psi"]}}, "metric for numeric features must be a metric name"),
        ({"threshold": 10**400}, "threshold for 'x' must be a number"),
        ({"subsample": 0}, "subsample must be"),
        ({"metric": "energy"}, "metric must be one of"),
        ({"metric": {"numeric": "chi2"}}, "metric for numeric features must be one of"),
        ({"metric": {"text": "psi"}}, "metric dict keys"),
        ({"threshold": -1}, "threshold for 'x' must be a finite number >= 0"),
        ({"threshold": {"y": 0.2}}, "threshold keys must be"),
        ({"threshold": "high"}, "threshold for 'x' must be a number"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(DriftError, match=message):
        detect(profile(BASE, categorical=["c"]), BASE, **kwargs)


def test_coefficient_needs_50_rows_a_side_as_azure_v1_monitors():
    from amlevents_kit.drift import make_drift_data

    baseline, target = make_drift_data(200, n_numeric=3, n_categorical=0)
    prof = profile(baseline)
    with pytest.warns(DriftWarning, match="the target has 49 rows; Azure ML v1 monitors needed at least 50"):
        res = detect(prof, target.iloc[:49])
    with pytest.raises(DriftError, match="needs at least 50 rows on each side, as Azure ML v1 monitors did; "
                                         "got 200 baseline and 49 target rows"):
        res.drift_coefficient
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        assert 0 <= detect(prof, target.iloc[:50]).drift_coefficient <= 1
    with pytest.raises(DriftError, match=r"only 30 baseline and 30 target rows were kept for it: raise "
                                         r"detect\(subsample=...\)"):
        detect(prof, target, subsample=30).drift_coefficient


def test_a_one_row_target_gets_a_warning_and_a_qualified_verdict():
    from amlevents_kit.drift import make_drift_data

    baseline, target = make_drift_data(2000)
    with pytest.warns(DriftWarning, match="the target has 1 row; .* the per-feature statistics are mostly noise"):
        res = detect(profile(baseline), target.iloc[:1])
    assert res.verdict().endswith("(unreliable: the target has 1 row; Azure ML v1 monitors needed at least 50 "
                                  "on each side)")
    with pytest.warns(DriftWarning, match="the baseline has 4 rows and the target has 4 rows"):
        detect(profile(BASE, categorical=["c"]), BASE)


def test_loading_something_else(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, meta=np.array('{"format": "other"}'))
    with pytest.raises(DriftError, match="is not a drift profile"):
        from amlevents_kit.drift import Profile

        Profile.load(path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grid": "many"}, "grid must be a whole number >= 2"),
        ({"sample_rows": None}, "sample_rows must be a whole number >= 0"),
        ({"categorical": 5}, "categorical must be a column name or a list"),
        ({"random_state": -1}, "random_state must be a whole number >= 0"),
        ({"name": 3}, "name must be a string"),
    ],
)
def test_bad_profile_options(kwargs, message):
    with pytest.raises(DriftError, match=message):
        profile(BASE, **kwargs)


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2]])
def test_unhashable_values_name_the_column(value):
    bad = BASE.assign(c=[value] * 4)
    with pytest.raises(DriftError, match="column 'c' holds values that cannot be compared as categories"):
        profile(bad, categorical=["c"])
    with pytest.raises(DriftError, match="column 'c' holds values that cannot be compared as categories"):
        detect(profile(BASE, categorical=["c"]), bad)


def test_values_too_large_to_average():
    huge = BASE.assign(x=[1e308] * 4)
    with pytest.raises(DriftError, match="column 'x' in the baseline holds values too large"):
        profile(huge)
    with pytest.raises(DriftError, match="column 'x' in the target holds values too large"):
        detect(profile(BASE, categorical=["c"]), huge)

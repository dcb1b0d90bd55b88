"""Azure ML v1 column typing: which baseline columns are compared, which are left out and why (spec §2.1, §4.1)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from amlevents_kit.drift import DriftError, DriftMonitor, DriftWarning, Profile, detect, profile
from amlevents_kit.drift.profile import excluded_columns

N = 2000


def frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A customer_id column (unique per row), a plan column (3 values) and a numeric column, twice."""
    rng = np.random.default_rng(seed)
    sides = []
    for side in (0, 1):
        sides.append(pd.DataFrame({
            "customer_id": [f"cust-{side}-{i:05d}" for i in range(N)],
            "plan": rng.choice(["basic", "standard", "premium"], N),
            "charges": rng.normal(60, 15, N),
        }))
    return sides[0], sides[1]


def test_unique_text_column_is_left_out_and_reported():
    baseline, target = frames()
    with pytest.warns(DriftWarning, match=r"not comparing 1 column.*'customer_id': text with 2,000 distinct values"):
        prof = profile(baseline)
    assert prof.features == ["plan", "charges"]
    assert list(prof.excluded) == ["customer_id"] and "below 100 distinct values" in prof.excluded["customer_id"]
    result = detect(prof, target)
    assert list(result.table["feature"]) == ["plan", "charges"]
    assert not result.drifted                      # the IDs no longer fire drift on every batch
    assert result.excluded == prof.excluded
    assert "not compared: customer_id (text with 2,000 distinct values" in result._repr_html_()
    assert "not compared: ['customer_id']" in repr(result)


def test_left_out_column_survives_save_and_load_and_keeps_the_profile_small(tmp_path):
    n = 100_000
    df = pd.DataFrame({"customer_id": [f"cust-{i:06d}" for i in range(n)],
                       "x": np.random.default_rng(0).normal(size=n)})
    with pytest.warns(DriftWarning):
        prof = profile(df, sample_rows=0)
    path = prof.save(tmp_path / "p.npz")
    loaded = Profile.load(path)
    assert loaded.excluded == prof.excluded and "excluded=['customer_id']" in repr(loaded)
    forced = profile(df, categorical=["customer_id"], sample_rows=0)    # 100,000 IDs stored as categories
    assert forced.save(tmp_path / "forced.npz").stat().st_size > 3 * path.stat().st_size


@pytest.mark.parametrize(
    "levels, rows, kept",
    [
        (99, 10_000, True),    # under 100 distinct values and under 5% of the rows
        (100, 10_000, False),  # 100 distinct values: not fewer than 100
        (5, 101, True),        # 5 < 5% of 101
        (5, 100, False),       # 5 is not fewer than 5% of 100
    ],
)
def test_text_rule_boundaries(levels, rows, kept):
    values = [f"v{i}" for i in range(levels)] * (rows // levels + 1)
    df = pd.DataFrame({"t": values[:rows], "x": np.arange(rows, dtype=float)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prof = profile(df)
    assert ("t" in prof.features) is kept and ("t" in prof.excluded) is not kept
    assert any(issubclass(w.category, DriftWarning) for w in caught) is not kept
    assert excluded_columns(df) == prof.excluded


@pytest.mark.parametrize("nulls, kept", [(300, True), (301, False)])   # 15% of 2,000 rows is 300
def test_numeric_column_with_more_than_15_percent_nulls_is_left_out(nulls, kept):
    baseline, target = frames()
    baseline = baseline.drop(columns="customer_id")
    baseline.loc[: nulls - 1, "charges"] = np.nan
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        prof = profile(baseline)
    assert ("charges" in prof.features) is kept
    if not kept:
        assert prof.excluded["charges"].startswith("15% of its values are null (301 of 2,000)")
        assert "more than 15% nulls" in prof.excluded["charges"]
    assert excluded_columns(baseline) == prof.excluded


def test_null_counts_as_a_category_not_as_a_distinct_value():
    df = pd.DataFrame({"t": (["a", "b", None] * 700)[:2000], "x": np.arange(2000.0)})
    prof = profile(df)
    assert prof.column("t").n_null == df["t"].isna().sum() > 600 and not prof.excluded


def test_bool_and_category_dtypes_are_kept_as_categorical():
    df = pd.DataFrame({"flag": [True, False, True, False], "code": pd.Categorical(["a", "b", "c", "d"]),
                       "x": [1.0, 2.0, 3.0, 4.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)     # nothing is left out
        prof = profile(df)
    assert [c.kind for c in prof.columns] == ["categorical", "categorical", "numeric"]


def test_explicit_categorical_and_features_override_the_rules():
    baseline, target = frames()
    baseline.loc[:999, "charges"] = np.nan                                   # 50% nulls
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        by_kind = profile(baseline, features=["customer_id", "plan", "charges"])
        named = profile(baseline, categorical=["customer_id", "plan"], features=["customer_id", "plan", "charges"])
        by_detect = detect(baseline, target, features=["charges", "customer_id"])
    assert by_kind.features == ["customer_id", "plan", "charges"] and not by_kind.excluded
    assert by_kind.column("customer_id").kind == "categorical" and by_kind.column("charges").n_null == 1000
    assert [c.kind for c in named.columns] == ["categorical", "categorical", "numeric"]
    assert list(by_detect.table["feature"]) == ["charges", "customer_id"]
    assert by_detect.table.set_index("feature").loc["customer_id", "value"] == 1.0   # all IDs unseen
    with pytest.warns(DriftWarning, match="'charges': 50% of its values are null"):
        only_ids = profile(baseline, categorical=["customer_id", "plan"])    # categorical overrides the text rule
    assert only_ids.features == ["customer_id", "plan"] and list(only_ids.excluded) == ["charges"]


def test_asking_a_profile_for_a_left_out_column_says_why_and_how():
    baseline, target = frames()
    with pytest.warns(DriftWarning):
        prof = profile(baseline)
    with pytest.raises(DriftError, match=r"features names columns the profile left out: 'customer_id': text with "
                                         r".*Profile the baseline again with features=\[\.\.\.\]"):
        detect(prof, target, features=["plan", "customer_id"])


def test_nothing_left_to_compare_is_an_error():
    df = pd.DataFrame({"id": [f"r{i}" for i in range(60)]})
    with pytest.raises(DriftError, match="no baseline column is left to compare: not comparing 1 column.*'id'"):
        profile(df)


def test_monitor_features_override_the_typing(target):
    baseline, batch = frames()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        monitor = DriftMonitor(target, "typing-override", baseline=baseline, features=["plan", "customer_id"])
    assert monitor.baseline.features == ["plan", "customer_id"]
    assert "customer_id" in monitor.run(batch, target_dataset_id="b").result.drifted_features

"""The drift monitor form, driven by clicking its button in the kernel."""

from __future__ import annotations

import pytest

from amlevents_kit import events
from amlevents_kit.providers import ensure_providers
from amlevents_kit.retrain import sample_batch
from amlevents_kit.widgets.drift import DriftForm

FRAMES = {"training": sample_batch(2000), "november": sample_batch(2000, shifted=True)}


def _text(out) -> str:
    return "".join(o.get("text", "") for o in out.outputs)


def test_run_shows_verdict_table_and_png_plots(target):
    form = DriftForm(FRAMES)
    assert form.raise_event.disabled                       # no target: nothing to raise an event on
    assert "label" not in form.features.options and len(form.features.value) == 6
    form.run_button.click()
    assert _text(form.out).startswith("Drift: 3 of 6 features over their threshold")
    assert [o["output_type"] for o in form.out.outputs] == ["stream", "display_data"]   # verdict, table widget
    assert sorted(form.result.drifted_features) == ["monthly_charges", "plan", "support_calls"]
    assert form.table_html.count("<tr style='background:#f8d7da'>") == 3 and "monthly_charges" in form.table_html
    kinds = [sorted(o["data"]) for o in form.plots.outputs]
    assert kinds == [["image/png", "text/plain"], ["image/png", "text/plain"]]   # bars, then distributions


def test_form_options_reach_detect_and_errors_show_in_the_form():
    form = DriftForm(FRAMES)
    form.features.value = ("age", "region")
    form.run_button.click()
    assert _text(form.out).startswith("No drift: 0 of 2 features")
    assert len(form.plots.outputs) == 1                    # no distributions when nothing drifted
    form.features.value = ("monthly_charges",)
    form.metric.value, form.threshold.value = "ks", 0.05
    form.run_button.click()
    assert list(form.result.table["metric"]) == ["ks"] and form.result.drifted
    broken = DriftForm({**FRAMES, "broken": FRAMES["november"].drop(columns=["plan"])})
    broken.run_button.click()                              # the target lacks a baseline column
    assert _text(broken.out).startswith("Cannot run: target lacks baseline columns ['plan']")
    form.features.value = ()
    form.run_button.click()
    assert _text(form.out) == "Choose at least one feature.\n"
    with pytest.raises(ValueError, match="at least two frames"):
        DriftForm({"only": FRAMES["training"]})


def test_metric_choice_resets_the_threshold_and_keeps_the_other_kind_at_its_default():
    form = DriftForm(FRAMES)
    form.metric.value = "chi2"
    assert form.threshold.value == 0.05                    # chi2's default, not the previous 0.1
    form.run_button.click()
    table = form.result.table.set_index("feature")
    assert list(table.loc[["plan", "region"], "metric"]) == ["chi2", "chi2"]
    numeric = table[table["kind"] == "numeric"]
    assert (numeric["metric"] == "wasserstein").all() and (numeric["threshold"] == 0.1).all()
    assert sorted(form.result.drifted_features) == ["monthly_charges", "plan", "support_calls"]
    form.metric.value = "psi"
    assert form.threshold.value == 0.2
    form.metric.value = "default (by kind)"
    assert form.threshold.value == 0.1 and form.options()["threshold"] is None


def test_columns_azure_typing_leaves_out_start_unselected_with_the_reason():
    with_ids = {name: frame.assign(customer_id=[f"{name}-{i}" for i in range(len(frame))])
                for name, frame in FRAMES.items()}
    form = DriftForm(with_ids)
    assert "customer_id" in form.features.options and "customer_id" not in form.features.value
    assert "Not selected: <b>customer_id</b>: text with 2,000 distinct values" in form.typing_note.value
    form.run_button.click()
    assert "customer_id" not in list(form.result.table["feature"])
    assert sorted(form.result.drifted_features) == ["monthly_charges", "plan", "support_calls"]
    form.features.value = ("plan", "customer_id")             # chosen by hand: compared anyway
    form.run_button.click()
    assert form.result.drifted_features[0] == "customer_id"


def test_raise_event_runs_a_monitor_on_the_workspace(target):
    ensure_providers(target, quiet=True)
    form = DriftForm(FRAMES, target=target, monitor_name="form-drift")
    form.raise_event.value = True
    form.run_button.click()
    assert "raised DatasetDriftDetected on the workspace topic" in _text(form.out)
    (raised,) = target.sandbox.backends["machinelearningservices"].events(events.DATASET_DRIFT_DETECTED)
    assert raised == form.run_result.event
    assert raised["data"]["dataDriftName"] == "form-drift"
    assert (raised["data"]["baseDatasetId"], raised["data"]["targetDatasetId"]) == ("training", "november")


def test_share_and_coefficient_rules_have_their_own_fields():
    form = DriftForm(FRAMES)
    assert form.share.layout.display == "none" and form.coefficient_threshold.layout.display == "none"
    form.rule.value = "share"
    assert form.share.layout.display is None and form.coefficient_threshold.layout.display == "none"
    form.run_button.click()                                 # 3 of 6 drifted: 50% >= the default 50%
    assert _text(form.out).startswith("Drift: 3 of 6 features drifted = 50%, rule: share >= 50%")
    form.share.value = 0.6
    form.run_button.click()
    assert form.result.share == 0.6 and _text(form.out).startswith("No drift: 3 of 6 features drifted = 50%")
    form.rule.value = "coefficient"
    assert form.coefficient_threshold.layout.display is None and form.share.layout.display == "none"
    form.coefficient_threshold.value = 0.99
    form.run_button.click()
    assert form.result.coefficient_threshold == 0.99 and not form.result.drifted
    assert "rule: > 0.99" in _text(form.out)


def test_an_error_while_publishing_shows_in_the_form(target, monkeypatch):
    from azure.core.exceptions import HttpResponseError

    from amlevents_kit.drift import DriftMonitor

    def refuse(self, data):
        raise HttpResponseError(message="(Unauthorized) the topic key was rejected")

    monkeypatch.setattr(DriftMonitor, "_publish", refuse)
    ensure_providers(target, quiet=True)
    form = DriftForm(FRAMES, target=target, monitor_name="form-refused")
    form.raise_event.value = True
    form.run_button.click()                                 # a button callback: nothing may escape to the log
    assert _text(form.out) == "Failed: HttpResponseError: (Unauthorized) the topic key was rejected\n"
    assert isinstance(form.error, HttpResponseError) and form.result is None and form.plots.outputs == ()


def test_drift_warnings_show_in_the_form():
    small = {"training": FRAMES["training"], "ten rows": FRAMES["november"].iloc[:10]}
    form = DriftForm(small)
    form.run_button.click()
    text = _text(form.out)
    assert "(unreliable: the target has 10 rows" in text.splitlines()[0]
    assert "\nWarning: the target has 10 rows; Azure ML v1 monitors needed at least 50 on each side" in text
    form.rule.value = "coefficient"
    form.run_button.click()
    assert _text(form.out).startswith("Cannot run: the drift coefficient needs at least 50 rows on each side")

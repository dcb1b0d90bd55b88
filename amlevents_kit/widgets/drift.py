"""A drift monitor form: baseline, target, features, metric and threshold -> the result table and plots.

``DriftForm`` scores a target frame against a baseline with ``amlevents_kit.drift`` and shows the
per-feature table and two plots (metric bars against thresholds, distributions of the most drifted
features). With a target (``connect()``) and "raise the event" ticked, it runs a ``DriftMonitor``,
which raises ``DatasetDriftDetected`` when drift is found::

    form = DriftForm({"training": train_df, "november": new_df}, target=target, monitor_name="churn-drift")
    form                      # choose, press Run
    form.result               # the DriftResult; form.run_result: the MonitorRun when an event was asked for
    form.error                # what stopped the last run (also shown in the form), or None

Rule "share" shows a field for the share of drifted features, rule "coefficient" one for the drift
coefficient threshold.

Plots are PNG images appended to an Output widget, so stored notebooks stay deterministic.
"""

from __future__ import annotations

import html
import io
import warnings
from typing import Any

import ipywidgets as W
import pandas as pd

from ..drift import METRICS, DriftError, DriftMonitor, DriftWarning, detect
from ..drift.profile import excluded_columns

DEFAULT = "default (by kind)"
DEFAULT_THRESHOLD = 0.1  # both default metrics (Wasserstein, Jensen-Shannon) alert above 0.1


def png(fig) -> bytes:
    """A matplotlib Figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


class DriftForm(W.VBox):
    """Pick two frames, features, a metric and a threshold; Run shows the drift table and plots."""

    def __init__(self, frames: dict[str, pd.DataFrame], *, target: Any = None, monitor_name: str = "drift-monitor",
                 baseline: str | None = None, current: str | None = None, threshold: float = 0.1,
                 ignore: tuple[str, ...] = ("label",)) -> None:
        if len(frames) < 2:
            raise ValueError("DriftForm: give at least two frames (a baseline and a target), by name.")
        self.frames = frames
        self.target = target
        self.ignore = set(ignore)
        self.result = None
        self.run_result = None
        self.error: Exception | None = None  # what stopped the last run, also shown in the form
        self.table_html = ""
        names = list(frames)
        self.baseline = W.Dropdown(options=names, value=baseline or names[0], description="Baseline")
        self.current = W.Dropdown(options=names, value=current or names[-1], description="Target")
        self.features = W.SelectMultiple(description="Features", rows=6)
        self.typing_note = W.HTML()    # baseline columns Azure ML v1's typing leaves out, and why
        self.metric = W.Dropdown(options=[DEFAULT, *METRICS], value=DEFAULT, description="Metric")
        self.threshold = W.BoundedFloatText(value=threshold, min=0.0, max=1000.0, step=0.01, description="Threshold")
        self.rule = W.Dropdown(options=["any", "share", "coefficient"], value="any", description="Rule")
        # The numbers the 'share' and 'coefficient' rules compare with; each is shown with its rule only.
        self.share = W.BoundedFloatText(value=0.5, min=0.01, max=1.0, step=0.05, description="Share >=")
        self.coefficient_threshold = W.BoundedFloatText(value=0.2, min=0.0, max=1.0, step=0.05,
                                                        description="Coefficient >")
        self.monitor_name = W.Text(value=monitor_name, description="Monitor")
        self.raise_event = W.Checkbox(value=False, description="raise DatasetDriftDetected", indent=False,
                                      disabled=target is None)
        self.run_button = W.Button(description="Run", icon="play", button_style="primary")
        self.out = W.Output()          # the verdict and the table
        self.plots = W.Output()        # PNG plots
        self.baseline.observe(lambda _: self._fill_features(), names="value")
        self.metric.observe(lambda change: self._reset_threshold(change["new"]), names="value")
        self.rule.observe(lambda _: self._show_rule_fields(), names="value")
        self._show_rule_fields()
        self.run_button.on_click(lambda _: self.run())
        self._fill_features()
        super().__init__([W.HBox([self.baseline, self.current]), self.features, self.typing_note,
                          W.HBox([self.metric, self.threshold, self.rule, self.share, self.coefficient_threshold]),
                          W.HBox([self.monitor_name, self.raise_event]), self.run_button, self.out, self.plots])

    def _fill_features(self) -> None:
        """All columns are offered; those Azure ML v1's typing would leave out start unselected, with why.

        Selecting one anyway compares it (features= overrides the typing rules).
        """
        frame = self.frames[self.baseline.value]
        columns = [c for c in frame.columns if c not in self.ignore]
        try:
            self.left_out = excluded_columns(frame[columns]) if columns else {}
        except DriftError:
            self.left_out = {}  # the run reports what is wrong with the frame
        self.features.options = columns
        self.features.value = tuple(c for c in columns if c not in self.left_out)
        self.typing_note.value = "".join(
            f"<div>Not selected: <b>{html.escape(str(col))}</b>: {html.escape(why)}. Select it to compare it anyway.</div>"
            for col, why in self.left_out.items())

    def _show_rule_fields(self) -> None:
        """Show the share field with rule 'share' and the coefficient threshold with rule 'coefficient'."""
        self.share.layout.display = None if self.rule.value == "share" else "none"
        self.coefficient_threshold.layout.display = None if self.rule.value == "coefficient" else "none"

    def _reset_threshold(self, metric: str) -> None:
        """A new metric starts from its own default threshold (0.05 for a p-value, 0.2 for PSI, ...)."""
        self.threshold.value = DEFAULT_THRESHOLD if metric == DEFAULT else METRICS[metric][2]

    def options(self) -> dict:
        """detect()'s keyword arguments as the form sets them.

        The threshold applies to the kinds the chosen metric covers (chi2: categorical features only);
        the other kind keeps its own default metric and threshold.
        """
        metric = None if self.metric.value == DEFAULT else self.metric.value
        threshold = self.threshold.value
        if metric is None and threshold == DEFAULT_THRESHOLD:
            threshold = None  # Azure ML v2's defaults per metric
        return dict(features=list(self.features.value), metric=metric, threshold=threshold, rule=self.rule.value,
                    share=self.share.value, coefficient_threshold=self.coefficient_threshold.value)

    def run(self):
        """Score the target against the baseline (through a DriftMonitor if asked); show table and plots.

        Whatever stops the run is shown in the form (a button callback's exception would only reach the
        log console) and kept in ``self.error``; drift warnings (columns left out, too few rows) are shown too.
        """
        self.out.outputs = ()
        self.plots.outputs = ()
        self.result = self.run_result = self.error = None
        if not self.features.value:
            self.out.append_stdout("Choose at least one feature.\n")
            return None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                lines = self._score()
            except DriftError as exc:
                self.error = exc
                lines = [f"Cannot run: {exc}"]
            except Exception as exc:  # e.g. HttpResponseError while publishing the event
                self.error = exc
                lines = [f"Failed: {type(exc).__name__}: {exc}"]
        for w in caught:
            if issubclass(w.category, DriftWarning):
                lines.append(f"Warning: {w.message}")
            else:  # not the form's business: let it go where it would have gone
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.out.append_stdout("\n".join(lines) + "\n")
        if self.error is not None:
            self.result = self.run_result = None
            return None
        try:
            self._show_result()
        except Exception as exc:  # the verdict stands; say why the table or plots are missing
            self.error = exc
            self.out.append_stdout(f"Failed to show the table or plots: {type(exc).__name__}: {exc}\n")
        return self.result

    def _score(self) -> list[str]:
        """Run detect (or the monitor); return the lines that say what came out."""
        base = self.frames[self.baseline.value]
        new = self.frames[self.current.value]
        if self.raise_event.value and self.target is not None:
            monitor = DriftMonitor(self.target, self.monitor_name.value.strip(), baseline=base,
                                   base_dataset_id=self.baseline.value, **self.options())
            self.run_result = monitor.run(new, target_dataset_id=self.current.value)
            self.result = self.run_result.result
        else:
            self.result = detect(base, new, **self.options())
        lines = [self.result.verdict(), *self.result.notes()]
        if self.run_result is not None:
            lines.append(f"drift coefficient {self.run_result.data['driftCoefficient']:.3f}; " + (
                f"raised DatasetDriftDetected on the {self.run_result.published_to} (run {self.run_result.run_id})"
                if self.run_result.event else "no event raised"))
        return lines

    def _show_result(self) -> None:
        """The table under the verdict, and the plots."""
        shown = self.result.table[["feature", "kind", "metric", "value", "threshold", "drifted"]]
        self.table_html = _table_html(shown)
        self.out.append_display_data(W.HTML(self.table_html))
        from IPython.display import Image
        self.plots.append_display_data(Image(data=png(self.result.plot()), format="png"))
        if self.result.drifted_features:
            self.plots.append_display_data(Image(data=png(self.result.plot_features(top=3)), format="png"))


def _table_html(table: pd.DataFrame) -> str:
    """The per-feature table, drifted rows in red."""
    head = "".join(f"<th style='padding:2px 8px'>{html.escape(c)}</th>" for c in table.columns)
    rows = []
    for _, r in table.iterrows():
        style = " style='background:#f8d7da'" if r["drifted"] else ""
        cells = [r["feature"], r["kind"], r["metric"], f"{r['value']:.4f}", f"{r['threshold']:.3g}",
                 "yes" if r["drifted"] else "no"]
        rows.append(f"<tr{style}>" + "".join(f"<td style='padding:2px 8px'>{html.escape(str(c))}</td>"
                                             for c in cells) + "</tr>")
    return f"<table class='drift-table'><tr>{head}</tr>{''.join(rows)}</table>"

"""Lesson 04's drift monitor form, used in a real browser as a learner would."""

from __future__ import annotations

from playwright.sync_api import expect

from conftest import open_notebook, run_all, screenshot


def test_drift_form_shows_the_table_and_plots(page, jupyter_lab):
    open_notebook(page, jupyter_lab, "04_drift_retraining.ipynb")
    run_all(page, timeout_ms=300_000)
    form = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator("select[multiple]")).first
    form.scroll_into_view_if_needed()
    # The lesson ran the form once from the kernel: its table and plots are already on the page.
    expect(form.locator("table.drift-table")).to_contain_text("monthly_charges")
    # Now as a learner: two features, PSI with a threshold of 0.2, Run.
    form.locator("select[multiple]").select_option(["age", "monthly_charges"])
    form.locator(".widget-dropdown", has_text="Metric").locator("select").select_option("psi")
    threshold = form.locator(".widget-text", has_text="Threshold").locator("input")
    threshold.fill("0.2")
    threshold.press("Enter")
    form.locator("button", has_text="Run").click()
    outputs = form.locator(".widget-output")
    expect(outputs.first).to_contain_text("Drift: 1 of 2 features over their threshold (rule: any)")
    table = form.locator("table.drift-table")
    expect(table.locator("tr")).to_have_count(3)                  # header + the two features
    expect(table.locator("tr", has_text="monthly_charges")).to_contain_text("psi")
    expect(table.locator("tr", has_text="monthly_charges")).to_contain_text("yes")
    expect(table.locator("tr", has_text="age")).to_contain_text("no")
    # The plots: the bar chart and the distributions of the drifted feature, as images in the page.
    images = form.locator(".widget-output img")
    expect(images).to_have_count(2)
    images.first.scroll_into_view_if_needed()
    assert images.first.evaluate("img => img.naturalWidth") > 100
    screenshot(page, "lesson04-drift-form")

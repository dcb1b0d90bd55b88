"""Lesson 03's alert form, and the email it sends arriving in the mailbox, in a real browser."""

from __future__ import annotations

from playwright.sync_api import expect

from conftest import open_notebook, run_all, run_cell, screenshot


def test_alert_form_deploys_and_the_email_arrives(page, jupyter_lab):
    open_notebook(page, jupyter_lab, "03_logic_app_email_alerts.ipynb")
    run_all(page)
    form = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator("button", has_text="Deploy")).first
    form.scroll_into_view_if_needed()
    form.locator(".widget-text", has_text="Name").locator("input").fill("lesson03-browser")
    form.locator(".widget-text", has_text="Prefix").locator("input").fill("experiments/browser")
    form.locator(".widget-text", has_text="To").locator("input").fill("browser@example.com")
    form.locator("button", has_text="Build").click()
    expect(form).to_contain_text("lesson03-browser")          # the workflow's JSON is shown
    form.locator("button", has_text="Deploy").click()
    expect(form).to_contain_text("Deployed 'lesson03-browser': state Enabled")
    screenshot(page, "lesson03-alert-form-deployed")

    # A run completes in the matching experiment: the learner publishes its event and opens the mailbox.
    out = run_cell(page, "\n".join([
        'done = events.run_completed(topic=target.workspace_id, experiment_id="browser", experiment_name="churn",',
        '                            run_id="browser-run-1")',
        "target.sandbox.publish([done])",
        "target.wait_for(lambda: open_mailbox(target).messages(to='browser@example.com'))",
        "print(open_mailbox(target).messages(to='browser@example.com')[-1].render())",
        "open_mailbox(target)",
    ]))
    assert "browser@example.com" in out
    assert "experiments/browser/runs/browser-run-1" in out
    assert "lesson03-browser" in out                           # the link back to the run that sent it
    # The mailbox itself, as the page shows it: a table with the new message's row.
    last = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").last
    row = last.locator("table tr", has_text="browser@example.com")
    expect(row).to_contain_text("logic-apps@amlevents.sandbox")       # sender
    expect(row).to_contain_text("RunCompleted on experiments/browser/runs/browser-run-1")  # subject
    row.scroll_into_view_if_needed()
    screenshot(page, "lesson03-mailbox")

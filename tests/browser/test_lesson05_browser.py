"""Lesson 05's deployment-rule form, in a real browser: the tag conditions become the subscription's filters."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from conftest import open_notebook, run_all, run_cell, screenshot


def test_deployment_rule_form_previews_and_creates(page, jupyter_lab):
    open_notebook(page, jupyter_lab, "05_tag_based_deployment.ipynb")
    run_all(page, timeout_ms=300_000)
    out = run_cell(page, "from amlevents_kit.receiver import Receiver\nreceiver = Receiver().start()\nprint(receiver.url)")
    url = re.search(r"http://127\.0\.0\.1:\d+/api/events", out).group(0)

    form = page.locator(".jp-OutputArea-output .widget-vbox",
                        has=page.locator("button", has_text="Create subscription")).first
    form.scroll_into_view_if_needed()
    form.locator("textarea").fill("ncd = true\nteam = fraud")
    form.locator(".widget-text", has_text="Name").locator("input").fill("lesson05-browser")
    webhook = form.locator(".widget-text", has_text="Webhook").locator("input")
    webhook.fill(url)
    webhook.press("Enter")
    form.locator("button", has_text="Preview").click()
    expect(form).to_contain_text("data.modelTags.team")
    expect(form).to_contain_text("fraud")
    form.locator("button", has_text="Create subscription").click()
    expect(form).to_contain_text("lesson05-browser: Succeeded")
    form.locator(".widget-output").last.scroll_into_view_if_needed()
    screenshot(page, "lesson05-deployment-rule-form")

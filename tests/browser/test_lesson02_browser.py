"""Lesson 02's subscription form and live delivery monitor, used in a real browser."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from conftest import open_notebook, run_all, run_cell, screenshot


def test_subscription_form_creates_and_the_monitor_shows_the_delivery(page, jupyter_lab):
    open_notebook(page, jupyter_lab, "02_create_event_subscription.ipynb")
    run_all(page)
    # The lesson stopped its handler at the end: the learner starts a new one and a monitor of every delivery.
    out = run_cell(page, "receiver = Receiver().start()\nlive = DeliveryMonitor(target)\nprint(receiver.url)\nlive")
    url = re.search(r"http://127\.0\.0\.1:\d+/api/events", out).group(0)

    form = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator("button", has_text="Add advanced filter")).first
    form.scroll_into_view_if_needed()
    form.locator(".widget-text", has_text="Name").locator("input").fill("lesson02-browser")
    form.locator(".widget-text", has_text="Begins with").locator("input").fill("models/browser")
    endpoint = form.locator(".widget-text", has_text="Endpoint").locator("input")
    endpoint.fill(url)
    endpoint.press("Enter")
    # The az command follows every edit.
    expect(form).to_contain_text("--subject-begins-with models/browser")
    form.locator("button", has_text="Create").click()
    expect(form).to_contain_text("lesson02-browser: Succeeded")

    run_cell(page, 'from amlevents_kit import fire\n'
                   'fire(target, "ModelRegistered", modelName="browser", modelVersion="1", modelTags={"stage": "production"});')
    monitor = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator("button", has_text="Deliver due")).last
    monitor.scroll_into_view_if_needed()
    monitor.locator("button", has_text="Deliver due").click()
    row = monitor.locator("table.amlevents-deliveries tr", has_text="models/browser:1")
    expect(row).to_contain_text("delivered")
    expect(row).to_contain_text("lesson02-browser")
    screenshot(page, "lesson02-subscription-form-and-monitor")

"""Lesson 01's provider panel, used in a real browser as a learner would."""

from __future__ import annotations

from playwright.sync_api import expect

from conftest import open_notebook, run_all, screenshot


def test_providers_panel_registers_and_refreshes(page, jupyter_lab):
    open_notebook(page, jupyter_lab, "01_register_providers.ipynb")
    run_all(page)
    panel = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator("table.amlevents-providers")).first
    panel.scroll_into_view_if_needed()
    # The lesson registered both providers: after Refresh the table says so.
    panel.locator("button", has_text="Refresh").click()
    expect(panel.locator("table.amlevents-providers")).to_contain_text("Microsoft.EventGrid")
    rows = panel.locator("table.amlevents-providers tr")
    expect(rows.nth(1)).to_contain_text("Registered")
    expect(rows.nth(2)).to_contain_text("Registered")
    # Choose a provider in the dropdown and press Register: the panel answers in its output area.
    panel.locator(".widget-dropdown select").select_option("Microsoft.EventGrid")
    panel.locator("button", has_text="Register").click()
    expect(panel.locator(".widget-output")).to_contain_text("register Microsoft.EventGrid: Registered")
    screenshot(page, "lesson01-providers-panel")

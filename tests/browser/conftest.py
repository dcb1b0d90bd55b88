"""A real JupyterLab, driven by Playwright in Debian's Chromium (never a downloaded browser).

The lab serves a temporary copy of notebooks/ with isolated Jupyter folders and its own sandbox;
a failing test leaves a screenshot in logs/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
LOGS = ROOT / "logs"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a copy of the lessons; yields (base_url, token, root)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (./kit test does it)")
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns("src", ".ipynb_checkpoints"))
    dirs = {name: base / name for name in ("config", "runtime", "settings", "workspaces", "ipython", "sandbox")}
    for d in dirs.values():
        d.mkdir()
    notif = dirs["settings"] / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True)
    (notif / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # Render every cell: with JupyterLab's default windowing, cells scrolled out of view leave the DOM.
    tracker = dirs["settings"] / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
               JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]), JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
               IPYTHONDIR=str(dirs["ipython"]), AMLEVENTS_SANDBOX_DIR=str(dirs["sandbox"]))
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    LOGS.mkdir(exist_ok=True)
    log = open(LOGS / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"JupyterLab did not start; see {LOGS / 'jupyterlab.log'}")
        time.sleep(0.25)
    yield url, token, root
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        LOGS.mkdir(exist_ok=True)
        pg.screenshot(path=str(LOGS / f"failure-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep


KERNEL_READY = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

ALL_RUN = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
    const kernel = panel.sessionContext.session.kernel;
    return cells.length > 0 && cells.every(c => c.model.executionCount !== null) && kernel.status === 'idle';
}"""


def open_notebook(page, jupyter_lab, name: str) -> None:
    """Open a lesson and wait until its kernel is connected and idle.

    The toolbar says "idle" before a kernel exists (a run started then silently does nothing), so
    this asks the application itself (``--LabApp.expose_app_in_browser``).
    """
    url, token, _ = jupyter_lab
    # ?reset: start from an empty workspace, not the tabs an earlier test left open
    page.goto(f"{url}/lab/tree/{name}?reset&token={token}")
    page.wait_for_function("""name => {
        const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        return !!panel && !!panel.context && panel.context.path === name;
    }""", arg=name)
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    page.wait_for_function(KERNEL_READY)


def run_all(page, *, timeout_ms: int = 180_000) -> None:
    """Clear every stored output, Run All Cells, and wait until each code cell has run and the kernel is idle.

    Clearing first matters: the lessons are stored with outputs and execution counts, so without it
    "every cell has a count" would be true before anything ran.
    """
    page.wait_for_function(KERNEL_READY)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.wait_for_function("""() => window.jupyterapp.shell.currentWidget.content.widgets
        .every(c => c.model.type !== 'code' || c.model.executionCount === null)""")
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(ALL_RUN, timeout=timeout_ms)
    text = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").inner_text()
    assert "Error displaying widget" not in text
    errors = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [e for e in errors.all_inner_texts() if "Traceback" in e]
    assert not tracebacks, tracebacks[0][:2000]
    assert page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count() == 0


def run_cell(page, code: str, *, timeout_ms: int = 120_000) -> str:
    """Type a new cell at the end of the notebook and run it, as a learner would; returns its output text."""
    count = page.evaluate("""async code => {
        const app = window.jupyterapp, nb = app.shell.currentWidget.content;
        nb.activeCellIndex = nb.widgets.length - 1;
        await app.commands.execute('notebook:insert-cell-below');
        await app.commands.execute('notebook:change-cell-to-code');
        nb.activeCell.model.sharedModel.setSource(code);
        app.commands.execute('notebook:run-cell');
        return nb.widgets.length;
    }""", code)
    page.wait_for_function("""n => {
        const panel = window.jupyterapp.shell.currentWidget, cell = panel.content.widgets[n - 1];
        return cell.model.executionCount !== null && panel.sessionContext.session.kernel.status === 'idle';
    }""", arg=count, timeout=timeout_ms)
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(count - 1)
    cell.scroll_into_view_if_needed()
    text = cell.locator(".jp-OutputArea").inner_text()
    assert "Traceback" not in text, text[:2000]
    return text


def screenshot(page, name: str) -> Path:
    """Keep a picture of what the learner sees (logs/ is a CI artifact)."""
    LOGS.mkdir(exist_ok=True)
    path = LOGS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path

"""The flow panel in a real JupyterLab, served on loopback and driven by headless Chromium.

The breast cancer example runs from the Run menu, ``%flow sidebar`` moves
the panel into JupyterLab's right sidebar, and a click on a stage shows its
details there. The screenshot is kept in test-artifacts/ for people to look at.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, launch_chromium

pytestmark = pytest.mark.kernel

CHROMIUM = shutil.which("chromium")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it "
    "when run as root; otherwise: sudo apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with its own settings, kernels and runtime folders."""
    pytest.importorskip("jupyterlab")
    base = tmp_path_factory.mktemp("lab")

    root = base / "root"
    root.mkdir()
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No news or update toasts over the widgets.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "config"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "IPYTHONDIR": str(base / "ipython")}
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        f"--LabApp.user_settings_dir={base / 'settings'}", "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")

    log = (base / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited: {(base / 'server.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer within 90 s")
            time.sleep(0.2)
    yield {"url": url, "token": token, "root": root}

    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    log.close()


@pytest.fixture
def page(lab):
    """A Chromium page that may reach only the local server, failing on page errors."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with playwright_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 950})
            context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"),
                          lambda route: route.abort())
            tab = context.new_page()
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}")
                   or dialog.dismiss())
            yield tab
        finally:
            browser.close()
    assert not errors, errors


def open_notebook(page, lab, name: str):
    from playwright.sync_api import expect

    workspace = secrets.token_hex(4)
    page.goto(f"{lab['url']}/lab/workspaces/{workspace}/tree/{name}?token={lab['token']}")
    kernel = page.locator(f'#jp-main-statusbar .jp-StatusBar-TextItem'
                          f'[title="Change kernel for {name}"]')
    expect(kernel).to_have_text(re.compile(r"\(ipykernel\) \| Idle$"), timeout=90_000)
    return kernel


def run_all(page, kernel, cells: int) -> None:
    from playwright.sync_api import expect

    page.locator('.lm-MenuBar-item:has-text("Run")').click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    page.wait_for_function(
        """(count) => {
            const prompts = [...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')];
            const done = prompts.filter((p) => /\\[\\d+\\]/.test(p.textContent));
            return done.length >= count;
        }""", arg=cells, timeout=240_000)
    expect(kernel).to_have_text(re.compile(r"Idle$"), timeout=240_000)


def add_cell_and_run(page, source: str) -> None:
    page.locator(".jp-Notebook .jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.insert_text(source)
    page.keyboard.press("Shift+Enter")


@needs_browser
def test_sidebar_shows_breast_cancer_flow(lab, page):
    """Run the example, open the sidebar, click a stage, and keep a screenshot."""
    from playwright.sync_api import expect

    shutil.copy(EXAMPLES / "breast_cancer.ipynb", lab["root"] / "breast_cancer.ipynb")
    kernel = open_notebook(page, lab, "breast_cancer.ipynb")
    run_all(page, kernel, cells=6)
    add_cell_and_run(page, "%flow sidebar")

    sidebar = page.locator("#jp-right-stack .flowrec-sidebar")
    expect(sidebar).to_be_visible(timeout=60_000)
    for stage in ("load", "split_scale", "train", "evaluate"):
        expect(sidebar.locator(f'.flowrec-node[data-key="{stage}"]')).to_be_visible()
    # The inline fallback turned into one line once JupyterLab sent its lab_ready event.
    expect(page.locator(".jp-Notebook .flowrec-sidebar-note").last).to_contain_text(
        "the flow panel is in the right sidebar", timeout=30_000)

    # Widen the sidebar as a user would, by dragging its edge.
    edge = page.locator("#jp-right-stack").bounding_box()
    page.mouse.move(edge["x"] - 2, edge["y"] + 300)
    page.mouse.down()
    page.mouse.move(edge["x"] - 260, edge["y"] + 300, steps=8)
    page.mouse.up()
    sidebar.locator('.flowrec-node[data-key="train"]').click()
    details = sidebar.locator(".flowrec-details")
    expect(details).to_contain_text("train", timeout=30_000)
    expect(details).to_contain_text("LogisticRegression")
    expect(details.locator("table").nth(1)).to_contain_text("X_train")

    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "sidebar-breast-cancer.png"))

    # The panel follows new cells by itself, and names from the notebook stay text.
    add_cell_and_run(page, "%%flow_stage report\nglobals()['<img src=x onerror=alert(1)>'] = "
                     "accuracy")
    node = sidebar.locator('.flowrec-node[data-key="report"]')
    expect(node).to_be_visible(timeout=60_000)
    node.click()
    expect(details).to_contain_text("<img src=x onerror=alert(1)>", timeout=30_000)
    assert page.locator('img[src="x"]').count() == 0

    # Closing the sidebar, then asking again, opens the same single tab again.
    tab = page.locator('.jp-SideBar.jp-mod-right .lm-TabBar-tab[title^="flowrec"]')
    expect(tab).to_have_attribute("title", "flowrec: model flow of breast_cancer.ipynb")
    tab.click()
    expect(sidebar).to_be_hidden(timeout=30_000)
    add_cell_and_run(page, "%flow sidebar")
    expect(sidebar).to_be_visible(timeout=60_000)
    assert tab.count() == 1

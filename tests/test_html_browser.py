"""The HTML report of the non-reproducible example, opened in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import EXAMPLES, REPO, launch_chromium

pytestmark = pytest.mark.kernel

CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                    "(make test installs it when run as root)")
def test_report_opens_in_chromium(tmp_path):
    """The page renders offline, shows the verdicts, and is kept as a screenshot."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    report = tmp_path / "not_reproducible.html"
    completed = subprocess.run(
        [sys.executable, "-m", "flowrec", "check", str(EXAMPLES / "not_reproducible.ipynb"),
         "--html", str(report)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 1, completed.stderr
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri())
            assert page.title() == "flowrec check: not_reproducible.ipynb"
            assert "not reproduced" in page.inner_text(".summary-line")
            assert "first divergence: sample (cell 4)" in page.inner_text(".summary-line")
            table = page.inner_text("table")
            assert "sample" in table
            assert "diverged (root)" in table
            assert "unseeded random generator: np.random.normal" in table
            page.screenshot(path=str(artifacts / "html-report.png"), full_page=True)
        finally:
            browser.close()
    assert all(url.startswith("file://") for url in requests)

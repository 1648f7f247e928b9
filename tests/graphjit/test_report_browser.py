"""The report page in a real headless browser (Playwright driving the system's Chromium):
it renders without console errors, shows every kernel's name, and the hostile op names
in it stay text. Skipped, with the reason, where Playwright or Chromium is missing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.report_check import HOSTILE_OP, hostile_mlp

# Playwright's own browser download needs the network; CI installs Debian's chromium.
CHROMIUM = next((path for path in map(shutil.which, ("chromium", "chromium-browser",
                                                     "google-chrome")) if path), None)


def test_the_report_renders_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the playwright package is not installed")
    if CHROMIUM is None:
        pytest.skip("no Chromium on the PATH (apt-get install chromium)")
    fn = tf.compile(hostile_mlp())
    path = tmp_path / "report.html"
    fn.report(path, np.ones((8, 12), np.float32), repeat=2)
    problems = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])  # (root in CI)
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type in ("error", "warning")
                    and problems.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: not r.url.startswith("file:")
                    and problems.append(f"request: {r.url}"))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            for step in fn.kernels:
                cell = page.locator("td.kernel", has_text=step.name).first
                assert cell.is_visible(), step.name
                assert cell.bounding_box()["width"] > 0
            assert page.evaluate("window.pwned") is None  # no name ran as code
            assert HOSTILE_OP in page.inner_text("body")
            assert page.locator("svg.timeline rect").count() >= len(fn.kernels)
            summary = page.locator("details summary").first
            ir = page.locator("details pre").first
            assert not ir.is_visible()
            summary.click()
            assert ir.is_visible() and "kernel " in ir.inner_text()
        finally:
            browser.close()
    assert problems == []

"""Headless Chromium for the page tests (the viewer's and the app's): requirements, the driver, waiting.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``pip install selenium``
(``NEEDS_CHROMIUM``); tests of the interactive model also need model-viewer
(``npm ci --prefix dreamlift/web``; ``NEEDS_BROWSER`` is both), and tests of the splat
view Spark (``NEEDS_SPLATS``, the same install). They are skipped with the reason otherwise.
"""

from __future__ import annotations

import shutil
import time

import pytest

from dreamlift.web import modules

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
BROWSER_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--use-angle=swiftshader",  # software WebGL: no GPU on test machines
    "--enable-unsafe-swiftshader",
    "--window-size=900,1000",
)
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
)
NEEDS_MODEL_VIEWER = pytest.mark.skipif(
    modules.model_viewer_script() is None, reason=f"model-viewer is not installed: run {modules.INSTALL_COMMAND}"
)
NEEDS_BROWSER = [NEEDS_CHROMIUM, NEEDS_MODEL_VIEWER]
NEEDS_SPLATS = pytest.mark.skipif(modules.splat_modules() is None, reason=f"the splat view (Spark) is not installed: run {modules.INSTALL_COMMAND}")


def start_browser(profile):
    """A headless Chromium driven by selenium (skips the test when selenium is missing); ``profile``: a fresh folder."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*BROWSER_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def wait_for(driver, script: str, timeout: float = 90.0):
    """Run ``script`` until it returns something truthy (returned), or the last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def severe_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]

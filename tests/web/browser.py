"""Headless Chromium for the page tests (the viewer's and the app's): requirements, the driver, waiting.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``pip install selenium``
(``NEEDS_CHROMIUM``); tests of the interactive model also need model-viewer
(``npm ci --prefix dreamlift/web``; ``NEEDS_BROWSER`` is both), and tests of the splat
view Spark (``NEEDS_SPLATS``, the same install). They are skipped with the reason otherwise.
"""

from __future__ import annotations

import io
import shutil
import time

import numpy as np
import pytest
from PIL import Image

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


SETTLED = "const e = document.querySelector('{0}'); return e && e.dataset.state !== 'loading' && e.dataset.state;"
"""A script for :func:`wait_for`: the ``data-state`` of the element at selector ``{0}`` once it is not "loading"."""


def resources(driver) -> list[str]:
    """The URLs the page has loaded."""
    return driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")


def canvas_shot(driver) -> np.ndarray:
    """The splat canvas (``#splats``) as seen on screen, ``(H, W, 3)`` floats in 0..255."""
    canvas = driver.find_element("id", "splats")
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("RGB")).astype(float)


def assert_two_gaussians(shot: np.ndarray) -> None:
    """``shot`` (:func:`canvas_shot`) shows :func:`viewer_runs.make_splat_run`'s Gaussians from the front."""
    height, width, _ = shot.shape
    red = (shot[..., 0] > 150) & (shot[..., 1] < 110) & (shot[..., 2] < 110)
    blue = (shot[..., 2] > 150) & (shot[..., 0] < 110)
    centre = shot[height // 2 - 5 : height // 2 + 5, width // 2 - 5 : width // 2 + 5].reshape(-1, 3).mean(0)
    assert centre[0] > 180 and centre[1] < 90 and centre[2] < 90, centre  # the red Gaussian in front of the camera
    for corner in (shot[:20, :20], shot[:20, -20:], shot[-20:, :20], shot[-20:, -20:]):
        assert corner.min() > 245  # the white background, beyond the Gaussians' reach
    # deep red within about 0.9 sigma of the red one's centre (alpha > 0.65 over white): some 4 % of the view
    assert 0.02 < red.mean() < 0.1 and 0.0005 < blue.mean() < 0.01 and red.mean() > 10 * blue.mean()
    rows, cols = np.nonzero(blue)
    red_rows, red_cols = np.nonzero(red)
    assert cols.mean() > red_cols.mean() + 0.1 * width  # seen from the front (+Z), +X is to the right
    assert abs(rows.mean() - red_rows.mean()) < 0.05 * height  # both on the y = 0 line

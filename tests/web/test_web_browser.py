"""The viewer page in headless Chromium: the model loads, nothing errs, the canvas is not blank.

Needs Debian's ``chromium`` and ``chromium-driver``, ``pip install selenium``, and
model-viewer (``npm ci --prefix dreamlift/web``); skipped with the reason otherwise.
"""

from __future__ import annotations

import io
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from dreamlift.web import modules
from dreamlift.web.server import ViewerServer

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

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"),
    pytest.mark.skipif(
        not (modules.node_modules() / modules.MODEL_VIEWER).is_file(), reason=f"model-viewer is not installed: run {modules.INSTALL_COMMAND}"
    ),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*BROWSER_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, script: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def _errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_model_loads_and_shows_in_chromium(browser, text_run):
    with ViewerServer([text_run]) as server:
        browser.get(server.url)
        state = _wait(browser, "const m = document.querySelector('model-viewer'); return m && m.dataset.state !== 'loading' && m.dataset.state;")
        assert state == "loaded"  # viewer.js saw model-viewer's load event
        assert browser.execute_script("return document.querySelector('model-viewer').loaded") is True
        assert _errors(browser) == []

        time.sleep(1.0)  # let a few frames render
        viewer = browser.find_element("css selector", "model-viewer")
        shot = np.asarray(Image.open(io.BytesIO(viewer.screenshot_as_png)).convert("RGB")).astype(float)
        assert shot.std() > 20.0  # not blank
        red = (shot[..., 0] > 120) & (shot[..., 0] > shot[..., 1] + 60) & (shot[..., 0] > shot[..., 2] + 60)
        assert 0.05 < red.mean() < 0.95  # the red model covers part of the view

        video_state = _wait(browser, "const v = document.querySelector('video'); return v.readyState >= 2 || v.error ? [v.readyState, v.error && v.error.code] : null;", 30)
        assert video_state[1] is None and video_state[0] >= 2  # the H.264 turntable decodes

        origin = server.url.rstrip("/")
        resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(name.startswith(origin) for name in resources)  # nothing fetched from elsewhere
        assert _errors(browser) == []


def test_gallery_and_image_run_pages_have_no_errors(browser, gallery):
    with ViewerServer([gallery]) as server:
        browser.get(server.url)
        assert len(browser.find_elements("css selector", "a.card")) == 2
        browser.get(server.url + "runs/from-image/")
        state = _wait(browser, "const m = document.querySelector('model-viewer'); return m && m.dataset.state !== 'loading' && m.dataset.state;")
        assert state == "loaded"
        assert browser.execute_script("const i = document.querySelector('img.input'); return i.complete && i.naturalWidth") == 32
        assert _errors(browser) == []


def test_a_broken_model_is_reported_on_the_page(browser, tmp_path):
    from viewer_runs import make_run

    run = make_run(tmp_path / "broken", video=False)
    (run / "mesh.glb").write_bytes(b"glTF" + b"\0" * 40)
    with ViewerServer([run]) as server:
        browser.get(server.url)
        state = _wait(browser, "const m = document.querySelector('model-viewer'); return m && m.dataset.state !== 'loading' && m.dataset.state;")
        assert state == "error"
        assert "could not be shown" in browser.find_element("id", "model-status").text
        assert any("dreamlift: model failed to load" in entry["message"] for entry in _errors(browser))

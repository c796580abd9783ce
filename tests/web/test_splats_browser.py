"""A Gaussian run's page in headless Chromium: Spark draws splats.ply where it is installed, the page says so where
it is not, and the mesh and the rest work either way.

The run's ``splats.ply`` holds two known Gaussians (:func:`viewer_runs.make_splat_run`): a large red one at the
origin and a small blue one at +X. Needs what :mod:`browser` says; skipped with the reason otherwise.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from browser import NEEDS_BROWSER, NEEDS_SPLATS, severe_errors, wait_for
from PIL import Image

from dreamlift.web import modules
from dreamlift.web.server import ViewerServer

pytestmark = NEEDS_BROWSER

SETTLED = "const e = document.querySelector('{0}'); return e && e.dataset.state !== 'loading' && e.dataset.state;"


def resources(browser) -> list[str]:
    return browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")


def canvas_shot(browser) -> np.ndarray:
    """The splat canvas as seen on screen, ``(H, W, 3)`` floats in 0..255."""
    canvas = browser.find_element("id", "splats")
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("RGB")).astype(float)


@NEEDS_SPLATS
def test_spark_draws_the_gaussians_where_splats_ply_puts_them(browser, splat_run):
    with ViewerServer([splat_run]) as server:
        browser.get(server.url)
        browser.execute_script("document.getElementById('splats').scrollIntoView()")
        assert wait_for(browser, SETTLED.format("#splats")) == "loaded", browser.find_element("id", "splats-status").text
        assert browser.find_element("id", "splats-status").text.startswith("2 Gaussians.")
        time.sleep(1.0)  # let the sort settle and a few frames render
        shot = canvas_shot(browser)
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

        assert wait_for(browser, SETTLED.format("model-viewer")) == "loaded"  # the mesh beside them
        origin = server.url.rstrip("/")
        loaded = resources(browser)
        assert all(name.startswith(origin) for name in loaded)  # nothing fetched from elsewhere
        assert f"{origin}/vendor/splats/spark.module.min.js" in loaded  # (splats.ply is fetched by Spark's worker: not listed here)
        assert severe_errors(browser) == []


@NEEDS_SPLATS
def test_a_damaged_splats_ply_is_reported_on_the_page(browser, splat_run, tmp_path):
    import shutil

    run = shutil.copytree(splat_run, tmp_path / "damaged")
    (run / "splats.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 5\nend_header\n")
    with ViewerServer([run]) as server:
        browser.get(server.url)
        assert wait_for(browser, SETTLED.format("#splats"), 60) == "error"
        assert browser.find_element("id", "splats-status").text.startswith("The splats could not be shown")
        assert any("dreamlift: splats failed to load" in entry["message"] for entry in severe_errors(browser))


@pytest.fixture
def model_viewer_alone(tmp_path, monkeypatch):
    """``$DREAMLIFT_WEB_MODULES`` holding the real <model-viewer> (linked) and no Spark: an install from before it."""
    script = tmp_path / "node_modules" / modules.MODEL_VIEWER
    script.parent.mkdir(parents=True)
    script.symlink_to(modules.model_viewer_script())
    monkeypatch.setenv(modules.ENV_VAR, str(tmp_path / "node_modules"))
    assert modules.splat_modules() is None


def test_without_spark_the_page_says_so_and_the_mesh_and_the_rest_still_work(browser, splat_run, model_viewer_alone):
    with ViewerServer([splat_run]) as server:
        browser.get(server.url)
        note = browser.find_element("id", "splats-missing")
        assert note.is_displayed() and note.text.startswith(f"Splat view not installed: run {modules.INSTALL_HINT} once.")
        assert browser.find_elements("css selector", "canvas") == []
        assert wait_for(browser, SETTLED.format("model-viewer")) == "loaded"
        links = [a.text for a in browser.find_elements("css selector", "ul.downloads a")]
        assert {"mesh.glb", "splats.ply", "config.json"} <= set(links)
        assert len(browser.find_elements("css selector", "svg.curve")) == 3
        origin = server.url.rstrip("/")
        loaded = resources(browser)
        assert all(name.startswith(origin) for name in loaded) and not any("/vendor/splats/" in name or "splats.js" in name for name in loaded)
        assert severe_errors(browser) == []

"""A Gaussian run's page in headless Chromium: Spark draws splats.ply where it is installed, the page says so where
it is not, and the mesh and the rest work either way.

The run's ``splats.ply`` holds two known Gaussians (:func:`viewer_runs.make_splat_run`): a large red one at the
origin and a small blue one at +X. Needs what :mod:`browser` says; skipped with the reason otherwise.
"""

from __future__ import annotations

import time

from browser import NEEDS_BROWSER, NEEDS_SPLATS, SETTLED, assert_two_gaussians, canvas_shot, resources, severe_errors, wait_for

from dreamlift.web import modules
from dreamlift.web.server import ViewerServer

pytestmark = NEEDS_BROWSER


@NEEDS_SPLATS
def test_spark_draws_the_gaussians_where_splats_ply_puts_them(browser, splat_run):
    with ViewerServer([splat_run]) as server:
        browser.get(server.url)
        browser.execute_script("document.getElementById('splats').scrollIntoView()")
        assert wait_for(browser, SETTLED.format("#splats")) == "loaded", browser.find_element("id", "splats-status").text
        assert browser.find_element("id", "splats-status").text.startswith("2 Gaussians.")
        time.sleep(1.0)  # let the sort settle and a few frames render
        assert_two_gaussians(canvas_shot(browser))

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
